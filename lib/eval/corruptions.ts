// Common corruptions in the style of CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019), for measuring
// how robust a model is beyond the clean test set. Parameters are those of the CIFAR version of
// `make_cifar_c.py` (hendrycks/robustness, ImageNet-C/create_c), which suit both 32×32 CIFAR and
// 28×28 Fashion-MNIST images:
//
//   corruption        severity 1 .. 5                                   meaning
//   gaussian_noise    0.04 0.06 0.08 0.09 0.10                          std of additive N(0, c²)
//   shot_noise        500 250 100 75 50                                 Poisson(x·c)/c
//   impulse_noise     0.01 0.02 0.03 0.05 0.07                          salt-and-pepper fraction
//   defocus_blur      (0.3,0.4) (0.4,0.5) (0.5,0.6) (1,0.2) (1.5,0.1)   disk radius, alias blur σ
//   motion_blur       (6,1) (6,1.5) (6,2) (8,2) (9,2.5)                 ImageMagick radius, σ; angle ~ U(-45°, 45°)
//   contrast          0.75 0.5 0.4 0.3 0.15                             (x − mean)·c + mean
//   brightness        0.05 0.1 0.15 0.2 0.3                             added to HSV value
//   pixelate          0.95 0.9 0.85 0.75 0.65                           box-downscale by c, box-upscale back
//   jpeg_compression  80 65 58 50 40                                    JPEG quality
//
// Differences from the reference, on purpose: images stay float (the reference rounds to uint8 after
// each corruption); JPEG is jpeg-js (4:4:4, no chroma subsampling) rather than PIL; the noise comes
// from our own generator. Each image draws from its own stream keyed by (seed, image index), the
// same for every severity, so a batch's result does not depend on how the data was batched and the
// five severities of one image see the same noise pattern scaled differently.
import jpeg from 'jpeg-js';
import { AdvpropError } from '../errors.js';
import { Rng } from '../data/rng.js';
import { describeValue, showValue } from '../device.js';
import { LIMITS, intArg } from '../args.js';

export const CORRUPTIONS = [
  'gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'motion_blur',
  'contrast', 'brightness', 'pixelate', 'jpeg_compression',
] as const;
export type CorruptionName = (typeof CORRUPTIONS)[number];

const PARAMS = {
  gaussian_noise: [0.04, 0.06, 0.08, 0.09, 0.10],
  shot_noise: [500, 250, 100, 75, 50],
  impulse_noise: [0.01, 0.02, 0.03, 0.05, 0.07],
  defocus_blur: [[0.3, 0.4], [0.4, 0.5], [0.5, 0.6], [1, 0.2], [1.5, 0.1]],
  motion_blur: [[6, 1], [6, 1.5], [6, 2], [8, 2], [9, 2.5]],
  contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
  brightness: [0.05, 0.1, 0.15, 0.2, 0.3],
  pixelate: [0.95, 0.9, 0.85, 0.75, 0.65],
  jpeg_compression: [80, 65, 58, 50, 40],
} as const;

/** One image, HWC floats in [0, 1]; corruptions write into `out`. */
interface Img { data: Float32Array; h: number; w: number; c: number }
type Fn = (img: Img, out: Float32Array, rng: Rng, p: number | readonly number[]) => void;

const clip01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

function normal(rng: Rng): number {
  // Box–Muller; 1 − u keeps the log argument in (0, 1].
  const u = 1 - rng.next(), v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function poisson(rng: Rng, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(rng)));
  // Knuth's product of uniforms: exact, and cheap for small λ.
  const limit = Math.exp(-lambda);
  let k = 0, prod = rng.next();
  while (prod > limit) { k++; prod *= rng.next(); }
  return k;
}

const gaussianNoise: Fn = ({ data }, out, rng, c) => {
  for (let i = 0; i < data.length; i++) out[i] = clip01(data[i]! + (c as number) * normal(rng));
};

