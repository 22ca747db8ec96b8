// Ops that draw or step with Philox keys: dropout, drop-connect and the fused drop-connect + skip
// (native/*/dropout.*), and the PGD step and random start (native/*/attack.*), against
// test/philox_ref.ts and the formulas of native/include/advprop/{dropout,attack}.h.
import * as ap from '../../lib/index.js';
import { hostRandom, numel } from '../helpers.js';
import { refNormalAt, refUniformAt } from '../philox_ref.js';
import { roundHalf } from '../half_ref.js';
import { entry, EXACT, floats, fmt, SAME_BITS, type AnyEntry, type Case, type FloatDType, type Input, type RunDType } from './table.js';

const round = (dtype: FloatDType) => (dtype === 'f32' ? Math.fround : (v: number) => v);
/** Rounding to the tensors' own dtype: a 16-bit run stores in bf16/f16 what f32 stores in f32. */
const roundStored = (dtype: FloatDType, storage: RunDType) =>
  (storage === 'bf16' || storage === 'f16' ? (v: number) => roundHalf(v, storage) : round(dtype));

// ---- dropout ------------------------------------------------------------------------------------

interface Drop { rate: number; seed: bigint; offset: bigint }
// Rates from barely any to nearly all dropped; a batch of one; keys past 2^32.
const DROPS: Case<Drop>[] = ([[[3, 5, 7, 2], 0.2, 42n, 7n], [[1, 13], 0.5, 2n ** 40n + 1n, 3n], [[64, 3], 0.9, 5n, 2n ** 34n], [[2, 3, 1, 17], 0.05, 9n, 0n], [[7, 1031], 0.3, 11n, 1n]] as [number[], number, bigint, bigint][])
  .map(([s, rate, seed, offset], i) => ({
    label: `${fmt(s)} rate ${rate}`, inputs: [floats(s, 1000 + 2 * i, -2, 2), floats(s, 1001 + 2 * i, -2, 2)], p: { rate, seed, offset },
  }));

/** keep_j = u_j ≤ 1 − rate for j the element (dropout) or the sample (drop-connect); x · (1/(1 − rate) in the dtype). */
function dropRef(x: Float64Array, c: Case<Drop>, perSample: boolean, dtype: FloatDType): Float64Array {
  const r = round(dtype), scale = r(1 / (1 - c.p.rate)), d = x.length / c.inputs[0].shape[0];
  return x.map((v, i) => (refUniformAt(c.p.seed, c.p.offset, perSample ? Math.floor(i / d) : i) <= 1 - c.p.rate ? r(v * scale) : 0));
}

// ---- PGD ----------------------------------------------------------------------------------------

const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);

interface Step { norm: ap.AttackNorm; eps: number | number[]; alpha: number | number[] }

// Clean images in [0, 1] with exact 0s and 1s; adversarial ones near them, some on the box and on
// the ε-ball's edge; gradients with exact zeros, and one all-zero sample (l2 must not divide by 0).
function pgdInputs(shape: number[], seed: number, eps: number): Input[] {
  const n = numel(shape), d = n / shape[0];
  const x = hostRandom(n, seed, 0, 1), xa = new Float64Array(n), g = hostRandom(n, seed + 1, -1, 1), r = hostRandom(n, seed + 2, -1.5, 1.5);
  for (let i = 0; i < n; i++) {
    if (i % 7 === 0) x[i] = 0;
    if (i % 11 === 0) x[i] = 1;
    x[i] = Math.fround(x[i]);
    xa[i] = Math.fround(i % 5 === 0 ? x[i] + eps : clamp(x[i] + eps * r[i], 0, 1));
    if (i % 13 === 0) xa[i] = i % 2 ? 0 : 1;
    if (i % 3 === 0 || i < d) g[i] = 0;
    g[i] = Math.fround(g[i]);
  }
  return [{ shape, data: xa }, { shape, data: g }, { shape, data: x }];
}

const STEPS: Case<Step>[] = ([
  [[3, 5, 7, 2], 'linf', 8 / 255, 2 / 255], [[4, 9], 'linf', 0.1, 0.05], [[2, 1100], 'l2', 0.5, 0.2], [[3, 5, 7, 2], 'l2', 0.3, 0.1],
  [[3, 4, 5, 3], 'linf', [0, 0.05, 0.3], [0.01, 0.5, 0.1]], [[3, 4, 5, 3], 'l2', [0, 0.05, 0.3], [0.01, 0.5, 0.1]],
] as [number[], ap.AttackNorm, number | number[], number | number[]][]).map(([s, norm, eps, alpha], i) => {
  const perSample = Array.isArray(eps);
  const extra: Input[] = perSample ? [{ shape: [s[0]], data: Float64Array.from(eps as number[], Math.fround) }, { shape: [s[0]], data: Float64Array.from(alpha as number[], Math.fround) }] : [];
  return { label: `${norm} ${fmt(s)}${perSample ? ' per-sample eps and alpha' : ''}`, inputs: [...pgdInputs(s, 1100 + 3 * i, perSample ? 0.1 : (eps as number)), ...extra], p: { norm, eps, alpha } };
});

