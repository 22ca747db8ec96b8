// Global average pooling and squeeze-excite's channel scale (native/*/pool.*) with their backward
// kernels, the fused channelScaleAdd, and the squeeze-excite op against its composition in f64.
import * as ap from '../../lib/index.js';
import { roundHalf } from '../half_ref.js';
import { entry, ELEMENTWISE, EXACT, floats, fmt, reduction, SAME_BITS, type AnyEntry, type Case, type Input } from './table.js';

// 1x1 spatial (squeeze-excite's FCs on pooled maps), C = 17, 5 and 37 (past the 32-channel
// tile), odd H and W, and H·W = 1517 (many spatial chunks).
const SHAPES = [[2, 5, 7, 17], [3, 11, 13, 5], [1, 1, 1, 6], [2, 3, 3, 8], [2, 37, 41, 37]];

type Shape = number[];
const nc = (s: Shape): number[] => [s[0], s[3]];
const hwOf = (s: Shape): number => s[1] * s[2];
const cases = (seed: number, inputs: (s: Shape, seed: number) => Input[]): Case<Shape>[] =>
  SHAPES.map((s, i) => ({ label: fmt(s), inputs: inputs(s, seed + 3 * i), p: s }));

/** out[n, c] = scale · Σ_hw a[n, hw, c] · (b ? b[n, hw, c] : 1). */
function spatialSum(a: Float64Array, b: Float64Array | null, s: Shape, scale: number): Float64Array {
  const [n, , , c] = s, hw = hwOf(s), out = new Float64Array(n * c);
  for (let i = 0; i < a.length; i++) {
    const row = Math.floor(i / (hw * c)) * c + (i % c);
    out[row] += a[i] * (b ? b[i] : 1);
  }
  return out.map((v) => v * scale);
}

/** out[n, hw, c] = f(i, v[n, c]) at every position. */
const spread = (s: Shape, v: Float64Array, f: (i: number, vnc: number) => number): Float64Array =>
  Float64Array.from({ length: s[0] * hwOf(s) * s[3] }, (_, i) => f(i, v[Math.floor(i / (hwOf(s) * s[3])) * s[3] + (i % s[3])]));

interface Need { dx: boolean; ds: boolean }
const NEEDS: Need[] = [{ dx: true, ds: true }, { dx: true, ds: false }, { dx: false, ds: true }];

// Squeeze-excite: reduce width R for each shape.
const seR = (s: Shape): number => [5, 2, 3, 4, 9][SHAPES.indexOf(s)];
const sig = (z: number): number => 1 / (1 + Math.exp(-z));

/**
 * y = x · sigmoid(W₂ silu(W₁ pool(x) + b₁) + b₂). `round` is where a 16-bit run stores: the
 * kernels keep every intermediate in the tensors' type (pool, each GEMM, each bias add, silu,
 * sigmoid), so the reference rounds at the same points; identity in f32/f64 runs.
 */
function seReference([x, w1, b1, w2, b2]: Float64Array[], s: Shape, round: (v: number) => number = (v) => v): Float64Array {
  const [n, , , c] = s, r = seR(s);
  const pooled = spatialSum(x, null, s, 1 / hwOf(s)).map(round);
  const scale = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    const a1 = Array.from({ length: r }, (_, j) => {
      let z = 0;
      for (let k = 0; k < c; k++) z += w1[j * c + k] * pooled[i * c + k];
      z = round(round(z) + b1[j]);
      return round(z * sig(z));
    });
    for (let k = 0; k < c; k++) {
      let z = 0;
      for (let j = 0; j < r; j++) z += w2[k * r + j] * a1[j];
      scale[i * c + k] = round(sig(round(round(z) + b2[k])));
    }
  }
  return spread(s, scale, (i, v) => x[i] * v);
}

