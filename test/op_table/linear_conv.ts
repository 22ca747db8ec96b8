// linear (native/*/gemm.*) and conv2d (conv.* im2col + GEMM, depthwise.*, 1x1 as one GEMM) with
// their input- and weight-gradient kernels. One naive index walk of the convolution gives the
// forward and both backward references, so each is the adjoint of the same sum.
//
// bf16 and f16: the depthwise convolutions need no GEMM and declare `half`; linear and the other
// convolutions multiply through the GEMM (native/ops/gemm_call.h) and add their bias with the
// elementwise add, and declare it when this build's ops take 16-bit operands, which takesHalf
// asks of them (not assumed). Until then the table checks that they refuse bf16/f16 (ERR_DTYPE).
import * as ap from '../../lib/index.js';
import type { Conv2dOptions } from '../../lib/kernels.js';
import { numel, outSize } from '../helpers.js';
import { entry, floats, fmt, reduction, type AnyEntry, type Case, type Entry, type Tol } from './table.js';

/** Whether every call succeeds on bf16 and f16 operands (cpu); false where one refuses them. */
function takesHalf(calls: (o: { dtype: 'bf16' | 'f16'; device: string }) => void): boolean {
  return ap.tidy(() => {
    try {
      for (const dtype of ['bf16', 'f16'] as const) calls({ dtype, device: 'cpu' });
      return true;
    } catch (e) {
      if (e instanceof ap.AdvpropError && e.code === 'ERR_DTYPE') return false;
      throw e;
    }
  });
}
// The GEMM (the gradients' one call), and with the bias add the forwards need as well. While only
// the first holds, the forward entries mix cases that run with cases that refuse, and fail.
const GEMM_HALF = takesHalf((o) => {
  ap.kernels.linearBackwardInput(ap.ones([1, 1], o), ap.ones([1, 1], o));
  ap.kernels.conv2dBackwardWeight(ap.ones([1, 1, 1, 1], o), ap.ones([1, 1, 1, 1], o), [1, 1, 1, 1]);
});
const GEMM_BIAS_HALF = GEMM_HALF && takesHalf((o) => {
  ap.linear(ap.ones([1, 1], o), ap.ones([1, 1], o), ap.ones([1], o));
  ap.conv2d(ap.ones([1, 1, 1, 1], o), ap.ones([1, 1, 1, 1], o), { bias: ap.ones([1], o) });
});
/** `half: tol` where the ops take 16-bit operands (withBias: and bias), nothing (refusal) where not. */
const gemmHalf = <P>(tol: (c: Case<P>) => Tol, withBias = false): Pick<Entry<P>, 'half'> =>
  (withBias ? GEMM_BIAS_HALF : GEMM_HALF) ? { half: tol } : {};

// ---- linear -------------------------------------------------------------------------------------

interface Lin { n: number; inF: number; outF: number; bias: boolean }
// Sizes off every GEMM tile (64x64, K steps of 16): primes, a single row, M and N just past a
// tile, and K = 2053 (split-K in the CUDA GEMM from 2048) in the forward and the weight gradient.
const LIN: Lin[] = [
  { n: 5, inF: 13, outF: 7, bias: true }, { n: 3, inF: 31, outF: 17, bias: false }, { n: 1, inF: 3, outF: 1, bias: true },
  { n: 67, inF: 129, outF: 65, bias: true }, { n: 3, inF: 2053, outF: 5, bias: false }, { n: 2053, inF: 5, outF: 3, bias: true },
];
const label = (l: Lin): string => `x [${l.n},${l.inF}] w [${l.outF},${l.inF}]${l.bias ? ' + b' : ''}`;

/** y[i, o] = Σ_k a[i, k] · b[o, k] (+ bias[o]). */
function matmulT(a: Float64Array, b: Float64Array, rows: number, cols: number, inner: number, bias?: Float64Array): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let o = 0; o < cols; o++) {
      let s = bias ? bias[o] : 0;
      for (let k = 0; k < inner; k++) s += a[i * inner + k] * b[o * inner + k];
      y[i * cols + o] = s;
    }
  return y;
}

const transpose = (a: Float64Array, rows: number, cols: number): Float64Array =>
  Float64Array.from({ length: a.length }, (_, i) => a[(i % rows) * cols + Math.floor(i / rows)]);

const linCases = (seed: number, inputs: (l: Lin, s: number) => Case<Lin>['inputs']): Case<Lin>[] =>
  LIN.map((l, i) => ({ label: label(l), inputs: inputs(l, seed + 4 * i), p: l }));

// ---- conv2d -------------------------------------------------------------------------------------