/** eps, alpha for sample n: the scalar rounded to the dtype, or the per-sample input. */
const per = (v: number | number[], xs: Float64Array[], k: number, n: number, dtype: FloatDType): number =>
  (typeof v === 'number' ? round(dtype)(v) : xs[k][n]);

function stepRef(xs: Float64Array[], c: Case<Step>, dtype: FloatDType): Float64Array {
  const [xa, g, x] = xs, d = x.length / c.inputs[0].shape[0], out = new Float64Array(x.length);
  for (let n = 0; n < x.length / d; n++) {
    const eps = per(c.p.eps, xs, 3, n, dtype), alpha = per(c.p.alpha, xs, 4, n, dtype);
    if (c.p.norm === 'linf') {
      for (let i = n * d; i < (n + 1) * d; i++) out[i] = clamp(clamp(xa[i] + alpha * Math.sign(g[i]), x[i] - eps, x[i] + eps), 0, 1);
      continue;
    }
    let gg = 0, dd = 0;
    for (let i = n * d; i < (n + 1) * d; i++) gg += g[i] * g[i];
    const a = gg > 0 ? alpha / Math.sqrt(gg) : 0;
    const delta = Float64Array.from({ length: d }, (_, j) => xa[n * d + j] + a * g[n * d + j] - x[n * d + j]);
    for (const v of delta) dd += v * v;
    const s = Math.sqrt(dd) > eps ? eps / Math.sqrt(dd) : 1;
    for (let j = 0; j < d; j++) out[n * d + j] = clamp(x[n * d + j] + s * delta[j], 0, 1);
  }
  return out;
}

interface Start { norm: ap.AttackNorm; eps: number | number[]; seed: bigint; offset: bigint }
const STARTS: Case<Start>[] = ([
  [[3, 5, 7, 2], 'linf', 8 / 255, 77n, 5n], [[3, 5, 7, 2], 'l2', 0.7, 77n, 5n], [[4, 1029], 'l2', 0.7, 2n ** 40n + 3n, 9n],
  [[3, 13], 'linf', [0.1, 0, 0.25], 3n, 2n ** 33n], [[3, 13], 'l2', [0.1, 0, 0.25], 3n, 1n],
] as [number[], ap.AttackNorm, number | number[], bigint, bigint][]).map(([s, norm, eps, seed, offset], i) => ({
  label: `${norm} ${fmt(s)}${Array.isArray(eps) ? ' per-sample eps' : ''}`,
  inputs: [floats(s, 1200 + i, 0, 1), ...(Array.isArray(eps) ? [{ shape: [s[0]], data: Float64Array.from(eps, Math.fround) }] : [])],
  p: { norm, eps, seed, offset },
}));

/** linf: x + eps·(2u − 1); l2: x + eps·u_n^(1/d)·z/‖z‖ with z normal (in the dtype) and u_n after the z block. */
function startRef(xs: Float64Array[], c: Case<Start>, dtype: FloatDType): Float64Array {
  const [x] = xs, d = x.length / c.inputs[0].shape[0], { seed, offset } = c.p, out = new Float64Array(x.length);
  if (c.p.norm === 'linf') return x.map((v, i) => clamp(v + per(c.p.eps, xs, 1, Math.floor(i / d), dtype) * (2 * refUniformAt(seed, offset, i) - 1), 0, 1));
  const base = Math.ceil(x.length / 4) * 4;
  for (let n = 0; n < x.length / d; n++) {
    const z = Array.from({ length: d }, (_, j) => round(dtype)(refNormalAt(seed, offset, n * d + j)));
    const r = per(c.p.eps, xs, 1, n, dtype) * refUniformAt(seed, offset, base + n) ** (1 / d) / Math.sqrt(z.reduce((s, v) => s + v * v, 0));
    for (let j = 0; j < d; j++) out[n * d + j] = clamp(x[n * d + j] + r * z[j], 0, 1);
  }
  return out;
}

const epsArg = (v: number | number[], xs: (ap.Tensor | undefined)[], k: number): number | ap.Tensor => (typeof v === 'number' ? v : xs[k]!);
const toF32 = (t: ap.Tensor): ap.Tensor => (t.dtype === 'bf16' || t.dtype === 'f16' ? ap.cast(t, 'f32') : t);