const shotNoise: Fn = ({ data }, out, rng, c) => {
  const k = c as number;
  for (let i = 0; i < data.length; i++) out[i] = clip01(poisson(rng, data[i]! * k) / k);
};

// As skimage's random_noise(mode='s&p'): each value (each channel separately) is hit with
// probability `amount`, then set to 1 or 0 with equal odds.
const impulseNoise: Fn = ({ data }, out, rng, amount) => {
  for (let i = 0; i < data.length; i++) {
    const hit = rng.next() < (amount as number), salt = rng.next() < 0.5;
    out[i] = hit ? (salt ? 1 : 0) : data[i]!;
  }
};

/** Correlates each channel with a square kernel, borders reflected without repeating the edge (OpenCV's default). */
function filter2d(img: Img, out: Float32Array, k: Float64Array, size: number): void {
  const { data, h, w, c } = img, r = (size - 1) / 2;
  const refl = (i: number, n: number): number => {
    if (n === 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
  };
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let dy = -r; dy <= r; dy++) {
          const row = refl(y + dy, h) * w;
          for (let dx = -r; dx <= r; dx++) s += k[(dy + r) * size + dx + r]! * data[(row + refl(x + dx, w)) * c + ch]!;
        }
        out[(y * w + x) * c + ch] = clip01(s);
      }
}

/** The reference's disk(): an aliased disk on a 17×17 grid, smoothed by a 3×3 Gaussian of σ = aliasBlur. */
function diskKernel(radius: number, aliasBlur: number): { k: Float64Array; size: number } {
  const n = 17, half = 8;
  const disk = new Float64Array(n * n);
  let total = 0;
  for (let y = -half; y <= half; y++)
    for (let x = -half; x <= half; x++)
      if (x * x + y * y <= radius * radius) { disk[(y + half) * n + x + half] = 1; total++; }
  const g = [Math.exp(-1 / (2 * aliasBlur * aliasBlur)), 1, 0];
  g[2] = g[0]!;
  const gs = g[0]! + g[1]! + g[2]!;
  const blurred = new Float64Array(n * n);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < n && xx >= 0 && xx < n) s += (g[dy + 1]! * g[dx + 1]! / (gs * gs)) * disk[yy * n + xx]!;
        }
      blurred[y * n + x] = s / total;
    }
  // Crop the all-zero border so filtering a small image costs no more than it must.
  let r = 0;
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (blurred[y * n + x]! > 0) r = Math.max(r, Math.abs(y - half), Math.abs(x - half));
  const size = 2 * r + 1, k = new Float64Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) k[y * size + x] = blurred[(y + half - r) * n + x + half - r]!;
  return { k, size };
}

const defocusBlur: Fn = (img, out, _rng, p) => {
  const [radius, alias] = p as readonly number[];
  const { k, size } = diskKernel(radius!, alias!);
  filter2d(img, out, k, size);
};

// ImageMagick's MotionBlurImage: a one-sided blur along the angle, with weights from a half
// Gaussian over 2·ceil(radius)+1 taps at integer (rounded) offsets; edges repeat the border pixel.
const motionBlur: Fn = ({ data, h, w, c }, out, rng, p) => {
  const [radius, sigma] = p as readonly number[];
  const angle = rng.uniform(-45, 45) * Math.PI / 180;
  const taps = 2 * Math.ceil(radius!) + 1;
  const wt = new Float64Array(taps), ox = new Int32Array(taps), oy = new Int32Array(taps);
  let norm = 0;
  for (let i = 0; i < taps; i++) {
    wt[i] = Math.exp(-(i * i) / (2 * sigma! * sigma!));
    norm += wt[i]!;
    ox[i] = Math.round(i * Math.cos(angle));
    oy[i] = Math.round(i * Math.sin(angle));
  }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let i = 0; i < taps; i++) {
          const yy = Math.min(h - 1, Math.max(0, y + oy[i]!)), xx = Math.min(w - 1, Math.max(0, x + ox[i]!));
          s += wt[i]! * data[(yy * w + xx) * c + ch]!;
        }
        out[(y * w + x) * c + ch] = clip01(s / norm);
      }
};

