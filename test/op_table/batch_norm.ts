// The multi-domain batch norm with a fused activation (native/*/batchnorm.*): the taped op, the
// forward kernel with its statistics and in-place running-stat update, and the backward kernel,
// against a reference written as one plain batch norm per segment. In bf16 and f16 the data (x, y,
// dy, dx) is 16-bit and the parameters and statistics f32 (f32Params).
import * as ap from '../../lib/index.js';
import type { BatchNormAct, BatchNormMode } from '../../lib/index.js';
import { f32 } from '../helpers.js';
import { entry, floats, fmt, reduction, type AnyEntry, type Case, type Input, type RunDType } from './table.js';

interface Layout { x: [number, number, number, number]; k: number; segs: [number, number][] }
// AdvProp's equal halves, the attack's single segment, K = 3 with unequal segments and a domain
// used twice, a one-sample segment at 1x1 (count·H·W = 1), C = 17, and segments of 504 rows
// with C = 37 (several row chunks and channel tiles of the CUDA reductions).
const LAYOUTS: Layout[] = [
  { x: [4, 3, 5, 8], k: 2, segs: [[0, 2], [1, 2]] },
  { x: [3, 4, 3, 5], k: 2, segs: [[1, 3]] },
  { x: [7, 2, 3, 6], k: 3, segs: [[2, 1], [0, 3], [1, 2], [0, 1]] },
  { x: [4, 1, 1, 7], k: 2, segs: [[1, 1], [0, 3]] },
  { x: [5, 3, 3, 17], k: 2, segs: [[0, 3], [1, 2]] },
  { x: [16, 7, 9, 37], k: 2, segs: [[0, 8], [1, 8]] },
];
const MODES: BatchNormMode[] = ['train', 'train-frozen', 'eval'];
const ACTS: BatchNormAct[] = ['none', 'silu', 'relu'];
const MOMENTUM = 0.9, EPS = 1e-3;

interface Bn { l: Layout; mode: BatchNormMode; act: BatchNormAct }
const BNS: Bn[] = LAYOUTS.flatMap((l, i) => MODES.map((mode, j) => ({ l, mode, act: ACTS[(i + j) % 3] })));
const caseLabel = ({ l, mode, act }: Bn): string => `x ${fmt(l.x)} segments ${JSON.stringify(l.segs)} ${mode} ${act}`;

/** x, gamma, beta, runningMean, runningVar. */
function params(l: Layout, seed: number): Input[] {
  const kc = [l.k, l.x[3]];
  return [floats(l.x, seed, -2, 3), floats(kc, seed + 1, 0.5, 1.5), floats(kc, seed + 2, -0.5, 0.5), floats(kc, seed + 3, -0.5, 0.5), floats(kc, seed + 4, 0.5, 2)];
}

const sig = (z: number): number => 1 / (1 + Math.exp(-z));
const act = (a: BatchNormAct, z: number): number => (a === 'silu' ? z * sig(z) : a === 'relu' ? Math.max(z, 0) : z);
const actGrad = (a: BatchNormAct, z: number): number => (a === 'silu' ? sig(z) * (1 + z * (1 - sig(z))) : a === 'relu' ? (z > 0 ? 1 : 0) : 1);

/** Segment s covers rows [r0, r0 + rows) of x as an [N·H·W, C] matrix and uses domain d. */
function segments(l: Layout): { d: number; r0: number; rows: number }[] {
  const hw = l.x[1] * l.x[2];
  let start = 0;
  return l.segs.map(([d, count]) => {
    const s = { d, r0: start * hw, rows: count * hw };
    start += count;
    return s;
  });
}

/** y, per-segment mean and invstd, running statistics after the update (unchanged outside 'train'). */
function forwardRef([x, gamma, beta, rm0, rv0]: Float64Array[], { l, mode, act: a }: Bn): Float64Array[] {
  const C = l.x[3], S = l.segs.length, rm = rm0.slice(), rv = rv0.slice();
  const y = new Float64Array(x.length), mean = new Float64Array(S * C), invstd = new Float64Array(S * C);
  segments(l).forEach(({ d, r0, rows }, s) => {
    for (let c = 0; c < C; c++) {
      let m = 0, v = 0;
      if (mode === 'eval') [m, v] = [rm[d * C + c], rv[d * C + c]];
      else {
        for (let r = r0; r < r0 + rows; r++) m += x[r * C + c] / rows;
        for (let r = r0; r < r0 + rows; r++) v += (x[r * C + c] - m) ** 2 / rows;
      }
      const is = 1 / Math.sqrt(v + EPS);
      [mean[s * C + c], invstd[s * C + c]] = [m, is];
      for (let r = r0; r < r0 + rows; r++) y[r * C + c] = act(a, gamma[d * C + c] * (x[r * C + c] - m) * is + beta[d * C + c]);
      if (mode === 'train') {
        // Unbiased variance, except that a single element per channel feeds its biased 0.
        rm[d * C + c] = MOMENTUM * rm[d * C + c] + (1 - MOMENTUM) * m;
        rv[d * C + c] = MOMENTUM * rv[d * C + c] + (1 - MOMENTUM) * (rows > 1 ? v * rows / (rows - 1) : v);
      }
    }
  });
  return [y, mean, invstd, rm, rv];
}

