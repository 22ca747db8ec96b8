// Elementwise family (native/*/elementwise.*): the four binary ops with the trailing-dimension
// broadcast, the unary ops and their backward kernels, through the taped op, the named raw kernel
// and the generic binary / unary / unaryBackward entries.
import * as ap from '../../lib/index.js';
import type { BinaryOpName, UnaryOpName } from '../../lib/native.js';
import { awayFromZero, ELEMENTWISE, entry, EXACT, floats, fmt, SAME_BITS, type AnyEntry, type Case, type FloatDType, type Input, type Tol } from './table.js';

// Same shape, [C] over NHWC from either side, scalars from either side, a middle broadcast
// ([1, 3] over [4, 1, 3]) and a prime length.
const BINARY_SHAPES: [number[], number[]][] = [
  [[3, 7, 5, 13], [3, 7, 5, 13]], [[2, 5, 3, 17], [17]], [[17], [2, 5, 3, 17]],
  [[1031], []], [[], [2, 3, 11]], [[4, 1, 3], [1, 3]],
];

const binaryCases = (seed: number): Case[] => BINARY_SHAPES.map(([sa, sb], i) => ({
  label: `${fmt(sa)} with ${fmt(sb)}`,
  // b away from zero: a divisor for div, and no value the gradient check would straddle.
  inputs: [floats(sa, seed + 2 * i, -2, 2), awayFromZero(sb, seed + 2 * i + 1)],
  p: undefined,
}));

/** a op b with the smaller operand repeating over the trailing dimensions of the larger. */
function binaryRef(f: (a: number, b: number) => number) {
  return ([a, b]: Float64Array[]): Float64Array[] => {
    const n = Math.max(a.length, b.length);
    return [Float64Array.from({ length: n }, (_, i) => f(a[i % a.length], b[i % b.length]))];
  };
}

type Call = (xs: ap.Tensor[]) => ap.Tensor;

const BINARY: { op: BinaryOpName; f: (a: number, b: number) => number; calls: Record<string, Call> }[] = [
  { op: 'add', f: (a, b) => a + b, calls: { add: (x) => ap.add(x[0], x[1]), 'kernels.add': (x) => ap.kernels.add(x[0], x[1]) } },
  { op: 'sub', f: (a, b) => a - b, calls: { sub: (x) => ap.sub(x[0], x[1]), 'kernels.sub': (x) => ap.kernels.sub(x[0], x[1]) } },
  { op: 'mul', f: (a, b) => a * b, calls: { mul: (x) => ap.mul(x[0], x[1]), 'kernels.mul': (x) => ap.kernels.mul(x[0], x[1]) } },
  { op: 'div', f: (a, b) => a / b, calls: { div: (x) => ap.div(x[0], x[1]), 'kernels.div': (x) => ap.kernels.div(x[0], x[1]) } },
];

const binaryEntries: AnyEntry[] = BINARY.map(({ op, f, calls }, k) => entry({
  name: op,
  cases: binaryCases(100 + 20 * k),
  ops: { ...calls, 'kernels.binary': (x) => ap.kernels.binary(op, x[0], x[1]) },
  reference: binaryRef(f),
  // One IEEE operation on exact inputs: the f64 result rounded once to f32 is the f32 result.
  tol: EXACT,
  // bf16/f16: the f32 result of two 16-bit operands is exact (products, and sums of these
  // magnitudes) or, for a quotient, cannot sit on a 16-bit tie unless the exact one does, so one
  // more rounding gives the correctly rounded 16-bit value.
  half: EXACT,
  grad: {},
}));

interface Unary {
  op: UnaryOpName; alpha?: number; tol: Tol; backTol: Tol; input: (shape: number[], seed: number) => Input;
  /** bf16/f16 classes (forward, backward): f32 arithmetic on 16-bit inputs, then one rounding. */
  half: Tol; backHalf: Tol;
  f: (x: number, a: number) => number;
  /** dx from x and dy (the kernel's own form: relu's select gives +0, log's is one division). */
  back: (x: number, dy: number, a: number) => number;
  calls: Record<string, Call>;
  backCalls?: Record<string, Call>;
}

const sig = (x: number): number => 1 / (1 + Math.exp(-x));
const any = (s: number[], seed: number): Input => floats(s, seed, -6, 6);
const positive = (s: number[], seed: number): Input => floats(s, seed, 0.05, 9);