const contrast: Fn = ({ data, h, w, c }, out, _rng, p) => {
  const f = p as number;
  for (let ch = 0; ch < c; ch++) {
    let mean = 0;
    for (let i = ch; i < data.length; i += c) mean += data[i]!;
    mean /= h * w;
    for (let i = ch; i < data.length; i += c) out[i] = clip01((data[i]! - mean) * f + mean);
  }
};

// Adding to the HSV value with hue and saturation fixed scales r, g, b by V'/V (V = max channel);
// black has saturation 0, so it becomes grey V'. For one channel this is x + c clipped.
const brightness: Fn = ({ data, c }, out, _rng, p) => {
  const add = p as number;
  for (let i = 0; i < data.length; i += c) {
    let v = 0;
    for (let k = 0; k < c; k++) v = Math.max(v, data[i + k]!);
    const v2 = clip01(v + add);
    for (let k = 0; k < c; k++) out[i + k] = v === 0 ? v2 : clip01(data[i + k]! * (v2 / v));
  }
};

/** PIL's BOX resampling weights along one axis: each output pixel averages the input span it covers. */
function boxWeights(inSize: number, outSize: number): { start: Int32Array; weights: Float64Array[] } {
  const scale = inSize / outSize, fscale = Math.max(scale, 1), support = 0.5 * fscale;
  const start = new Int32Array(outSize), weights: Float64Array[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5)), hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    const ws = new Float64Array(Math.max(0, hi - lo));
    let total = 0;
    for (let x = lo; x < hi; x++) {
      const t = (x - center + 0.5) / fscale;
      ws[x - lo] = t > -0.5 && t <= 0.5 ? 1 : 0;
      total += ws[x - lo]!;
    }
    if (total > 0) for (let j = 0; j < ws.length; j++) ws[j] = ws[j]! / total;
    start[o] = lo;
    weights.push(ws);
  }
  return { start, weights };
}

function boxResize(src: Float32Array, h: number, w: number, c: number, oh: number, ow: number): Float32Array {
  const bx = boxWeights(w, ow), by = boxWeights(h, oh);
  const tmp = new Float32Array(h * ow * c), out = new Float32Array(oh * ow * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < ow; x++) {
      const ws = bx.weights[x]!, s0 = bx.start[x]!;
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let j = 0; j < ws.length; j++) s += ws[j]! * src[(y * w + s0 + j) * c + ch]!;
        tmp[(y * ow + x) * c + ch] = s;
      }
    }
  for (let y = 0; y < oh; y++) {
    const ws = by.weights[y]!, s0 = by.start[y]!;
    for (let x = 0; x < ow; x++)
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let j = 0; j < ws.length; j++) s += ws[j]! * tmp[((s0 + j) * ow + x) * c + ch]!;
        out[(y * ow + x) * c + ch] = s;
      }
  }
  return out;
}

const pixelate: Fn = ({ data, h, w, c }, out, _rng, p) => {
  const f = p as number;
  const sh = Math.max(1, Math.trunc(h * f)), sw = Math.max(1, Math.trunc(w * f));
  const small = boxResize(data, h, w, c, sh, sw);
  const back = boxResize(small, sh, sw, c, h, w);
  for (let i = 0; i < back.length; i++) out[i] = clip01(back[i]!);
};

