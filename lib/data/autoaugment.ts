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

// The point ops go through a 256-entry table (the same arithmetic per value, once per value
// instead of once per pixel): the loader runs them on every training image.
function mapLut(img: Image, f: (v: number) => number): Image {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = f(v);
  const src = img.data, out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = lut[src[i]!]!;
  return { ...img, data: out };
}

function grey(img: Image): Float64Array {
  const n = img.height * img.width, c = img.channels, g = new Float64Array(n), d = img.data;
  if (c === 1) for (let i = 0; i < n; i++) g[i] = d[i]!;
  else for (let i = 0; i < n; i++) g[i] = 0.299 * d[3 * i]! + 0.587 * d[3 * i + 1]! + 0.114 * d[3 * i + 2]!;
  return g;
}

/** out = other + factor·(img − other) (PIL ImageEnhance), `other` one value for the whole image. */
function blendConst(img: Image, other: number, factor: number): Image {
  return mapLut(img, (v) => clamp255(other + factor * (v - other)));
}

/** The same with `other` per pixel (one value for all channels) or per byte (`perByte`). */
function blendWith(img: Image, other: ArrayLike<number>, perByte: boolean, factor: number): Image {
  const c = img.channels, src = img.data, out = new Uint8Array(src.length);
  if (perByte) {
    for (let i = 0; i < src.length; i++) { const o = other[i]!; out[i] = clamp255(o + factor * (src[i]! - o)); }
  } else {
    for (let p = 0, i = 0; p < other.length; p++) {
      const o = other[p]!;
      for (let k = 0; k < c; k++, i++) out[i] = clamp255(o + factor * (src[i]! - o));
    }
  }
  return { ...img, data: out };
}

/** Inverse-mapped affine warp with nearest sampling and black fill: src = A·(dst − centre) + centre. */
function affine(img: Image, a: number, b: number, c: number, d: number, tx: number, ty: number): Image {
  const { height: h, width: w, channels: ch } = img, src = img.data, out = new Uint8Array(src.length);
  const cx = (w - 1) / 2, cy = (h - 1) / 2;
  // The products are hoisted out of the loops; each sum is formed in the same order as written
  // out in full, so the sampled pixels are the same.
  const ax = new Float64Array(w), cxs = new Float64Array(w);
  for (let x = 0; x < w; x++) { ax[x] = a * (x - cx); cxs[x] = c * (x - cx); }
  for (let y = 0; y < h; y++) {
    const by = b * (y - cy), dy = d * (y - cy);
    for (let x = 0; x < w; x++) {
      const sx = Math.round(ax[x]! + by + cx + tx), sy = Math.round(cxs[x]! + dy + cy + ty);
      if (sx < 0 || sy < 0 || sx >= w || sy >= h) continue;
      const o = (y * w + x) * ch, s0 = (sy * w + sx) * ch;
      for (let k = 0; k < ch; k++) out[o + k] = src[s0 + k]!;
    }
  }
  return { ...img, data: out };
}

function perChannelLut(img: Image, makeLut: (hist: Int32Array) => Uint8Array | null): Image {
  const c = img.channels, out = img.data.slice();
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
  const { height: h, width: w, channels: c } = img, src = img.data, row = w * c;
  const smooth = src.slice(); // borders keep the original pixels, as PIL does
  // PIL's SMOOTH kernel: 1 around, 5 in the centre, over 13.
  for (let y = 1; y < h - 1; y++)
    for (let i = y * row + c, end = (y + 1) * row - c; i < end; i++) {
      const up = i - row, down = i + row;
      const s = 5 * src[i]! + src[i - c]! + src[i + c]! + src[up]! + src[up - c]! + src[up + c]! + src[down]! + src[down - c]! + src[down + c]!;
      smooth[i] = clamp255(s / 13);
    }
  return blendWith(img, smooth, true, factor);
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
    case 'Brightness': return blendConst(img, 0, 1 + sign * lin(0.9));
    case 'Color': return blendWith(img, grey(img), false, 1 + sign * lin(0.9));
    case 'Contrast': {
      const g = grey(img), mean = Math.round(g.reduce((a, b) => a + b, 0) / g.length);
      return blendConst(img, mean, 1 + sign * lin(0.9));
    }
    case 'Sharpness': return sharpness(img, 1 + sign * lin(0.9));
    case 'Posterize': {
      const bits = 8 - Math.round(mag / (top / 4)), mask = (0xff << (8 - bits)) & 0xff;
      return mapLut(img, (v) => v & mask);
    }
    case 'Solarize': {
      const threshold = 255 - lin(255);
      return mapLut(img, (v) => (v >= threshold ? 255 - v : v));
    }
    case 'AutoContrast': return perChannelLut(img, autoContrast);
    case 'Equalize': return perChannelLut(img, equalize);
    case 'Invert': return mapLut(img, (v) => 255 - v);
  }
}

export function autoAugment(img: Image, rng: Rng): Image {
  const policy = IMAGENET[rng.int(IMAGENET.length)]!;
  for (const [op, p, mag] of policy) if (rng.next() < p) img = applyOp(img, op, mag, rng);
  return img;
}
