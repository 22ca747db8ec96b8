// Per-image transforms on HWC uint8 images. A pipeline is plain data (a list of specs) so it can
// be sent to the loader's workers; randomness comes from the per-sample Rng the loader passes in.
import { AdvpropError } from '../errors.js';
import { autoAugment } from './autoaugment.js';
import type { Rng } from './rng.js';

export interface Image { data: Uint8Array; height: number; width: number; channels: number }
type Size = number | readonly [number, number];

export type TransformSpec =
  | { name: 'randomCrop'; size?: Size; padding?: number; fill?: number }
  | { name: 'hflip'; p?: number }
  | { name: 'randomResizedCrop'; size: Size; scale?: readonly [number, number]; ratio?: readonly [number, number] }
  | { name: 'centerCrop'; size: Size }
  | { name: 'resize'; size: Size }
  | { name: 'autoAugment'; policy?: 'imagenet' };

const hw = (s: Size): [number, number] => (typeof s === 'number' ? [s, s] : [s[0], s[1]]);

export function crop(img: Image, top: number, left: number, h: number, w: number, fill = 0): Image {
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

export function hflip(img: Image): Image {
  const { height: h, width: w, channels: c } = img;
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = img.data[(y * w + (w - 1 - x)) * c + k]!;
  return { ...img, data: out };
}

/** torchvision's RandomResizedCrop sampling: 10 tries, then a centre crop of the clamped ratio. */
function randomResizedBox(img: Image, rng: Rng, scale: readonly [number, number], ratio: readonly [number, number]) {
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
    default:
      throw new AdvpropError('ERR_ARG', `transform: unknown transform ${JSON.stringify(t)}`);
  }
}

export function validateTransforms(ts: readonly TransformSpec[]): void {
  const names = ['randomCrop', 'hflip', 'randomResizedCrop', 'centerCrop', 'resize', 'autoAugment'];
  for (const t of ts) if (!names.includes(t?.name)) throw new AdvpropError('ERR_ARG', `transforms: unknown transform ${JSON.stringify(t)} (known: ${names.join(', ')})`);
}

export function applyTransforms(img: Image, ts: readonly TransformSpec[], rng: Rng): Image {
  for (const t of ts) img = applyTransform(img, t, rng);
  return img;
}