// jpeg-js rebuilds its tables for every encode (~25 ms), far more than encoding a small image, so a
// batch is encoded as one tall image. Each image is padded to whole 8×8 blocks by repeating its last
// row and column, as the encoder pads a lone image, so no block mixes two images and the result is
// the same as encoding each alone (the DC prediction chain across images is lossless).
function jpegBatch(images: Float32Array, n: number, h: number, w: number, c: number, quality: number, out: Float32Array): void {
  const ph = Math.ceil(h / 8) * 8, per = Math.max(1, Math.floor(65000 / ph));
  for (let first = 0; first < n; first += per) {
    const count = Math.min(per, n - first);
    const rgba = Buffer.alloc(count * ph * w * 4);
    for (let i = 0; i < count; i++)
      for (let y = 0; y < ph; y++)
        for (let x = 0; x < w; x++) {
          const src = (((first + i) * h + Math.min(y, h - 1)) * w + x) * c, dst = ((i * ph + y) * w + x) * 4;
          for (let k = 0; k < 3; k++) rgba[dst + k] = Math.round(clip01(images[src + (c === 1 ? 0 : k)]!) * 255);
          rgba[dst + 3] = 255;
        }
    const enc = jpeg.encode({ data: rgba, width: w, height: count * ph }, quality);
    const dec = jpeg.decode(enc.data, { useTArray: true, formatAsRGBA: true });
    for (let i = 0; i < count; i++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const src = ((i * ph + y) * w + x) * 4, dst = (((first + i) * h + y) * w + x) * c;
          // Grey went in as R = G = B; the decoder returns about the luma in all three.
          if (c === 1) out[dst] = (dec.data[src]! + dec.data[src + 1]! + dec.data[src + 2]!) / (3 * 255);
          else for (let k = 0; k < 3; k++) out[dst + k] = dec.data[src + k]! / 255;
        }
  }
}

const FNS: Record<CorruptionName, Fn> = {
  gaussian_noise: gaussianNoise, shot_noise: shotNoise, impulse_noise: impulseNoise,
  defocus_blur: defocusBlur, motion_blur: motionBlur, contrast, brightness, pixelate,
  jpeg_compression: () => { /* batched: see jpegBatch */ },
};

/**
 * Corrupts a batch of NHWC images with values in [0, 1] (C = 1 or 3) and returns a new array of the
 * same shape, also in [0, 1]. The result depends only on (image, name, severity, seed, index in batch).
 */
export function corrupt(images: Float32Array, shape: readonly [number, number, number, number],
  name: string, severity: number, seed = 0): Float32Array {
  if (typeof name !== 'string' || !(CORRUPTIONS as readonly string[]).includes(name))
    throw new AdvpropError('ERR_ARG', `corrupt: unknown corruption ${describeValue(name)} (known: ${CORRUPTIONS.join(', ')})`);
  intArg(severity, 'corrupt', 'severity', 1, 5);
  intArg(seed, 'corrupt', 'seed', 0, Number.MAX_SAFE_INTEGER);
  if (!(images instanceof Float32Array)) throw new AdvpropError('ERR_ARG', `corrupt: images must be a Float32Array, got ${describeValue(images)}`);
  if (!Array.isArray(shape) || shape.length !== 4) throw new AdvpropError('ERR_ARG', `corrupt: shape must be [N, H, W, C], got ${describeValue(shape)}`);
  const [n, h, w, c] = shape;
  if (![n, h, w, c].every((d) => Number.isInteger(d) && d > 0 && d <= LIMITS.imageSide) || (c !== 1 && c !== 3))
    throw new AdvpropError('ERR_ARG', `corrupt: shape must be [N, H, W, C] with C = 1 or 3, got [${shape.map(showValue).join(', ')}]`);
  if (images.length !== n * h * w * c)
    throw new AdvpropError('ERR_ARG', `corrupt: ${images.length} values do not match shape [${shape.join(', ')}]`);
  const key = CORRUPTIONS.indexOf(name as CorruptionName);
  const fn = FNS[name as CorruptionName], p = PARAMS[name as CorruptionName][severity - 1]!;
  const out = new Float32Array(images.length), size = h * w * c;
  if (name === 'jpeg_compression') {
    jpegBatch(images, n, h, w, c, p as number, out);
    return out;
  }
  for (let i = 0; i < n; i++) {
    const img = { data: images.subarray(i * size, (i + 1) * size), h, w, c };
    fn(img, out.subarray(i * size, (i + 1) * size), new Rng(seed, i, key), p);
  }
  return out;
}
