// Softmax cross-entropy with label smoothing (native/*/loss.*: forward with the row log-sum-exp,
// backward from it), the row argmax and the accuracy built on it.
import * as ap from '../../lib/index.js';
import { f32, hostRandom } from '../helpers.js';
import { entry, ELEMENTWISE, EXACT, floats, ints, reduction, type AnyEntry, type Case, type Input } from './table.js';

interface Xent { n: number; k: number; eps: number; offset: number; reduction: 'mean' | 'none'; hostLabels: boolean }
// K = 1000 strides a CUDA thread over several classes; logits offset by 80 overflow exp in f32
// unless the row max is subtracted; K = 1; labels from the host and as an i32 tensor.
const XENT: Xent[] = [
  { n: 5, k: 7, eps: 0, offset: 0, reduction: 'mean', hostLabels: false },
  { n: 3, k: 1000, eps: 0.1, offset: 0, reduction: 'none', hostLabels: false },
  { n: 1, k: 1, eps: 0.1, offset: 0, reduction: 'mean', hostLabels: true },
  { n: 4, k: 10, eps: 0.2, offset: 80, reduction: 'none', hostLabels: true },
  { n: 17, k: 13, eps: 0.1, offset: -3, reduction: 'mean', hostLabels: false },
  { n: 129, k: 37, eps: 0.1, offset: 0, reduction: 'none', hostLabels: false },
];

function logits(x: Xent, seed: number): Input {
  return { shape: [x.n, x.k], data: f32(hostRandom(x.n * x.k, seed, -4, 4).map((v) => v + x.offset)) };
}
const xentCases = (seed: number, extra: (x: Xent, s: number) => Input[] = () => []): Case<Xent>[] =>
  XENT.map((x, i) => ({
    label: `N ${x.n} K ${x.k} ε ${x.eps}${x.offset ? ` offset ${x.offset}` : ''} ${x.reduction}${x.hostLabels ? ' host labels' : ''}`,
    inputs: [logits(x, seed + 4 * i), ints([x.n], seed + 4 * i + 1, 0, x.k), ...extra(x, seed + 4 * i + 2)],
    p: x,
  }));

/** Row log-sum-exp, per-sample loss −Σ_k t_k (z_k − lse) and the softmax minus the target. */
function xentRef(z: Float64Array, labels: Float64Array, { n, k, eps }: Xent) {
  const lse = new Float64Array(n), loss = new Float64Array(n), diff = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let m = -Infinity, se = 0;
    for (let j = 0; j < k; j++) m = Math.max(m, z[i * k + j]);
    for (let j = 0; j < k; j++) se += Math.exp(z[i * k + j] - m);
    lse[i] = m + Math.log(se);
    for (let j = 0; j < k; j++) {
      const t = (j === labels[i] ? 1 - eps : 0) + eps / k;
      loss[i] -= t * (z[i * k + j] - lse[i]);
      diff[i * k + j] = Math.exp(z[i * k + j] - lse[i]) - t;
    }
  }
  return { lse, loss, diff };
}

const mean = (a: Float64Array): Float64Array => Float64Array.of(a.reduce((s, v) => s + v, 0) / a.length);

const toF32 = (t: ap.Tensor): ap.Tensor => (t.dtype === 'bf16' || t.dtype === 'f16' ? ap.cast(t, 'f32') : t);

// Ties (values on a 0.5 grid), NaNs that must never win, K = 1 and K = 1000.
interface Arg { n: number; k: number }
const ARG: Case<Arg>[] = [[7, 5], [3, 1000], [4, 1], [13, 17]].map(([n, k], i) => ({
  label: `[${n},${k}] with ties and NaN`,
  inputs: [
    { shape: [n, k], data: hostRandom(n * k, 800 + i, -2, 2).map((v, j) => (j % 11 === 3 && k > 1 ? NaN : Math.round(v * 2) / 2)) },
    ints([n], 810 + i, 0, k),
  ],
  p: { n, k },
}));

function argmaxRef(z: Float64Array, { n, k }: Arg): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => {
    let best = -1;
    for (let j = 0; j < k; j++) if (!Number.isNaN(z[i * k + j]) && (best < 0 || z[i * k + j] > z[i * k + best])) best = j;
    return Math.max(best, 0);
  });
}