interface Conv { x: number[]; w: number[]; o: Conv2dOptions; bias: boolean }
// The stem (dense k3 s2 on an odd input), depthwise k5 s2 and k3 with C = 17, pointwise, grouped
// with explicit asymmetric padding and a [2, 1] stride, dilation with 'valid'.
const CONVS: [string, Conv][] = [
  ['dense k3 s2 same', { x: [2, 9, 7, 3], w: [5, 3, 3, 3], o: { stride: 2 }, bias: true }],
  ['depthwise k5 s2 same', { x: [1, 9, 11, 5], w: [5, 5, 5, 1], o: { groups: 5, stride: 2 }, bias: false }],
  ['depthwise k3 C 17', { x: [2, 7, 7, 17], w: [17, 3, 3, 1], o: { groups: 17 }, bias: true }],
  ['pointwise 1x1', { x: [2, 5, 3, 6], w: [7, 1, 1, 6], o: {}, bias: true }],
  ['3 groups pad [1,0,2,1] stride [2,1]', { x: [1, 7, 6, 6], w: [9, 3, 2, 2], o: { groups: 3, padding: [1, 0, 2, 1], stride: [2, 1] }, bias: false }],
  ['dilation 2 valid', { x: [1, 8, 7, 3], w: [2, 3, 3, 3], o: { dilation: 2, padding: 'valid' }, bias: false }],
  // Past the GEMM's tiles (M = 646, N = 35, K = 297) and the depthwise kernels' 32-channel tiles.
  ['dense k3 past the GEMM tiles', { x: [2, 17, 19, 33], w: [35, 3, 3, 33], o: {}, bias: true }],
  ['depthwise k3 s2 C 37', { x: [2, 29, 31, 37], w: [37, 3, 3, 1], o: { groups: 37, stride: 2 }, bias: false }],
];

const pairOf = (v: number | readonly number[] | undefined): [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : [v[0], v[1]]);


function yShape(c: Conv): number[] {
  const p = Array.isArray(c.o.padding) ? c.o.padding : [0, 0, 0, 0];
  const [sh, sw] = pairOf(c.o.stride), [dh, dw] = pairOf(c.o.dilation);
  return [c.x[0], outSize(c.x[1], c.w[1], sh, dh, c.o.padding, p[0], p[1])[0], outSize(c.x[2], c.w[2], sw, dw, c.o.padding, p[2], p[3])[0], c.w[0]];
}

/** Calls f(yIndex, xIndex, wIndex) for every product of the convolution sum. */
function convWalk(c: Conv, f: (yi: number, xi: number, wi: number) => void): void {
  const [n, h, wd, cin] = c.x, [cout, kh, kw, cg] = c.w;
  const [sh, sw] = pairOf(c.o.stride), [dh, dw] = pairOf(c.o.dilation), og = cout / (c.o.groups ?? 1);
  const p = Array.isArray(c.o.padding) ? c.o.padding : [0, 0, 0, 0];
  const [oh, pt] = outSize(h, kh, sh, dh, c.o.padding, p[0], p[1]);
  const [ow, pl] = outSize(wd, kw, sw, dw, c.o.padding, p[2], p[3]);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let co = 0; co < cout; co++)
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = i * sh - pt + ky * dh, ix = j * sw - pl + kx * dw;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              for (let k = 0; k < cg; k++)
                f(((b * oh + i) * ow + j) * cout + co, ((b * h + iy) * wd + ix) * cin + Math.floor(co / og) * cg + k, ((co * kh + ky) * kw + kx) * cg + k);
            }
}

const isDepthwise = (c: Conv): boolean => (c.o.groups ?? 1) > 1 && c.o.groups === c.x[3] && c.w[0] === c.x[3];
/** The cases of CONVS that are depthwise (or not), each with the inputs its place in CONVS seeds. */
const convCases = (depthwise: boolean, seed: number, inputs: (c: Conv, s: number) => Case<Conv>['inputs']): Case<Conv>[] =>
  CONVS.flatMap(([name, c], i) =>
    isDepthwise(c) === depthwise ? [{ label: `${name} x ${fmt(c.x)} w ${fmt(c.w)}`, inputs: inputs(c, seed + 3 * i), p: c }] : []);

// Summation lengths: a forward output sums KH·KW·Cin/groups products; an input gradient at most
// KH·KW·Cout/groups; a weight gradient N·OH·OW.
const fwdLen = (c: Conv): number => c.w[1] * c.w[2] * c.w[3] + 1;
const bwdInputLen = (c: Conv): number => c.w[1] * c.w[2] * c.w[0] / (c.o.groups ?? 1);
const bwdWeightLen = (c: Conv): number => numel(yShape(c).slice(0, 3));

/**
 * conv2d and its two gradients over the depthwise cases of CONVS or the others (the GEMM ones),
 * which differ in whether they take bf16/f16 (the file's header). suffix: of the entry names.
 */
