// AutoAugment's ImageNet policy (Cubuk et al. 2019) with torchvision's magnitude tables: pick one
// of 25 sub-policies per image, apply each of its two ops with its probability.
import type { Image } from './transforms.js';
import type { Rng } from './rng.js';
import { blendTable, type AugmentKernels } from './augment_js.js';
import { NATIVE_KERNELS } from './augment_native.js';

export type Op = 'ShearX' | 'ShearY' | 'TranslateX' | 'TranslateY' | 'Rotate' | 'Brightness' | 'Color' | 'Contrast'
  | 'Sharpness' | 'Posterize' | 'Solarize' | 'AutoContrast' | 'Equalize' | 'Invert';
type Step = [Op, number, number];

const IMAGENET: Array<[Step, Step]> = [
  [['Posterize', 0.4, 8], ['Rotate', 0.6, 9]], [['Solarize', 0.6, 5], ['AutoContrast', 0.6, 0]],
  [['Equalize', 0.8, 0], ['Equalize', 0.6, 0]], [['Posterize', 0.6, 7], ['Posterize', 0.6, 6]],
  [['Equalize', 0.4, 0], ['Solarize', 0.2, 4]], [['Equalize', 0.4, 0], ['Rotate', 0.8, 8]],
  [['Solarize', 0.6, 3], ['Equalize', 0.6, 0]], [['Posterize', 0.8, 5], ['Equalize', 1.0, 0]],
  [['Rotate', 0.2, 3], ['Solarize', 0.6, 8]], [['Equalize', 0.6, 0], ['Posterize', 0.4, 6]],
  [['Rotate', 0.8, 8], ['Color', 0.4, 0]], [['Rotate', 0.4, 9], ['Equalize', 0.6, 0]],
  [['Equalize', 0.0, 0], ['Equalize', 0.8, 0]], [['Invert', 0.6, 0], ['Equalize', 1.0, 0]],
  [['Color', 0.6, 4], ['Contrast', 1.0, 8]], [['Rotate', 0.8, 8], ['Color', 1.0, 2]],
  [['Color', 0.8, 8], ['Solarize', 0.8, 7]], [['Sharpness', 0.4, 7], ['Invert', 0.6, 0]],
  [['ShearX', 0.6, 5], ['Equalize', 1.0, 0]], [['Color', 0.4, 0], ['Equalize', 0.6, 0]],
  [['Equalize', 0.4, 0], ['Solarize', 0.2, 4]], [['Solarize', 0.6, 5], ['AutoContrast', 0.6, 0]],
  [['Invert', 0.6, 0], ['Equalize', 1.0, 0]], [['Color', 0.6, 4], ['Contrast', 1.0, 8]],
  [['Equalize', 0.8, 0], ['Equalize', 0.6, 0]],
];

/** One op at magnitude bin `mag` of `top` (torchvision's tables: AutoAugment's bins 0..9,
 * RandAugment's 0..30), with a random sign for the signed ops. `kernels` run the pixels (native by
 * default; augment_js.ts's JS_KERNELS give the same bytes). */
export function applyOp(img: Image, op: Op, mag: number, rng: Rng, top = 9, kernels: AugmentKernels = NATIVE_KERNELS): Image {
  const sign = rng.bool() ? -1 : 1;
  const lin = (hi: number): number => (hi * mag) / top;
  const k = kernels;
  switch (op) {
    case 'ShearX': return k.affine(img, 1, sign * lin(0.3), 0, 1, 0, 0);
    case 'ShearY': return k.affine(img, 1, 0, sign * lin(0.3), 1, 0, 0);
    case 'TranslateX': return k.affine(img, 1, 0, 0, 1, sign * lin((150 / 331) * img.width), 0);
    case 'TranslateY': return k.affine(img, 1, 0, 0, 1, 0, sign * lin((150 / 331) * img.height));
    case 'Rotate': {
      // cos and sin here, in V8's libm, whichever kernels run the warp.
      const t = (sign * lin(30) * Math.PI) / 180;
      return k.affine(img, Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t), 0, 0);
    }
    case 'Brightness': return k.lut(img, blendTable(0, 1 + sign * lin(0.9)));
    case 'Color': return k.color(img, 1 + sign * lin(0.9));
    case 'Contrast': return k.contrast(img, 1 + sign * lin(0.9));
    case 'Sharpness': return k.sharpness(img, 1 + sign * lin(0.9));
    case 'Posterize': {
      const bits = 8 - Math.round(mag / (top / 4)), mask = (0xff << (8 - bits)) & 0xff;
      return k.lut(img, table((v) => v & mask));
    }
    case 'Solarize': {
      const threshold = 255 - lin(255);
      return k.lut(img, table((v) => (v >= threshold ? 255 - v : v)));
    }
    case 'AutoContrast': return k.autoContrast(img);
    case 'Equalize': return k.equalize(img);
    case 'Invert': return k.lut(img, table((v) => 255 - v));
  }
}

// The point ops go through a 256-entry table (the same arithmetic per value, once per value
// instead of once per pixel): the loader runs them on every training image.
function table(f: (v: number) => number): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = f(v);
  return lut;
}

export function autoAugment(img: Image, rng: Rng, kernels: AugmentKernels = NATIVE_KERNELS): Image {
  const policy = IMAGENET[rng.int(IMAGENET.length)]!;
  for (const [op, p, mag] of policy) if (rng.next() < p) img = applyOp(img, op, mag, rng, 9, kernels);
  return img;
}