export const LOSS_ENTRIES: AnyEntry[] = [
  entry({
    name: 'crossEntropy',
    cases: xentCases(820),
    ops: {
      crossEntropy: (x, c) => ap.crossEntropy(x[0], c.p.hostLabels ? c.inputs[1].data as Int32Array : x[1],
        { labelSmoothing: c.p.eps, reduction: c.p.reduction }),
    },
    reference: ([z, y], c) => {
      const { loss } = xentRef(z, y, c.p);
      return [c.p.reduction === 'mean' ? mean(loss) : loss];
    },
    // Row sums of K exponentials in double, then a log and, for 'mean', a sum over N.
    tol: ({ p }) => reduction(Math.max(p.k, p.n)),
    // bf16/f16 logits: the same sums on their widened values; the loss is f32.
    half: ({ p }) => reduction(Math.max(p.k, p.n)),
    grad: { wrt: [0] },
  }),
  entry({
    name: 'crossEntropyForward',
    cases: xentCases(860),
    ops: {
      'kernels.crossEntropyForward': (x, c) => {
        const r = ap.kernels.crossEntropyForward(x[0], x[1], c.p.eps);
        return [r.loss, r.lse];
      },
    },
    reference: ([z, y], c) => {
      const r = xentRef(z, y, c.p);
      return [r.loss, r.lse];
    },
    tol: ({ p }) => reduction(p.k),
    half: ({ p }) => reduction(p.k), // loss and lse in f32
    grad: false,
  }),
  entry({
    name: 'crossEntropyBackward',
    // Inputs: logits, labels, the row lse (from the f64 reference, rounded to f32) and dy: [N]
    // for 'none', a shared scalar with scale 1/N for 'mean'.
    cases: xentCases(900, (x, s) => [
      { shape: [x.n], data: f32(xentRef(logits(x, s - 2).data as Float64Array, new Float64Array(x.n), { ...x, eps: 0 }).lse) },
      floats(x.reduction === 'mean' ? [] : [x.n], s + 1, -2, 2),
    ]),
    ops: {
      // lse and dy are the loss's statistics, f32 for 16-bit logits: a 16-bit run hands them over
      // in f32 (their rounded values, exactly widened).
      'kernels.crossEntropyBackward': (x, c) =>
        ap.kernels.crossEntropyBackward(x[0], x[1], toF32(x[2]), toF32(x[3]), c.p.reduction === 'mean' ? 1 / c.p.n : 1, c.p.eps),
    },
    reference: ([z, y, lse, dy], { p }, dtype) => {
      const scale = p.reduction === 'mean' ? 1 / p.n : 1;
      const sc = dtype === 'f32' ? Math.fround(scale) : scale;
      return [Float64Array.from({ length: p.n * p.k }, (_, i) => {
        const r = Math.floor(i / p.k), t = ((i % p.k) === y[r] ? 1 - p.eps : 0) + p.eps / p.k;
        return (Math.exp(z[i] - lse[r]) - t) * sc * dy[dy.length === 1 ? 0 : r];
      })];
    },
    // Each element: one exp of its own logit against the given lse, then products.
    tol: ELEMENTWISE,
    half: ELEMENTWISE, // in f32 (cuda) or double (cpu), rounded once to the logits' dtype
    grad: false,
  }),
  entry({
    name: 'argmax',
    cases: ARG,
    ops: { 'kernels.argmax': (x) => ap.kernels.argmax(x[0]) },
    reference: ([z], c) => [argmaxRef(z, c.p)],
    tol: EXACT,
    half: EXACT, // comparisons of the widened values (the 0.5 grid is exact in 16 bits)
    grad: false,
  }),
  entry({
    name: 'accuracy',
    cases: ARG,
    ops: {
      accuracy: (x) => {
        const a = ap.accuracy(x[0], x[1]);
        return [ap.tensor(a.predictions, [a.total], { dtype: 'i32' }), ap.tensor(Int32Array.of(a.correct, a.total), [2], { dtype: 'i32' })];
      },
    },
    reference: ([z, y], c) => {
      const pred = argmaxRef(z, c.p);
      return [pred, Float64Array.of(pred.filter((v, i) => v === y[i]).length, c.p.n)];
    },
    tol: EXACT,
    half: EXACT,
    grad: false,
  }),
];