function convEntries(suffix: string, depthwise: boolean): AnyEntry[] {
  const half = <P>(tol: (c: Case<P>) => Tol, withBias = false): Pick<Entry<P>, 'half'> =>
    depthwise ? { half: tol } : gemmHalf(tol, withBias);
  return [
    entry({
      name: `conv2d${suffix}`,
      cases: convCases(depthwise, 460, (c, s) => [floats(c.x, s), floats(c.w, s + 1), ...(c.bias ? [floats([c.w[0]], s + 2)] : [])]),
      ops: {
        conv2d: (x, { p }) => ap.conv2d(x[0], x[1], { ...p.o, bias: x[2] }),
        'kernels.conv2d': (x, { p }) => ap.kernels.conv2d(x[0], x[1], x[2], p.o),
      },
      reference: ([x, w, b], { p }) => {
        const y = new Float64Array(numel(yShape(p)));
        convWalk(p, (yi, xi, wi) => { y[yi] += x[xi] * w[wi]; });
        if (b) y.forEach((_, i) => { y[i] += b[i % p.w[0]]; });
        return [y];
      },
      tol: ({ p }) => reduction(fwdLen(p)),
      ...half<Conv>(({ p }) => reduction(fwdLen(p)), true),
      grad: {},
    }),
    entry({
      name: `conv2dBackwardInput${suffix}`,
      cases: convCases(depthwise, 480, (c, s) => [floats(yShape(c), s), floats(c.w, s + 1)]),
      ops: { 'kernels.conv2dBackwardInput': (x, { p }) => ap.kernels.conv2dBackwardInput(x[0], x[1], p.x, p.o) },
      reference: ([dy, w], { p }) => {
        const dx = new Float64Array(numel(p.x));
        convWalk(p, (yi, xi, wi) => { dx[xi] += dy[yi] * w[wi]; });
        return [dx];
      },
      tol: ({ p }) => reduction(bwdInputLen(p)),
      ...half<Conv>(({ p }) => reduction(bwdInputLen(p))),
      grad: false,
    }),
    entry({
      name: `conv2dBackwardWeight${suffix}`,
      cases: convCases(depthwise, 500, (c, s) => [floats(yShape(c), s), floats(c.x, s + 1)]),
      ops: { 'kernels.conv2dBackwardWeight': (x, { p }) => ap.kernels.conv2dBackwardWeight(x[0], x[1], p.w, p.o) },
      reference: ([dy, x], { p }) => {
        const dw = new Float64Array(numel(p.w));
        convWalk(p, (yi, xi, wi) => { dw[wi] += dy[yi] * x[xi]; });
        return [dw];
      },
      tol: ({ p }) => reduction(bwdWeightLen(p)),
      ...half<Conv>(({ p }) => reduction(bwdWeightLen(p))),
      grad: false,
    }),
  ];
}

export const LINEAR_CONV_ENTRIES: AnyEntry[] = [
  entry({
    name: 'linear',
    cases: linCases(400, (l, s) => [floats([l.n, l.inF], s), floats([l.outF, l.inF], s + 1), ...(l.bias ? [floats([l.outF], s + 2)] : [])]),
    ops: { linear: (x) => ap.linear(x[0], x[1], x[2]), 'kernels.linear': (x) => ap.kernels.linear(x[0], x[1], x[2]) },
    reference: ([x, w, b], { p }) => [matmulT(x, w, p.n, p.outF, p.inF, b)],
    tol: ({ p }) => reduction(p.inF + 1),
    ...gemmHalf<Lin>(({ p }) => reduction(p.inF + 1), true),
    grad: {},
  }),
  entry({
    name: 'linearBackwardInput',
    cases: linCases(420, (l, s) => [floats([l.n, l.outF], s), floats([l.outF, l.inF], s + 1)]),
    ops: { 'kernels.linearBackwardInput': (x) => ap.kernels.linearBackwardInput(x[0], x[1]) },
    reference: ([dy, w], { p }) => [matmulT(dy, transpose(w, p.outF, p.inF), p.n, p.inF, p.outF)],
    tol: ({ p }) => reduction(p.outF),
    ...gemmHalf<Lin>(({ p }) => reduction(p.outF)),
    grad: false,
  }),
  entry({
    name: 'linearBackwardWeight',
    cases: linCases(440, (l, s) => [floats([l.n, l.outF], s), floats([l.n, l.inF], s + 1)]),
    ops: { 'kernels.linearBackwardWeight': (x) => ap.kernels.linearBackwardWeight(x[0], x[1]) },
    reference: ([dy, x], { p }) => [matmulT(transpose(dy, p.n, p.outF), transpose(x, p.n, p.inF), p.outF, p.inF, p.n)],
    tol: ({ p }) => reduction(p.n),
    ...gemmHalf<Lin>(({ p }) => reduction(p.n)),
    grad: false,
  }),
  ...convEntries('', false),
  ...convEntries(' depthwise', true),
];
