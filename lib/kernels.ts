// ap.kernels: the raw forward and backward kernels as functions of Tensors, with no tape. For
// users who bring their own autograd, and for the gradient rules in lib/ops/. Every call is
// counted (autograd/stats.ts) so tests can see which kernels a backward pass ran.
import { addon, type BatchNormAct, type BinaryOpName, type ConvPadding, type DTypeName, type UnaryOpName } from './native.js';
import { AdvpropError } from './errors.js';
import { describeValue } from './device.js';
import { checkTensor, wrapHandle, type Tensor } from './tensor.js';
import { countKernel } from './autograd/stats.js';
import { optionsArg } from './args.js';
import { twoTensorKernel } from './kernels/call.js';
import { conv2dBnEvalCall } from './kernels/conv_bn.js';


// ---- creation ----------------------------------------------------------------------------------
// Shapes, dtypes, devices, seeds and numbers go to the addon as given: the binding converts them
// and the native front-end checks them (docs/ARCHITECTURE.md, "who checks what").

export function fill(shape: readonly number[], value: number, dtype: DTypeName, device: string): Tensor {
  countKernel('fill');
  return wrapHandle(addon.full(shape, dtype, device, value));
}

export function uniform(shape: readonly number[], dtype: DTypeName, device: string, seed: number | bigint, offset: number | bigint, lo = 0, hi = 1): Tensor {
  countKernel('uniform');
  return wrapHandle(addon.uniform(shape, dtype, device, seed, offset, lo, hi));
}

export function normal(shape: readonly number[], dtype: DTypeName, device: string, seed: number | bigint, offset: number | bigint, mean = 0, std = 1): Tensor {
  countKernel('normal');
  return wrapHandle(addon.normal(shape, dtype, device, seed, offset, mean, std));
}

export function clone(x: Tensor): Tensor {
  countKernel('clone');
  return wrapHandle(addon.clone(checkTensor(x, 'clone', 'x')._handle('clone', 'x')));
}

export function toDevice(x: Tensor, device: string): Tensor {
  countKernel('toDevice');
  return wrapHandle(addon.toDevice(checkTensor(x, 'to', 'x')._handle('to', 'x'), device));
}

export function cast(x: Tensor, dtype: DTypeName): Tensor {
  countKernel('cast');
  return wrapHandle(addon.cast(checkTensor(x, 'cast', 'x')._handle('cast', 'x'), dtype));
}

// ---- elementwise -------------------------------------------------------------------------------

// The op's name for errors and the kernel count. One that is not a string (the binding refuses
// it) is named after the entry instead.
function opName(op: unknown, entry: string): string {
  return typeof op === 'string' ? op : entry;
}

/** a op b, the smaller operand broadcast over the trailing dimensions of the larger. */
export function binary(op: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  const name = opName(op, 'binary');
  const ha = checkTensor(a, name, 'a')._handle(name, 'a');
  const hb = checkTensor(b, name, 'b')._handle(name, 'b');
  countKernel(name);
  return wrapHandle(addon.binary(op, ha, hb));
}

export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);

export function unary(op: UnaryOpName, x: Tensor, alpha = 0): Tensor {
  const name = opName(op, 'unary');
  const h = checkTensor(x, name, 'x')._handle(name, 'x');
  countKernel(name);
  return wrapHandle(addon.unary(op, h, alpha));
}

/** dx = dy * f'(x), from the forward input x. */
export function unaryBackward(op: UnaryOpName, x: Tensor, dy: Tensor, alpha = 0): Tensor {
  const name = typeof op === 'string' ? `${op}Backward` : 'unaryBackward';
  const hx = checkTensor(x, name, 'x')._handle(name, 'x');
  const hdy = checkTensor(dy, name, 'dy')._handle(name, 'dy');
  countKernel(name);
  return wrapHandle(addon.unaryBackward(op, hx, hdy, alpha));
}

