// Per-image transforms on HWC uint8 images. A pipeline is plain data (a list of specs) so it can
// be sent to the loader's workers; randomness comes from the per-sample Rng the loader passes in.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { LIMITS, intArg, numArg, objectArg } from '../args.js';
import { autoAugment } from './autoaugment.js';
import { RANDAUGMENT_MAX_M, randAugment } from './randaugment.js';
import { Rng } from './rng.js';
import { NATIVE_KERNELS } from './augment_native.js';

export interface Image { data: Uint8Array; height: number; width: number; channels: number }
type Size = number | readonly [number, number];

export type TransformSpec =
  | { name: 'randomCrop'; size?: Size; padding?: number; fill?: number }
  | { name: 'hflip'; p?: number }
  | { name: 'randomResizedCrop'; size: Size; scale?: readonly [number, number]; ratio?: readonly [number, number] }
  | { name: 'centerCrop'; size: Size }
  | { name: 'resize'; size: Size }
  | { name: 'autoAugment'; policy?: 'imagenet' }
  | { name: 'randAugment'; n?: number; m?: number } // defaults 2 and 9, as torchvision
  | { name: 'centerCropResize'; size: number; padding?: number }; // EfficientNet's evaluation crop

export const hw = (s: Size): [number, number] => (typeof s === 'number' ? [s, s] : [s[0], s[1]]);

/** An HWC uint8 image whose bytes match its sizes. */
export function checkImage(img: unknown, op: string): Image {
  const m = objectArg<Image>(img, op, 'img', '{ data: Uint8Array, height, width, channels }');
  intArg(m.height, op, 'img.height', 1, LIMITS.imageSide);
  intArg(m.width, op, 'img.width', 1, LIMITS.imageSide);
  intArg(m.channels, op, 'img.channels', 1, 4);
  if (!(m.data instanceof Uint8Array) || m.data.length !== m.height * m.width * m.channels)
    throw new AdvpropError('ERR_ARG', `${op}: img.data must be a Uint8Array of ${m.height} × ${m.width} × ${m.channels} bytes, got ${describeValue(m.data)}${m.data instanceof Uint8Array ? ` of ${m.data.length}` : ''}`);
  return m;
}

/** The size of an output image, bounded before it is allocated. */
function outSize(h: unknown, w: unknown, op: string): void {
  intArg(h, op, 'height', 1, LIMITS.imageSide);
  intArg(w, op, 'width', 1, LIMITS.imageSide);
  if ((h as number) * (w as number) > LIMITS.imagePixels)
    throw new AdvpropError('ERR_ARG', `${op}: an output of ${h} × ${w} pixels exceeds ${LIMITS.imagePixels}`);
}

function checkSize(s: unknown, op: string): void {
  if (typeof s === 'number') outSize(s, s, op);
  else if (Array.isArray(s) && s.length === 2) outSize(s[0], s[1], op);
  else throw new AdvpropError('ERR_ARG', `${op}: size must be a number or [height, width], got ${describeValue(s)}`);
}

function checkRange(r: unknown, op: string, name: string, lo: number, hi: number): void {
  if (!Array.isArray(r) || r.length !== 2) throw new AdvpropError('ERR_ARG', `${op}: ${name} must be [min, max], got ${describeValue(r)}`);
  numArg(r[0], op, `${name}[0]`, lo, hi, { min: true });
  numArg(r[1], op, `${name}[1]`, r[0], hi);
}

export function crop(img: Image, top: number, left: number, h: number, w: number, fill = 0): Image {
  checkImage(img, 'crop');
  intArg(top, 'crop', 'top', -LIMITS.imageSide, LIMITS.imageSide);
  intArg(left, 'crop', 'left', -LIMITS.imageSide, LIMITS.imageSide);
  outSize(h, w, 'crop');
  intArg(fill, 'crop', 'fill', 0, 255);
  const { channels: c } = img;
  const out = new Uint8Array(h * w * c).fill(fill);
  for (let y = 0; y < h; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= img.height) continue;
    for (let x = 0; x < w; x++) {
      const sx = left + x;
      if (sx < 0 || sx >= img.width) continue;
      const s = (sy * img.width + sx) * c, d = (y * w + x) * c;
      for (let k = 0; k < c; k++) out[d + k] = img.data[s + k]!;
    }
  }
  return { data: out, height: h, width: w, channels: c };
}

