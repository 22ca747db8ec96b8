// EfficientNet's input pipeline for image files, as transform lists: training takes a random-
// resized crop at the model's resolution (area 8–100 %, aspect 3/4–4/3), a horizontal flip and
// optionally AutoAugment (ImageNet policy) or RandAugment; evaluation the reference's centre crop
// (crop padding 32) resized bicubically to the resolution.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { EFFICIENTNET_PARAMS, type EfficientNetName } from '../models/efficientnet_config.js';
import type { TransformSpec } from './transforms.js';

export const AUGMENTS = ['none', 'basic', 'autoaugment', 'randaugment'] as const;
export type Augment = (typeof AUGMENTS)[number];

/** The resolution a model was trained and evaluated at (B0 224 … B7 600, B8 672, L2 800). */
export function defaultResolution(model: string): number {
  const p = EFFICIENTNET_PARAMS[model as EfficientNetName];
  if (!p) throw new AdvpropError('ERR_ARG', `defaultResolution: unknown model ${describeValue(model)} (known: ${Object.keys(EFFICIENTNET_PARAMS).join(', ')})`);
  return p[2];
}

export function imageTrainTransforms(augment: Augment, resolution: number, randAugment = { n: 2, m: 9 }): TransformSpec[] {
  if (augment === 'none') return imageEvalTransforms(resolution);
  const base: TransformSpec[] = [{ name: 'randomResizedCrop', size: resolution }, { name: 'hflip' }];
  if (augment === 'autoaugment') base.push({ name: 'autoAugment' });
  if (augment === 'randaugment') base.push({ name: 'randAugment', n: randAugment.n, m: randAugment.m });
  return base;
}

export function imageEvalTransforms(resolution: number): TransformSpec[] {
  return [{ name: 'centerCropResize', size: resolution, padding: 32 }];
}
