// AutoAugment's ImageNet policy (Cubuk et al. 2019) with torchvision's magnitude tables: pick one
// of 25 sub-policies per image, apply each of its two ops with its probability.
import type { Image } from './transforms.js';
import type { Rng } from './rng.js';

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

const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
const mapPixels = (img: Image, f: (v: number) => number): Image => ({ ...img, data: img.data.map(f) });

function grey(img: Image): Float64Array {
  const n = img.height * img.width, c = img.channels, g = new Float64Array(n);
  for (let i = 0; i < n; i++)
    g[i] = c === 1 ? img.data[i]! : 0.299 * img.data[3 * i]! + 0.587 * img.data[3 * i + 1]! + 0.114 * img.data[3 * i + 2]!;
  return g;
}

/** out = other + factor·(img − other), other given per pixel (PIL ImageEnhance). */
function blend(img: Image, other: (pixel: number, ch: number) => number, factor: number): Image {
  const c = img.channels, out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const o = other(Math.floor(i / c), i % c);
    out[i] = clamp255(o + factor * (img.data[i]! - o));
  }
  return { ...img, data: out };
}

/** Inverse-mapped affine warp with nearest sampling and black fill: src = A·(dst − centre) + centre. */
function affine(img: Image, a: number, b: number, c: number, d: number, tx: number, ty: number): Image {
  const { height: h, width: w, channels: ch } = img, out = new Uint8Array(img.data.length);
  const cx = (w - 1) / 2, cy = (h - 1) / 2;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const sx = Math.round(a * (x - cx) + b * (y - cy) + cx + tx), sy = Math.round(c * (x - cx) + d * (y - cy) + cy + ty);
      if (sx < 0 || sy < 0 || sx >= w || sy >= h) continue;
      for (let k = 0; k < ch; k++) out[(y * w + x) * ch + k] = img.data[(sy * w + sx) * ch + k]!;
    }
  return { ...img, data: out };
}

function perChannelLut(img: Image, makeLut: (hist: Int32Array) => Uint8Array | null): Image {
  const c = img.channels, out = Uint8Array.from(img.data);
  for (let k = 0; k < c; k++) {
    const hist = new Int32Array(256);
    for (let i = k; i < img.data.length; i += c) hist[img.data[i]!]!++;
    const lut = makeLut(hist);
    if (lut) for (let i = k; i < img.data.length; i += c) out[i] = lut[img.data[i]!]!;
  }
  return { ...img, data: out };
}

function equalize(hist: Int32Array): Uint8Array | null {
  let last = 255;
  while (last > 0 && hist[last] === 0) last--;
  const total = hist.reduce((a, b) => a + b, 0);
  const step = Math.floor((total - hist[last]!) / 255);
  if (step === 0) return null;
  const lut = new Uint8Array(256);
  let n = Math.floor(step / 2);
  for (let i = 0; i < 256; i++) { lut[i] = Math.min(255, Math.floor(n / step)); n += hist[i]!; }
  return lut;
}

function autoContrast(hist: Int32Array): Uint8Array | null {
  let lo = 0, hi = 255;
  while (lo < 255 && hist[lo] === 0) lo++;
  while (hi > 0 && hist[hi] === 0) hi--;
  if (hi <= lo) return null;
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = clamp255(((i - lo) * 255) / (hi - lo));
  return lut;
}

function sharpness(img: Image, factor: number): Image {
  const { height: h, width: w, channels: c } = img;
  const smooth = Uint8Array.from(img.data); // borders keep the original pixels, as PIL does
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++)
      for (let k = 0; k < c; k++) {
        let s = 4 * img.data[(y * w + x) * c + k]!;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += img.data[((y + dy) * w + x + dx) * c + k]!;
        smooth[(y * w + x) * c + k] = clamp255(s / 13);
      }
  return blend(img, (p, k) => smooth[p * c + k]!, factor);
}

/** One op at magnitude bin `mag` of `top` (torchvision's tables: AutoAugment's bins 0..9,
 * RandAugment's 0..30), with a random sign for the signed ops. */
export function applyOp(img: Image, op: Op, mag: number, rng: Rng, top = 9): Image {
  const sign = rng.bool() ? -1 : 1;
  const lin = (hi: number): number => (hi * mag) / top;
  switch (op) {
    case 'ShearX': return affine(img, 1, sign * lin(0.3), 0, 1, 0, 0);
    case 'ShearY': return affine(img, 1, 0, sign * lin(0.3), 1, 0, 0);
    case 'TranslateX': return affine(img, 1, 0, 0, 1, sign * lin((150 / 331) * img.width), 0);
    case 'TranslateY': return affine(img, 1, 0, 0, 1, 0, sign * lin((150 / 331) * img.height));
    case 'Rotate': {
      const t = (sign * lin(30) * Math.PI) / 180;
      return affine(img, Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t), 0, 0);
    }
    case 'Brightness': return blend(img, () => 0, 1 + sign * lin(0.9));
    case 'Color': {
      const g = grey(img);
      return blend(img, (p) => g[p]!, 1 + sign * lin(0.9));
    }
    case 'Contrast': {
      const g = grey(img), mean = Math.round(g.reduce((a, b) => a + b, 0) / g.length);
      return blend(img, () => mean, 1 + sign * lin(0.9));
    }
    case 'Sharpness': return sharpness(img, 1 + sign * lin(0.9));
    case 'Posterize': {
      const bits = 8 - Math.round(mag / (top / 4)), mask = (0xff << (8 - bits)) & 0xff;
      return mapPixels(img, (v) => v & mask);
    }
    case 'Solarize': {
      const threshold = 255 - lin(255);
      return mapPixels(img, (v) => (v >= threshold ? 255 - v : v));
    }
    case 'AutoContrast': return perChannelLut(img, autoContrast);
    case 'Equalize': return perChannelLut(img, equalize);
    case 'Invert': return mapPixels(img, (v) => 255 - v);
  }
}

export function autoAugment(img: Image, rng: Rng): Image {
  const policy = IMAGENET[rng.int(IMAGENET.length)]!;
  for (const [op, p, mag] of policy) if (rng.next() < p) img = applyOp(img, op, mag, rng);
  return img;
}
