// Central-difference gradient check in f64. The scalar loss is sum(fn(inputs) * W) with fixed
// random weights W, so every output element contributes with a different weight and a rule that
// mixes up elements cannot pass by symmetry. Sampled elements keep big inputs cheap.
import { AdvpropError } from '../errors.js';
import { grad } from '../autograd/engine.js';
import { noGrad } from '../autograd/mode.js';
import type { Tensor } from '../tensor.js';
import { randn, tensor } from '../creation.js';
import { tidy } from '../memory.js';
import { mul } from '../ops/arithmetic.js';
import { sum } from '../ops/reduce.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Elements checked per input (default 24; all when the input is smaller). */
  samples?: number;
  /** Seed of the weights W and of the element sampling. */
  seed?: number;
  /** Indices of the inputs to check (default: all). */
  wrt?: number[];
}

export interface ElementCheck {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
  relError: number;
}

export interface GradcheckResult {
  maxRelError: number;
  worst: ElementCheck | null;
  checked: number;
  perInput: { input: number; maxRelError: number; checked: number }[];
}

function sampleIndices(n: number, count: number, seed: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const picked = new Set<number>([0, n - 1]);
  let s = (seed * 2654435761) >>> 0 || 1;
  while (picked.size < count) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    picked.add(s % n);
  }
  return [...picked].sort((a, b) => a - b);
}

/**
 * Compares the tape's gradients with central differences. Errors are |a - n| / max(|a|, |n|,
 * 1e-3 * g) where g is the largest analytic gradient of that input, so entries that are ~0 are
 * judged against the input's gradient scale instead of dividing noise by noise.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckResult {
  const eps = options.eps ?? 1e-6;
  const samples = options.samples ?? 24;
  const seed = options.seed ?? 1234;
  const wrt = options.wrt ?? inputs.map((_, i) => i);
  inputs.forEach((t, i) => {
    if (wrt.includes(i) && t.dtype !== 'f64') throw new AdvpropError('ERR_DTYPE', `gradcheck: input ${i} is ${t.dtype}; checks run in f64`);
  });
  const hosts = inputs.map((t) => t.toArray());
  const device = inputs[0].device;
  const shapes = inputs.map((t) => t.shape);
  const dtypes = inputs.map((t) => t.dtype);

  return tidy(() => {
    const probe = noGrad(() => fn(...inputs));
    const W = randn(probe.shape, { dtype: probe.dtype, device: probe.device, seed, offset: 977 });
    const loss = (xs: readonly Tensor[]): Tensor => sum(mul(fn(...xs), W));
    const lossAt = (i: number, arr: Float64Array): number =>
      tidy(() => noGrad(() => {
        const xs = inputs.map((t, j) => (j === i ? tensor(arr, shapes[i], { dtype: dtypes[i], device }) : t));
        return loss(xs).item();
      }));

    // Leaf copies, so the check also works when some inputs are outputs of other ops.
    const leaves = inputs.map((t, i) => tensor(hosts[i], shapes[i], { dtype: dtypes[i], device }));
    const analytic = grad(() => loss(leaves), wrt.map((i) => leaves[i]), { allowUnused: true }).map((g) => g.toArray());

    const result: GradcheckResult = { maxRelError: 0, worst: null, checked: 0, perInput: [] };
    wrt.forEach((input, w) => {
      const a = analytic[w];
      let scale = 0;
      for (const v of a) scale = Math.max(scale, Math.abs(v));
      const arr = Float64Array.from(hosts[input]);
      let maxRel = 0;
      const idx = sampleIndices(arr.length, samples, seed + input);
      for (const index of idx) {
        const x0 = arr[index];
        arr[index] = x0 + eps;
        const lp = lossAt(input, arr);
        arr[index] = x0 - eps;
        const lm = lossAt(input, arr);
        arr[index] = x0;
        const numeric = (lp - lm) / (2 * eps);
        const an = a[index];
        const denom = Math.max(Math.abs(an), Math.abs(numeric), 1e-3 * scale, 1e-300);
        // A NaN on either side is a failure: NaN compares false with everything, so without this
        // it would never raise maxRel and a rule returning NaN would pass.
        const raw = Math.abs(an - numeric) / denom;
        const relError = Number.isNaN(raw) ? Infinity : raw;
        if (relError > maxRel) maxRel = relError;
        if (!result.worst || relError > result.worst.relError) result.worst = { input, index, analytic: an, numeric, relError };
      }
      result.checked += idx.length;
      result.perInput.push({ input, maxRelError: maxRel, checked: idx.length });
      result.maxRelError = Math.max(result.maxRelError, maxRel);
    });
    return result;
  });
}

/** gradcheck() that throws with the worst element when the error exceeds `tol` (default 1e-6). */
export function assertGradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions & { tol?: number } = {}): GradcheckResult {
  const tol = options.tol ?? 1e-6;
  const r = gradcheck(fn, inputs, options);
  if (!(r.maxRelError <= tol)) {
    const w = r.worst!;
    throw new Error(`gradcheck failed: max relative error ${r.maxRelError.toExponential(3)} > ${tol} at input ${w.input} element ${w.index}: analytic ${w.analytic}, numeric ${w.numeric}`);
  }
  return r;
}
