// normalizeImage (native/*/image.*): u8 NHWC bytes to float images. Its input is data (u8, made in
// the call from the case's bytes, so the table's float inputs are none), so it is not
// differentiable and has no f64 path; bf16 and f16 outputs are the f32 value rounded once.
import * as ap from '../../lib/index.js';
import { numel } from '../helpers.js';
import { entry, EXACT, fmt, type AnyEntry, type Case } from './table.js';

interface Img { shape: number[]; bytes: Uint8Array; mean: number[]; std: number[] }

function img(shape: number[], seed: number, mean: number[], std: number[]): Case<Img> {
  const bytes = Uint8Array.from({ length: numel(shape) }, (_, i) => (i * 131 + seed * 17 + (i >> 3)) & 255);
  return { label: `${fmt(shape)} mean ${fmt(mean)}`, inputs: [], p: { shape, bytes, mean, std } };
}

const CASES = [
  img([2, 5, 7, 3], 1, [0, 0, 0], [1, 1, 1]),
  img([3, 11, 13, 1], 2, [0.5], [0.5]),
  img([1, 17, 19, 4], 3, [0.485, 0.456, 0.406, 0.1], [0.229, 0.224, 0.225, 2]),
];

export const IMAGE_ENTRIES: AnyEntry[] = [
  entry<Img>({
    name: 'normalizeImage',
    cases: CASES,
    ops: {
      'kernels.normalizeImage': (_x, c, device, dtype) =>
        ap.kernels.normalizeImage(ap.tensor(c.p.bytes, c.p.shape, { dtype: 'u8', device }), { mean: c.p.mean, std: c.p.std, dtype: dtype as 'f32' }),
    },
    // The f32 arithmetic of the loader and the model it replaces, each step rounded to f32 (the
    // kernel's contract; advprop/image.h): f32(v / 255) · f32(1/std) + f32(−mean/std).
    reference: (_x, { p }) => {
      const c = p.shape[3]!;
      return [Float64Array.from(p.bytes, (v, i) =>
        Math.fround(Math.fround(Math.fround(v / 255) * Math.fround(1 / p.std[i % c]!)) + Math.fround(-p.mean[i % c]! / p.std[i % c]!)))];
    },
    tol: EXACT,
    half: EXACT,
    f32Only: true,
    grad: false,
  }),
];