export const DROPOUT_ATTACK_ENTRIES: AnyEntry[] = [
  ...([['dropout', false], ['dropConnect', true]] as const).map(([name, perSample]) => entry({
    name,
    cases: DROPS.map((c) => ({ ...c, inputs: c.inputs.slice(0, 1) })),
    ops: perSample
      ? {
        dropConnect: (x, { p }) => ap.dropConnect(x[0], p.rate, { seed: p.seed, offset: p.offset }),
        'kernels.dropConnectMask': (x, { p }) => ap.kernels.dropConnectMask(x[0], p.rate, p.seed, p.offset),
      }
      : {
        dropout: (x, { p }) => ap.dropout(x[0], p.rate, { seed: p.seed, offset: p.offset }),
        'kernels.dropoutMask': (x, { p }) => ap.kernels.dropoutMask(x[0], p.rate, p.seed, p.offset),
      },
    reference: ([x], c, dtype) => [dropRef(x, c, perSample, dtype)],
    // One rounded product per kept element, the mask from the shared Philox.
    tol: EXACT,
    // bf16/f16: the same draws, x times the f32 scale in f32, rounded to 16 bits: the reference's
    // f32 product rounded once more, bit for bit.
    half: EXACT,
    grad: {},
  })),
  entry({
    name: 'dropConnectAdd',
    cases: DROPS,
    ops: {
      dropConnectAdd: (x, { p }) => ap.dropConnectAdd(x[0], x[1], p.rate, { seed: p.seed, offset: p.offset }),
      'kernels.dropConnectAdd': (x, { p }) => ap.kernels.dropConnectAdd(x[0], x[1], p.rate, p.seed, p.offset),
    },
    // add(dropConnectMask(h), residual) bit for bit: the scaled product rounded (to the tensors'
    // dtype, bf16/f16 in a 16-bit run), then the sum.
    reference: ([h, r], c, dtype, storage) => [dropRef(h, c, true, dtype).map((v, i) => roundStored(dtype, storage)(v) + r[i])],
    tol: EXACT,
    half: EXACT,
    grad: {},
  }),
  entry({
    name: 'pgdStep',
    cases: STEPS,
    ops: {
      pgdStep: (x, { p }) => ap.pgdStep(x[0], x[1], x[2], { eps: epsArg(p.eps, x, 3), alpha: epsArg(p.alpha, x, 4), norm: p.norm }),
      'kernels.pgdStep': (x, { p }) => ap.kernels.pgdStep(x[0], x[1], x[2], { eps: epsArg(p.eps, x, 3), alpha: epsArg(p.alpha, x, 4), norm: p.norm }),
    },
    reference: (xs, c, dtype) => [stepRef(xs, c, dtype)],
    // linf is clamps of one rounded sum each (rounding commutes with the clamps): exact. l2
    // carries per-sample norms and square roots, the same on every backend by design.
    tol: ({ p }) => (p.norm === 'linf' ? EXACT : SAME_BITS),
    grad: false,
  }),
  // The step of a 16-bit network: its gradient in bf16/f16, the image, the perturbation, eps and
  // alpha in f32 (a 16-bit image is refused, as pgdStep's refusal shows). In a 16-bit run the
  // inputs other than the gradient go over to f32 (their rounded values, exactly): the gradient
  // is widened exactly, so the result is the f32 step on the rounded inputs, in f32.
  entry({
    name: 'pgdStep with a 16-bit gradient',
    cases: STEPS,
    ops: {
      pgdStep: (x, { p }) => {
        const [xa, g, xc, e, a] = x.map((t, i) => (i === 1 ? t : toF32(t)));
        return ap.pgdStep(xa, g, xc, { eps: epsArg(p.eps, [xa, g, xc, e, a], 3), alpha: epsArg(p.alpha, [xa, g, xc, e, a], 4), norm: p.norm });
      },
    },
    reference: (xs, c, dtype) => [stepRef(xs, c, dtype)],
    tol: ({ p }) => (p.norm === 'linf' ? EXACT : SAME_BITS),
    half: ({ p }) => (p.norm === 'linf' ? EXACT : SAME_BITS),
    grad: false,
  }),
  entry({
    name: 'pgdRandomStart',
    cases: STARTS,
    ops: {
      pgdRandomStart: (x, { p }) => ap.pgdRandomStart(x[0], { eps: epsArg(p.eps, x, 1), norm: p.norm, seed: p.seed, offset: p.offset }),
      'kernels.pgdRandomStart': (x, { p }) => ap.kernels.pgdRandomStart(x[0], { eps: epsArg(p.eps, x, 1), norm: p.norm, seed: p.seed, offset: p.offset }),
    },
    reference: (xs, c, dtype) => [startRef(xs, c, dtype)],
    tol: SAME_BITS,
    grad: false,
  }),
];