export const scale = (x: Tensor, alpha: number): Tensor => unary('scale', x, alpha);
export const addScalar = (x: Tensor, alpha: number): Tensor => unary('addScalar', x, alpha);
export const neg = (x: Tensor): Tensor => unary('neg', x);
export const silu = (x: Tensor): Tensor => unary('silu', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const square = (x: Tensor): Tensor => unary('square', x);
export const siluBackward = (x: Tensor, dy: Tensor): Tensor => unaryBackward('silu', x, dy);
export const sigmoidBackward = (x: Tensor, dy: Tensor): Tensor => unaryBackward('sigmoid', x, dy);
export const reluBackward = (x: Tensor, dy: Tensor): Tensor => unaryBackward('relu', x, dy);
export const expBackward = (x: Tensor, dy: Tensor): Tensor => unaryBackward('exp', x, dy);
export const logBackward = (x: Tensor, dy: Tensor): Tensor => unaryBackward('log', x, dy);
export const squareBackward = (x: Tensor, dy: Tensor): Tensor => unaryBackward('square', x, dy);

// ---- reductions --------------------------------------------------------------------------------

function int(v: unknown, op: string, arg: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v))
    throw new AdvpropError('ERR_ARG', `${op}: argument '${arg}' must be an integer, got ${describeValue(v)}`);
  return v;
}

// A number or a list of integers, as a list. normalizeAxes computes with them in TypeScript, so
// the integers are checked here rather than left to the binding.
function axesArg(axes: unknown, op: string): number[] {
  if (axes === undefined || axes === null) return [];
  if (typeof axes === 'number') return [int(axes, op, 'axes')];
  if (!Array.isArray(axes)) throw new AdvpropError('ERR_ARG', `${op}: axes must be a number or an array of numbers, got ${describeValue(axes)}`);
  return axes.map((a, i) => int(a, op, `axes[${i}]`));
}

/** Sum over `axes` (negative from the end; empty or omitted = all), deterministic on every backend. */
export function sum(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  const h = checkTensor(x, 'sum', 'x')._handle('sum', 'x');
  countKernel('sum');
  return wrapHandle(addon.sum(h, axesArg(axes, 'sum'), keepdims === true, false));
}

export function mean(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  const h = checkTensor(x, 'mean', 'x')._handle('mean', 'x');
  countKernel('mean');
  return wrapHandle(addon.sum(h, axesArg(axes, 'mean'), keepdims === true, true));
}

/** Sums a broadcast result's gradient down to the shape of the operand that was broadcast. */
export function sumToShape(grad: Tensor, shape: readonly number[]): Tensor {
  const h = checkTensor(grad, 'sumToShape', 'grad')._handle('sumToShape', 'grad');
  countKernel('sumToShape');
  return wrapHandle(addon.sumToShape(h, shape));
}

/** The axes of a sum normalised to [0, rank), sorted; empty means all. */
export function normalizeAxes(axes: number | readonly number[] | undefined | null, rank: number, op: string): number[] {
  if (typeof op !== 'string') throw new AdvpropError('ERR_ARG', `normalizeAxes: op must be a string, got ${describeValue(op)}`);
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank > 8)
    throw new AdvpropError('ERR_ARG', `${op}: rank must be an integer in [0, 8], got ${describeValue(rank)}`);
  const list = axesArg(axes, op);
  if (list.length === 0) return Array.from({ length: rank }, (_, i) => i);
  const out = list.map((a) => {
    const n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank) throw new AdvpropError('ERR_ARG', `${op}: axis ${a} out of range for rank ${rank}`);
    return n;
  });
  if (new Set(out).size !== out.length) throw new AdvpropError('ERR_ARG', `${op}: repeated axis in [${list.join(', ')}]`);
  return out.sort((p, q) => p - q);
}

/**
 * The gradient of sum (scale 1) or mean (scale 1/count) over `axes`: dy spread back over the
 * reduced axes of xShape, by one device kernel for any axis set.
 */