/** dx, dgamma, dbeta from the given per-segment mean and invstd (xhat is formed from them, as the kernel does). */
function backwardRef([dy, x, gamma, beta, mean, invstd]: Float64Array[], { l, mode, act: a }: Bn): Float64Array[] {
  const C = l.x[3], dx = new Float64Array(x.length), dg = new Float64Array(l.k * C), db = new Float64Array(l.k * C);
  segments(l).forEach(({ d, r0, rows }, s) => {
    for (let c = 0; c < C; c++) {
      const k = d * C + c, xhat = (r: number) => (x[r * C + c] - mean[s * C + c]) * invstd[s * C + c];
      const g = (r: number) => dy[r * C + c] * actGrad(a, gamma[k] * xhat(r) + beta[k]);
      let sg = 0, sgx = 0;
      for (let r = r0; r < r0 + rows; r++) { sg += g(r); sgx += g(r) * xhat(r); }
      db[k] += sg;
      dg[k] += sgx;
      for (let r = r0; r < r0 + rows; r++)
        dx[r * C + c] = gamma[k] * invstd[s * C + c] * (mode === 'eval' ? g(r) : g(r) - sg / rows - xhat(r) * sgx / rows);
    }
  });
  return [dx, dg, db];
}

const maxRows = ({ l }: Bn): number => Math.max(...segments(l).map((s) => s.rows));

/**
 * A 16-bit run uploads every float input in bf16/f16; the batch norm takes its parameters and
 * statistics in f32 next to 16-bit data (the mixed dtypes of docs/ARCHITECTURE.md, as autocast
 * keeps them), so they are widened here, exactly: the kernel sees the rounded values the
 * reference does. Other runs pass them through.
 */
const f32Params = (ts: ap.Tensor[], dtype: RunDType): ap.Tensor[] =>
  dtype === 'bf16' || dtype === 'f16' ? ts.map((t) => ap.cast(t, 'f32')) : ts;
const opts = ({ p }: Case<Bn>) => ({ mode: p.mode, act: p.act, momentum: MOMENTUM, eps: EPS });
const bnCases = (seed: number, inputs: (b: Bn, seed: number) => Input[]): Case<Bn>[] =>
  BNS.map((b, i) => ({ label: caseLabel(b), inputs: inputs(b, seed + 6 * i), p: b }));

export const BATCH_NORM_ENTRIES: AnyEntry[] = [
  entry({
    name: 'multiBatchNorm',
    cases: bnCases(1300, (b, seed) => params(b.l, seed)),
    ops: {
      multiBatchNorm: (x, c, _device, dtype) => {
        const [gamma, beta, runningMean, runningVar] = f32Params(x.slice(1), dtype);
        return ap.multiBatchNorm(x[0], { gamma, beta, runningMean, runningVar }, c.p.l.segs, opts(c));
      },
    },
    reference: (xs, c) => forwardRef(xs, c.p).slice(0, 1),
    tol: (c) => reduction(maxRows(c.p)),
    half: (c) => reduction(maxRows(c.p)),
    grad: { wrt: [0, 1, 2] },
  }),
  entry({
    name: 'multiBatchNorm kernel',
    cases: bnCases(1300, (b, seed) => params(b.l, seed)),
    ops: {
      // y, the statistics it returns, and the running statistics it updates in place.
      'kernels.multiBatchNorm': (x, c, _device, dtype) => {
        const [gamma, beta, runningMean, runningVar] = f32Params(x.slice(1), dtype);
        const r = ap.kernels.multiBatchNorm(x[0], { gamma, beta, runningMean, runningVar }, c.p.l.segs, opts(c));
        return [r.y, r.mean, r.invstd, runningMean, runningVar];
      },
    },
    reference: (xs, c) => forwardRef(xs, c.p),
    tol: (c) => reduction(maxRows(c.p)),
    half: (c) => reduction(maxRows(c.p)),
    grad: false,
  }),
  entry({
    name: 'multiBatchNormBackward',
    // dy, x, gamma, beta and the forward's mean and invstd (from the reference, in f32).
    cases: bnCases(1400, (b, seed) => {
      const [x, gamma, beta, rm, rv] = params(b.l, seed);
      const [, mean, invstd] = forwardRef([x, gamma, beta, rm, rv].map((i) => Float64Array.from(i.data)), b);
      const st = [b.l.segs.length, b.l.x[3]];
      return [floats(b.l.x, seed + 5, -1, 1), x, gamma, beta, { shape: st, data: f32(mean) }, { shape: st, data: f32(invstd) }];
    }),
    ops: {
      'kernels.multiBatchNormBackward': (x, c, _device, dtype) => {
        const [gamma, beta, mean, invstd] = f32Params(x.slice(2), dtype);
        const g = ap.kernels.multiBatchNormBackward(x[0], x[1], { gamma, beta }, mean, invstd, c.p.l.segs, opts(c));
        return [g.dx, g.dgamma, g.dbeta];
      },
    },
    reference: (xs, c) => backwardRef(xs, c.p),
    tol: (c) => reduction(maxRows(c.p)),
    half: (c) => reduction(maxRows(c.p)),
    grad: false,
  }),
];