/** Bilinear with pixel centres aligned (align_corners = false), as PIL/torchvision resize. */
export function resize(img: Image, h: number, w: number): Image {
  checkImage(img, 'resize');
  outSize(h, w, 'resize');
  if (h === img.height && w === img.width) return img;
  const { channels: c } = img;
  const out = new Uint8Array(h * w * c);
  const sy = img.height / h, sx = img.width / w;
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, img.height - 1), ty = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, img.width - 1), tx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = img.data[(y0 * img.width + x0) * c + k]!, b = img.data[(y0 * img.width + x1) * c + k]!;
        const d = img.data[(y1 * img.width + x0) * c + k]!, e = img.data[(y1 * img.width + x1) * c + k]!;
        const v = (a * (1 - tx) + b * tx) * (1 - ty) + (d * (1 - tx) + e * tx) * ty;
        out[(y * w + x) * c + k] = Math.round(v);
      }
    }
  }
  return { data: out, height: h, width: w, channels: c };
}

// Keys' cubic convolution kernel with a = −0.5 (PIL's and PyTorch's bicubic).
function cubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Per output position: the first source index and the normalised weights of the taps. */
function cubicTaps(inSize: number, outSize: number): { first: Int32Array; weights: Float64Array[] } {
  const scale = inSize / outSize;
  // Downscaling widens the kernel by the scale, so every source pixel contributes (antialiasing).
  const stretch = Math.max(scale, 1);
  const support = 2 * stretch;
  const first = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(Math.floor(centre - support + 0.5), 0), hi = Math.min(Math.floor(centre + support + 0.5), inSize);
    const w = new Float64Array(hi - lo);
    let sum = 0;
    for (let j = lo; j < hi; j++) sum += (w[j - lo] = cubic((j + 0.5 - centre) / stretch));
    // Taps cut off at the border are dropped and the rest renormalised, so edges keep their level.
    for (let j = 0; j < w.length; j++) w[j]! /= sum;
    first[i] = lo;
    weights.push(w);
  }
  return { first, weights };
}

/** Bicubic resize as PIL's Image.resize(BICUBIC), which timm's evaluation of EfficientNet
 * weights uses: separable, pixel centres aligned, antialiased when shrinking; the two passes
 * meet in floating point (PIL rounds to bytes between them) and the result is rounded and
 * clamped to [0, 255], since the kernel overshoots at edges. */
export function resizeBicubic(img: Image, h: number, w: number): Image {
  checkImage(img, 'resizeBicubic');
  outSize(h, w, 'resizeBicubic');
  if (h === img.height && w === img.width) return img;
  const { channels: c, height: H, width: W } = img;
  const tx = cubicTaps(W, w), ty = cubicTaps(H, h);
  const rows = new Float64Array(H * w * c);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < w; x++) {
      const wt = tx.weights[x]!, x0 = tx.first[x]!;
      for (let k = 0; k < c; k++) {
        let v = 0;
        for (let j = 0; j < wt.length; j++) v += wt[j]! * img.data[(y * W + x0 + j) * c + k]!;
        rows[(y * w + x) * c + k] = v;
      }
    }
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) {
    const wt = ty.weights[y]!, y0 = ty.first[y]!;
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        let v = 0;
        for (let j = 0; j < wt.length; j++) v += wt[j]! * rows[((y0 + j) * w + x) * c + k]!;
        out[(y * w + x) * c + k] = Math.min(255, Math.max(0, Math.round(v)));
      }
  }
  return { data: out, height: h, width: w, channels: c };
}

/** EfficientNet's evaluation crop (preprocessing.py, _decode_and_center_crop): the centred square
 * of side size / (size + padding) of the shorter side, resized bicubically to size × size.
 * padding 0 takes the whole shorter side. */
export function centerCropResize(img: Image, size: number, padding = 32): Image {
  checkImage(img, 'centerCropResize');
  outSize(size, size, 'centerCropResize');
  intArg(padding, 'centerCropResize', 'padding', 0, LIMITS.imageSide);
  const side = Math.max(1, Math.floor((size / (size + padding)) * Math.min(img.height, img.width)));
  const top = (img.height - side + 1) >> 1, left = (img.width - side + 1) >> 1;
  const square = side === img.height && side === img.width ? img : crop(img, top, left, side, side);
  return resizeBicubic(square, size, size);
}

/** Left-right mirror (native; augment_js.ts's hflipJs is the reference). */
export function hflip(img: Image): Image {
  checkImage(img, 'hflip');
  return NATIVE_KERNELS.flip(img);
}

export interface Box { top: number; left: number; h: number; w: number }

/** torchvision's RandomResizedCrop sampling: 10 tries, then a centre crop of the clamped ratio.
 * Only the image's sizes are read, so the file loader can draw the box before it decodes. */
