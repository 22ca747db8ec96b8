// Fused multi-tensor optimizer updates (native/include/advprop/optim.h): each call updates a
// whole list of tensors in place with one native pass (one kernel launch on CUDA). All tensors
// of a call share one device and one float dtype, and list entries at one index share a shape.
// The classes in lib/optim/ own the state tensors and call these.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { checkTensor, isTensor, Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';
import { addon, type NativeTensor } from '../native.js';

export interface RmspropUpdateOptions {
  /** A number, or a device scalar: an f64 [1] tensor on the lists' device, read when the kernel
   * runs (how a captured CUDA graph takes a new rate at each replay). */
  lr: number | Tensor;
  /** Decay ρ of the mean square (TensorFlow's `decay`); default 0.9. */
  rho?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Added to the mean square inside the square root; default 1e-3. */
  eps?: number;
  /** L2 coefficient applied as g + wd·p to the tensors flagged in `decay`; default 0. */
  weightDecay?: number;
  /** One flag per tensor: whether weightDecay applies to it. Omitted: none. */
  decay?: readonly boolean[];
}

export interface SgdUpdateOptions {
  /** A number or a device scalar, as RmspropUpdateOptions.lr. */
  lr: number | Tensor;
  /** Default 0. */
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  decay?: readonly boolean[];
}

function handles(list: unknown, op: string, arg: string): NativeTensor[] {
  if (!Array.isArray(list)) throw new AdvpropError('ERR_ARG', `${op}: argument '${arg}' must be an array of tensors, got ${describeValue(list)}`);
  // Names are built only for a bad entry: for B0's 213 tensors × 4 lists they cost more than the checks.
  return list.map((t, i) => (t instanceof Tensor && !t.isDisposed ? t : checkTensor(t, op, `${arg}[${i}]`))._handle(op));
}

function options(o: unknown, op: string): Record<string, unknown> {
  if (typeof o !== 'object' || o === null) throw new AdvpropError('ERR_ARG', `${op}: options must be an object, got ${describeValue(o)}`);
  return o as Record<string, unknown>;
}

// An option with its default; its value is the binding's and the front-end's to check.
function opt<T>(o: Record<string, unknown>, key: string, dflt?: T): T {
  return (o[key] ?? dflt) as T;
}

// A hyper-parameter given as a number or as a device scalar: [by value, scalar handle or undefined].
function numberOrScalar(v: unknown, op: string, arg: string): [unknown, NativeTensor | undefined] {
  return isTensor(v) ? [0, checkTensor(v, op, arg)._handle(op, arg)] : [v, undefined];
}

/** TensorFlow's RMSProp: ms ← ρ·ms + (1−ρ)·g²; mom ← μ·mom + lr·g/√(ms + ε); p ← p − mom (in place). */
export function rmspropUpdate(params: readonly Tensor[], grads: readonly Tensor[], ms: readonly Tensor[], mom: readonly Tensor[],
  opts: RmspropUpdateOptions): void {
  const op = 'rmspropUpdate';
  const o = options(opts, op);
  const hp = handles(params, op, 'params');
  const [lr, lrAt] = numberOrScalar(o.lr, op, 'lr');
  countKernel(op);
  addon.rmspropUpdate(hp, handles(grads, op, 'grads'), handles(ms, op, 'ms'), handles(mom, op, 'mom'), opt(o, 'decay', []),
    lr, opt(o, 'rho', 0.9), opt(o, 'momentum', 0.9), opt(o, 'eps', 1e-3), opt(o, 'weightDecay', 0), lrAt);
}

/** SGD with momentum: buf ← μ·buf + g; p ← p − lr·(nesterov ? g + μ·buf : buf) (in place; buf starts at 0). */
export function sgdUpdate(params: readonly Tensor[], grads: readonly Tensor[], bufs: readonly Tensor[], opts: SgdUpdateOptions): void {
  const op = 'sgdUpdate';
  const o = options(opts, op);
  const hp = handles(params, op, 'params');
  const [lr, lrAt] = numberOrScalar(o.lr, op, 'lr');
  countKernel(op);
  addon.sgdUpdate(hp, handles(grads, op, 'grads'), handles(bufs, op, 'bufs'), opt(o, 'decay', []),
    lr, opt(o, 'momentum', 0), opt(o, 'weightDecay', 0), opt(o, 'nesterov', false), lrAt);
}

/** ema ← d·ema + (1−d)·source for each pair (in place); d a number or a device scalar (f64 [1]
 * on the lists' device, read when the kernel runs). */
export function emaUpdate(emas: readonly Tensor[], sources: readonly Tensor[], decay: number | Tensor): void {
  const op = 'emaUpdate';
  const he = handles(emas, op, 'emas');
  const [d, at] = numberOrScalar(decay, op, 'decay');
  countKernel(op);
  addon.emaUpdate(he, handles(sources, op, 'sources'), at ?? d);
}