export const POOL_ENTRIES: AnyEntry[] = [
  entry({
    name: 'globalAvgPool',
    cases: cases(600, (s, seed) => [floats(s, seed, -2, 2)]),
    ops: { globalAvgPool: (x) => ap.globalAvgPool(x[0]), 'kernels.globalAvgPool': (x) => ap.kernels.globalAvgPool(x[0]) },
    reference: ([x], { p }) => [spatialSum(x, null, p, 1 / hwOf(p))],
    tol: ({ p }) => reduction(hwOf(p)),
    half: ({ p }) => reduction(hwOf(p)), // f32 sums of the widened values, one rounding
    grad: {},
  }),
  entry({
    name: 'globalAvgPoolBackward',
    cases: cases(620, (s, seed) => [floats(nc(s), seed, -2, 2)]),
    ops: { 'kernels.globalAvgPoolBackward': (x, { p }) => ap.kernels.globalAvgPoolBackward(x[0], p) },
    // dy / (H·W); a kernel may multiply by a rounded 1/(H·W) instead, one more rounding.
    reference: ([dy], { p }) => [spread(p, dy, (_i, v) => v / hwOf(p))],
    tol: ELEMENTWISE,
    // bf16/f16: dy times the f32 1/(H·W), rounded: one f32 product, the same on every backend.
    half: SAME_BITS,
    grad: false,
  }),
  entry({
    name: 'channelScale',
    cases: cases(640, (s, seed) => [floats(s, seed, -2, 2), floats(nc(s), seed + 1, -2, 2)]),
    ops: { channelScale: (x) => ap.channelScale(x[0], x[1]), 'kernels.channelScale': (x) => ap.kernels.channelScale(x[0], x[1]) },
    reference: ([x, sc], { p }) => [spread(p, sc, (i, v) => x[i] * v)],
    tol: EXACT,
    half: EXACT, // a product of two 16-bit values is exact in f32
    grad: {},
  }),
  entry({
    name: 'channelScaleBackward',
    cases: NEEDS.flatMap((need, k) => cases(660 + 20 * k, (s, seed) => [floats(s, seed, -2, 2), floats(nc(s), seed + 1, -2, 2), floats(s, seed + 2, -2, 2)])
      .map((c) => ({ ...c, label: `${c.label} dx ${need.dx} ds ${need.ds}`, p: { s: c.p, need } }))),
    ops: {
      'kernels.channelScaleBackward': (x, { p }) => {
        const g = ap.kernels.channelScaleBackward(x[0], x[1], x[2], p.need);
        return [g.dx, g.ds];
      },
    },
    reference: ([x, sc, dy], { p }) => [p.need.dx ? spread(p.s, sc, (i, v) => dy[i] * v) : null, p.need.ds ? spatialSum(dy, x, p.s, 1) : null],
    // dx is one product (exact); ds sums H·W products and sets the class when it is asked for.
    tol: ({ p }) => (p.need.ds ? reduction(hwOf(p.s)) : EXACT),
    half: ({ p }) => (p.need.ds ? reduction(hwOf(p.s)) : EXACT),
    grad: false,
  }),
  entry({
    name: 'channelScaleAdd',
    cases: cases(720, (s, seed) => [floats(s, seed, -2, 2), floats(nc(s), seed + 1, -2, 2), floats(nc(s), seed + 2, -2, 2)]),
    ops: { 'kernels.channelScaleAdd': (x) => ap.kernels.channelScaleAdd(x[0], x[1], x[2]) },
    // The product is rounded to the dtype before the add on every backend (no fused multiply-add):
    // to the tensors' own 16-bit type in a bf16/f16 run, as channelScale stores it.
    reference: ([x, sc, b], { p }, dtype, storage) => {
      const round = storage === 'bf16' || storage === 'f16' ? (v: number) => roundHalf(v, storage) : dtype === 'f32' ? Math.fround : (v: number) => v;
      const prod = spread(p, sc, (i, v) => round(x[i] * v));
      return [spread(p, b, (i, v) => prod[i] + v)];
    },
    tol: EXACT,
    // bf16/f16: the rounded product plus b in f32, then rounded: sums of these magnitudes are
    // exact in f32, so one rounding of the reference.
    half: EXACT,
    grad: false,
  }),
  entry({
    name: 'squeezeExcite',
    cases: cases(740, (s, seed) => {
      const c = s[3], r = seR(s);
      return [floats(s, seed, -2, 2), floats([r, c], seed + 1), floats([r], seed + 2), floats([c, r], seed + 3), floats([c], seed + 4)];
    }),
    ops: { squeezeExcite: (x) => ap.squeezeExcite(x[0], x[1], x[2], x[3], x[4]) },
    reference: (xs, { p }, _dtype, storage) =>
      [seReference(xs, p, storage === 'bf16' || storage === 'f16' ? (v) => roundHalf(v, storage) : undefined)],
    // The longest sum on the way to an output is the pool's H·W (the FCs sum C and R terms).
    tol: ({ p }) => reduction(Math.max(hwOf(p), p[3])),
    // bf16/f16: the reference rounds where the kernels store, so what remains is the f32 sums'
    // error (and the rare intermediate it tips to the neighbouring 16-bit value), then one rounding.
    half: ({ p }) => reduction(Math.max(hwOf(p), p[3])),
    grad: {},
  }),
];