export function randomResizedBox(img: { height: number; width: number }, rng: Rng, scale: readonly [number, number], ratio: readonly [number, number]): Box {
  const area = img.height * img.width;
  const [lr0, lr1] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let i = 0; i < 10; i++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const ar = Math.exp(rng.uniform(lr0, lr1));
    const w = Math.round(Math.sqrt(target * ar)), h = Math.round(Math.sqrt(target / ar));
    if (w > 0 && h > 0 && w <= img.width && h <= img.height)
      return { top: rng.int(img.height - h + 1), left: rng.int(img.width - w + 1), h, w };
  }
  const inRatio = img.width / img.height;
  let w = img.width, h = img.height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { top: Math.floor((img.height - h) / 2), left: Math.floor((img.width - w) / 2), h, w };
}

export function applyTransform(img: Image, t: TransformSpec, rng: Rng): Image {
  switch (t.name) {
    case 'randomCrop': {
      const [h, w] = t.size === undefined ? [img.height, img.width] : hw(t.size);
      const pad = t.padding ?? 0;
      const top = rng.int(img.height + 2 * pad - h + 1) - pad, left = rng.int(img.width + 2 * pad - w + 1) - pad;
      return crop(img, top, left, h, w, t.fill ?? 0);
    }
    case 'hflip':
      return rng.bool(t.p ?? 0.5) ? hflip(img) : img;
    case 'randomResizedCrop': {
      const b = randomResizedBox(img, rng, t.scale ?? [0.08, 1], t.ratio ?? [3 / 4, 4 / 3]);
      const [h, w] = hw(t.size);
      return resize(crop(img, b.top, b.left, b.h, b.w), h, w);
    }
    case 'centerCrop': {
      const [h, w] = hw(t.size);
      return crop(img, Math.floor((img.height - h) / 2), Math.floor((img.width - w) / 2), h, w);
    }
    case 'resize': {
      const [h, w] = hw(t.size);
      return resize(img, h, w);
    }
    case 'autoAugment':
      return autoAugment(img, rng);
    case 'randAugment':
      return randAugment(img, rng, t.n ?? 2, t.m ?? 9);
    case 'centerCropResize':
      return centerCropResize(img, t.size, t.padding ?? 32);
    default:
      throw new AdvpropError('ERR_ARG', `transform: unknown transform ${JSON.stringify(t)}`);
  }
}

export function validateTransforms(ts: readonly TransformSpec[]): void {
  const op = 'transforms';
  if (!Array.isArray(ts)) throw new AdvpropError('ERR_ARG', `${op}: expected an array of transform specs, got ${describeValue(ts)}`);
  const names = ['randomCrop', 'hflip', 'randomResizedCrop', 'centerCrop', 'resize', 'autoAugment', 'randAugment', 'centerCropResize'];
  ts.forEach((t: TransformSpec, i) => {
    const name = (t as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || !names.includes(name))
      throw new AdvpropError('ERR_ARG', `${op}: unknown transform ${describeValue(t)}${typeof name === 'string' ? ` '${name}'` : ''} at index ${i} (known: ${names.join(', ')})`);
    const at = `${op}[${i}] ${name}`;
    switch (t.name) {
      case 'randomCrop':
        if (t.size !== undefined) checkSize(t.size, at);
        if (t.padding !== undefined) intArg(t.padding, at, 'padding', 0, LIMITS.imageSide);
        if (t.fill !== undefined) intArg(t.fill, at, 'fill', 0, 255);
        break;
      case 'hflip':
        if (t.p !== undefined) numArg(t.p, at, 'p', 0, 1);
        break;
      case 'randomResizedCrop':
        checkSize(t.size, at);
        if (t.scale !== undefined) checkRange(t.scale, at, 'scale', 0, 1);
        if (t.ratio !== undefined) checkRange(t.ratio, at, 'ratio', 0, Infinity);
        break;
      case 'centerCrop': case 'resize':
        checkSize(t.size, at);
        break;
      case 'autoAugment':
        if (t.policy !== undefined && t.policy !== 'imagenet') throw new AdvpropError('ERR_ARG', `${at}: policy must be 'imagenet', got ${describeValue(t.policy)}`);
        break;
      case 'randAugment':
        if (t.n !== undefined) intArg(t.n, at, 'n', 0, 100);
        if (t.m !== undefined) intArg(t.m, at, 'm', 0, RANDAUGMENT_MAX_M);
        break;
      case 'centerCropResize':
        outSize(t.size, t.size, at);
        if (t.padding !== undefined) intArg(t.padding, at, 'padding', 0, LIMITS.imageSide);
        break;
    }
  });
}

export function applyTransforms(img: Image, ts: readonly TransformSpec[], rng: Rng): Image {
  checkImage(img, 'applyTransforms');
  validateTransforms(ts);
  if (!(rng instanceof Rng)) throw new AdvpropError('ERR_ARG', `applyTransforms: rng must be a data.Rng, got ${describeValue(rng)}`);
  for (const t of ts) img = applyTransform(img, t, rng);
  return img;
}