// silu, sigmoid and exp go through exp (a polynomial on the cpu, the device's expf on cuda), log
// through libm: a few ulp. The rest are one IEEE operation or none. Backward: relu's is a select,
// square's dy·(x + x) and log's dy / x one rounding; the others carry exp.
// bf16/f16 (`half`): the same f32 formula on the widened inputs, rounded once. Exact where the
// f32 result of 16-bit operands is (x·x, dy·2x, a quotient, selects); scale and addScalar meet
// an f32 alpha, so the f32 product or sum is rounded twice: the same bits on every backend, not
// always the correctly rounded value (SAME_BITS).
const UNARY: Unary[] = [
  { op: 'scale', alpha: -1.3, tol: EXACT, backTol: EXACT, half: SAME_BITS, backHalf: SAME_BITS, input: any, f: (x, a) => a * x, back: (_x, dy, a) => dy * a,
    calls: { scale: (x) => ap.scale(x[0], -1.3), mulScalar: (x) => ap.mulScalar(x[0], -1.3), 'kernels.scale': (x) => ap.kernels.scale(x[0], -1.3) } },
  { op: 'addScalar', alpha: 0.7, tol: EXACT, backTol: EXACT, half: SAME_BITS, backHalf: EXACT, input: any, f: (x, a) => x + a, back: (_x, dy) => dy,
    calls: { addScalar: (x) => ap.addScalar(x[0], 0.7), 'kernels.addScalar': (x) => ap.kernels.addScalar(x[0], 0.7) } },
  { op: 'neg', tol: EXACT, backTol: EXACT, half: EXACT, backHalf: EXACT, input: any, f: (x) => -x, back: (_x, dy) => -dy,
    calls: { neg: (x) => ap.neg(x[0]), 'kernels.neg': (x) => ap.kernels.neg(x[0]) } },
  { op: 'relu', tol: EXACT, backTol: EXACT, half: EXACT, backHalf: EXACT, input: (s, seed) => awayFromZero(s, seed, 0.01, 6), f: (x) => (x < 0 ? 0 : x), back: (x, dy) => (x > 0 ? dy : 0),
    calls: { relu: (x) => ap.relu(x[0]), 'kernels.relu': (x) => ap.kernels.relu(x[0]) },
    backCalls: { 'kernels.reluBackward': (x) => ap.kernels.reluBackward(x[0], x[1]) } },
  { op: 'square', tol: EXACT, backTol: EXACT, half: EXACT, backHalf: EXACT, input: any, f: (x) => x * x, back: (x, dy) => dy * (x + x),
    calls: { square: (x) => ap.square(x[0]), 'kernels.square': (x) => ap.kernels.square(x[0]) },
    backCalls: { 'kernels.squareBackward': (x) => ap.kernels.squareBackward(x[0], x[1]) } },
  { op: 'silu', tol: ELEMENTWISE, backTol: ELEMENTWISE, half: ELEMENTWISE, backHalf: ELEMENTWISE, input: any, f: (x) => x * sig(x), back: (x, dy) => dy * sig(x) * (1 + x * (1 - sig(x))),
    calls: { silu: (x) => ap.silu(x[0]), 'kernels.silu': (x) => ap.kernels.silu(x[0]) },
    backCalls: { 'kernels.siluBackward': (x) => ap.kernels.siluBackward(x[0], x[1]) } },
  { op: 'sigmoid', tol: ELEMENTWISE, backTol: ELEMENTWISE, half: ELEMENTWISE, backHalf: ELEMENTWISE, input: any, f: (x) => sig(x), back: (x, dy) => dy * sig(x) * (1 - sig(x)),
    calls: { sigmoid: (x) => ap.sigmoid(x[0]), 'kernels.sigmoid': (x) => ap.kernels.sigmoid(x[0]) },
    backCalls: { 'kernels.sigmoidBackward': (x) => ap.kernels.sigmoidBackward(x[0], x[1]) } },
  { op: 'exp', tol: ELEMENTWISE, backTol: ELEMENTWISE, half: ELEMENTWISE, backHalf: ELEMENTWISE, input: any, f: (x) => Math.exp(x), back: (x, dy) => dy * Math.exp(x),
    calls: { exp: (x) => ap.exp(x[0]), 'kernels.exp': (x) => ap.kernels.exp(x[0]) },
    backCalls: { 'kernels.expBackward': (x) => ap.kernels.expBackward(x[0], x[1]) } },
  { op: 'log', tol: ELEMENTWISE, backTol: EXACT, half: ELEMENTWISE, backHalf: EXACT, input: positive, f: (x) => Math.log(x), back: (x, dy) => dy / x,
    calls: { log: (x) => ap.log(x[0]), 'kernels.log': (x) => ap.kernels.log(x[0]) },
    backCalls: { 'kernels.logBackward': (x) => ap.kernels.logBackward(x[0], x[1]) } },
];

const UNARY_SHAPES = [[1031], [3, 7, 5, 13], [2, 1, 1, 17], []];
const alphaOf = (u: Unary, dtype: FloatDType): number => (dtype === 'f32' ? Math.fround(u.alpha ?? 0) : u.alpha ?? 0);

const unaryEntries: AnyEntry[] = UNARY.map((u, k) => entry({
  name: u.op,
  cases: UNARY_SHAPES.map((s, i) => ({ label: fmt(s), inputs: [u.input(s, 200 + 10 * k + i)], p: undefined })),
  ops: {
    ...u.calls,
    'kernels.unary': (xs) => ap.kernels.unary(u.op, xs[0], u.alpha ?? 0),
  },
  reference: ([x], _c, dtype) => [x.map((v) => u.f(v, alphaOf(u, dtype)))],
  tol: u.tol,
  half: u.half,
  grad: {},
}));

// dx = dy · f'(x), for every unary op (the affine ones only through the generic entry).
const unaryBackwardEntries: AnyEntry[] = UNARY.map((u, k) => entry({
  name: `${u.op}Backward`,
  cases: UNARY_SHAPES.slice(0, 3).map((s, i) => ({
    label: fmt(s), inputs: [u.input(s, 300 + 10 * k + i), floats(s, 350 + 10 * k + i, -2, 2)], p: undefined,
  })),
  ops: {
    ...u.backCalls,
    'kernels.unaryBackward': (xs) => ap.kernels.unaryBackward(u.op, xs[0], xs[1], u.alpha ?? 0),
  },
  reference: ([x, dy], _c, dtype) => [x.map((v, i) => u.back(v, dy[i], alphaOf(u, dtype)))],
  tol: u.backTol,
  half: u.backHalf,
  grad: false,
}));

export const ELEMENTWISE_ENTRIES: AnyEntry[] = [...binaryEntries, ...unaryEntries, ...unaryBackwardEntries];
