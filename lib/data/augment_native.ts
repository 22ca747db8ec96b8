// The per-image kernels through the addon (native/cpu/augment.cc), byte for byte the JavaScript
// ones (augment_js.ts): a loader worker calls them on its own thread, 4–8× faster (bench/RESULTS.md,
// issue 18 profile).
import { addon, type AugmentOpName } from '../native.js';
import { JS_KERNELS, type AugmentKernels } from './augment_js.js';
import type { Image } from './transforms.js';

const NO_PARAMS: number[] = [];

function run(op: AugmentOpName, img: Image, params: readonly number[] | Uint8Array = NO_PARAMS): Image {
  return { ...img, data: addon.imageAugment(op, img.data, img.height, img.width, img.channels, params) };
}

// color and contrast take a grey of the first three bytes: the native ones only for 1 or 3 channels.
const greyable = (img: Image): boolean => img.channels === 1 || img.channels === 3;

export const NATIVE_KERNELS: AugmentKernels = {
  flip: (img) => run('flip', img),
  lut: (img, table) => run('lut', img, table),
  affine: (img, a, b, c, d, tx, ty) => run('affine', img, [a, b, c, d, tx, ty]),
  color: (img, f) => (greyable(img) ? run('color', img, [f]) : JS_KERNELS.color(img, f)),
  contrast: (img, f) => (greyable(img) ? run('contrast', img, [f]) : JS_KERNELS.contrast(img, f)),
  sharpness: (img, f) => run('sharpness', img, [f]),
  equalize: (img) => run('equalize', img),
  autoContrast: (img) => run('autoContrast', img),
};
