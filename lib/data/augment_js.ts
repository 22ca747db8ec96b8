// The per-image kernels of flip and AutoAugment / RandAugment in JavaScript: the reference the
// native ones (native/cpu/augment.cc) match byte for byte (test/data/augment_native.test.ts), and
// the path for 2- and 4-channel images where the native color and contrast do not go.
import type { Image } from './transforms.js';

/** PIL's rounding of a blended value: clamp to [0, 255], then Math.round. */
export const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

export function hflipJs(img: Image): Image {
  const { height: h, width: w, channels: c } = img;
  const src = img.data, out = new Uint8Array(src.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let x = 0; x < w; x++) {
      const o = row + x * c, s = row + (w - 1 - x) * c;
      for (let k = 0; k < c; k++) out[o + k] = src[s + k]!;
    }
  }
  return { ...img, data: out };
}

export function lutJs(img: Image, lut: Uint8Array): Image {
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
export function blendTable(other: number, factor: number): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = clamp255(other + factor * (v - other));
  return lut;
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

export function colorJs(img: Image, factor: number): Image {
  return blendWith(img, grey(img), false, factor);
}

export function contrastJs(img: Image, factor: number): Image {
  const g = grey(img), mean = Math.round(g.reduce((a, b) => a + b, 0) / g.length);
  return lutJs(img, blendTable(mean, factor));
}

/** Inverse-mapped affine warp with nearest sampling and black fill: src = A·(dst − centre) + centre. */
export function affineJs(img: Image, a: number, b: number, c: number, d: number, tx: number, ty: number): Image {
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

export const equalizeJs = (img: Image): Image => perChannelLut(img, equalize);
export const autoContrastJs = (img: Image): Image => perChannelLut(img, autoContrast);

export function sharpnessJs(img: Image, factor: number): Image {
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

/** The kernels applyOp and hflip run, in JavaScript or native. */
export interface AugmentKernels {
  flip(img: Image): Image;
  lut(img: Image, table: Uint8Array): Image;
  affine(img: Image, a: number, b: number, c: number, d: number, tx: number, ty: number): Image;
  color(img: Image, factor: number): Image;
  contrast(img: Image, factor: number): Image;
  sharpness(img: Image, factor: number): Image;
  equalize(img: Image): Image;
  autoContrast(img: Image): Image;
}

export const JS_KERNELS: AugmentKernels = {
  flip: hflipJs, lut: lutJs, affine: affineJs, color: colorJs, contrast: contrastJs, sharpness: sharpnessJs,
  equalize: equalizeJs, autoContrast: autoContrastJs,
};