export function sumBackward(dy: Tensor, xShape: readonly number[], axes: number | readonly number[] | undefined, mean = false): Tensor {
  const h = checkTensor(dy, 'sumBackward', 'dy')._handle('sumBackward', 'dy');
  countKernel('sumBackward');
  return wrapHandle(addon.sumBackward(h, xShape, axesArg(axes, 'sumBackward'), mean));
}

// ---- shape -------------------------------------------------------------------------------------

/** A view with a new shape (one -1 is inferred); shares storage. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const h = checkTensor(x, 'reshape', 'x')._handle('reshape', 'x');
  countKernel('reshape');
  return wrapHandle(addon.reshape(h, shape));
}

/** Rows [start, start + length) of axis 0, as a view. */
export function slice0(x: Tensor, start: number, length: number): Tensor {
  const h = checkTensor(x, 'slice', 'x')._handle('slice', 'x');
  countKernel('slice0');
  return wrapHandle(addon.slice0(h, start, length));
}

export function concat0(xs: readonly Tensor[]): Tensor {
  if (!Array.isArray(xs)) throw new AdvpropError('ERR_ARG', `concat: xs must be an array of tensors, got ${describeValue(xs)}`);
  const hs = xs.map((t, i) => checkTensor(t, 'concat', `xs[${i}]`)._handle('concat', `xs[${i}]`));
  countKernel('concat0');
  return wrapHandle(addon.concat0(hs));
}

/** Zeros with `rows` rows and dy written at rows [start, start + dy.shape[0]). */
export function slice0Backward(dy: Tensor, rows: number, start: number): Tensor {
  const h = checkTensor(dy, 'sliceBackward', 'dy')._handle('sliceBackward', 'dy');
  countKernel('slice0Backward');
  return wrapHandle(addon.slice0Backward(h, rows, start));
}

// ---- linear ------------------------------------------------------------------------------------

/** y[N, out] = x[N, in] · w[out, in]ᵀ (+ b[out]): one GEMM (and a bias pass). */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  const hx = checkTensor(x, 'linear', 'x')._handle('linear', 'x');
  const hw = checkTensor(w, 'linear', 'w')._handle('linear', 'w');
  const hb = b == null ? null : checkTensor(b, 'linear', 'b')._handle('linear', 'b');
  countKernel('linear');
  return wrapHandle(addon.linear(hx, hw, hb));
}

/** dx = dy · w, the input gradient of linear. */
export function linearBackwardInput(dy: Tensor, w: Tensor): Tensor {
  return twoTensorKernel('linearBackwardInput', dy, 'dy', w, 'w');
}

/** dw = dyᵀ · x, the weight gradient of linear. */
export function linearBackwardWeight(dy: Tensor, x: Tensor): Tensor {
  return twoTensorKernel('linearBackwardWeight', dy, 'dy', x, 'x');
}

// ---- conv2d ------------------------------------------------------------------------------------

export interface Conv2dOptions {
  /** A number or [h, w]; default 1. */
  stride?: number | readonly [number, number];
  /** 'same' (TensorFlow's rule, the default), 'valid', or [top, bottom, left, right]. */
  padding?: ConvPadding | readonly [number, number, number, number];
  /** A number or [h, w]; default 1. */
  dilation?: number | readonly [number, number];
  /** 1 (dense), Cin (depthwise) or anything dividing Cin and Cout; default 1. */
  groups?: number;
}

interface NormalConv { stride: number[]; dilation: number[]; groups: number; padding: ConvPadding }

/** A number as [v, v]; anything else goes to the binding, which takes only [h, w]. */
function pair(v: unknown): number[] {
  if (v === undefined) return [1, 1];
  return (typeof v === 'number' ? [v, v] : v) as number[];
}

