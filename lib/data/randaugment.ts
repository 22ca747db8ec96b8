// RandAugment (Cubuk et al. 2020) as torchvision has it: N ops drawn uniformly from 14 (Identity
// included), each at the one magnitude M of 31 bins (0..30), a random sign for the signed ops.
import { applyOp, type Op } from './autoaugment.js';
import type { Image } from './transforms.js';
import type { Rng } from './rng.js';
import type { AugmentKernels } from './augment_js.js';
import { NATIVE_KERNELS } from './augment_native.js';

const OPS: ReadonlyArray<Op | 'Identity'> = ['Identity', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness',
  'Color', 'Contrast', 'Sharpness', 'Posterize', 'Solarize', 'AutoContrast', 'Equalize'];

/** The largest magnitude (torchvision's num_magnitude_bins − 1). */
export const RANDAUGMENT_MAX_M = 30;

export function randAugment(img: Image, rng: Rng, n: number, m: number, kernels: AugmentKernels = NATIVE_KERNELS): Image {
  for (let i = 0; i < n; i++) {
    const op = OPS[rng.int(OPS.length)]!;
    if (op !== 'Identity') img = applyOp(img, op, m, rng, RANDAUGMENT_MAX_M, kernels);
  }
  return img;
}