/** The options in the addon's form (defaults filled in, numbers as [h, w]); the values are checked natively. */
export function normalizeConv(o: Conv2dOptions | undefined, op: string): NormalConv {
  const opts = optionsArg(o, op);
  const padding = opts.padding ?? 'same';
  return {
    stride: pair(opts.stride),
    dilation: pair(opts.dilation),
    groups: opts.groups ?? 1,
    padding: (Array.isArray(padding) ? [...padding] : padding) as ConvPadding,
  };
}

/** y = conv2d(x, w) (+ b): NHWC x [N, H, W, Cin], OHWI w [Cout, KH, KW, Cin/groups]. */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null | undefined, opts?: Conv2dOptions): Tensor {
  const o = normalizeConv(opts, 'conv2d');
  const hx = checkTensor(x, 'conv2d', 'x')._handle('conv2d', 'x');
  const hw = checkTensor(w, 'conv2d', 'w')._handle('conv2d', 'w');
  const hb = b == null ? null : checkTensor(b, 'conv2d', 'b')._handle('conv2d', 'b');
  countKernel('conv2d');
  return wrapHandle(addon.conv2d(hx, hw, hb, o.stride, o.dilation, o.groups, o.padding));
}

function conv2dBackward(op: 'conv2dBackwardInput' | 'conv2dBackwardWeight', dy: Tensor, operand: Tensor, arg: string,
  shape: readonly number[], opts: Conv2dOptions | undefined): Tensor {
  const o = normalizeConv(opts, op);
  const h = checkTensor(dy, op, 'dy')._handle(op, 'dy');
  const ho = checkTensor(operand, op, arg)._handle(op, arg);
  countKernel(op);
  return wrapHandle(addon[op](h, ho, shape, o.stride, o.dilation, o.groups, o.padding));
}

/** The input gradient of conv2d (xShape is the forward input's shape). */
export function conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[], opts?: Conv2dOptions): Tensor {
  return conv2dBackward('conv2dBackwardInput', dy, w, 'w', xShape, opts);
}

/** The weight gradient of conv2d (wShape is the weight's shape). */
export function conv2dBackwardWeight(dy: Tensor, x: Tensor, wShape: readonly number[], opts?: Conv2dOptions): Tensor {
  return conv2dBackward('conv2dBackwardWeight', dy, x, 'x', wShape, opts);
}

/** The batch norm of conv2dBnEval: domain `domain`'s rows of the [K, Cout] parameters and running statistics. */
export interface Conv2dBnEvalParams {
  gamma: Tensor; beta: Tensor; runningMean: Tensor; runningVar: Tensor;
  domain?: number; // default 0
  eps?: number; // default 1e-3
  act?: BatchNormAct; // default 'none'
}

/**
 * The inference convolution, no gradient: act(batchNorm_eval(conv2d(x, w))) (+ residual, shaped
 * as the output), with the batch norm, its activation and the residual applied in the
 * convolution's epilogue (native/include/advprop/epilogue.h): f32 and f64 give the bits of
 * conv2d, multiBatchNorm in 'eval' with the one segment [[domain, N]], then add, on the same
 * backend, in one pass over the output instead of three. xScale [N, Cin] (squeeze-excite's gate)
 * makes the input channelScale(x, xScale); a 1×1 convolution reads it through the GEMM, with the
 * same bits, instead of a pass of its own.
 */
export function conv2dBnEval(x: Tensor, w: Tensor, bn: Conv2dBnEvalParams, residual?: Tensor | null, opts?: Conv2dOptions,
  xScale?: Tensor | null): Tensor {
  return conv2dBnEvalCall(x, w, bn, residual, normalizeConv(opts, 'conv2dBnEval'), xScale);
}
export * from './kernels/optim.js';
export * from './kernels/pool.js';
export * from './kernels/loss.js';
export * from './kernels/attack.js';
export * from './kernels/dropout.js';
export * from './kernels/image.js';
export * from './kernels/multi_batch_norm.js';
