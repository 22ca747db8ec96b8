// Fused multi-tensor optimizer updates (native/include/advprop/optim.h): each call updates a
// whole list of tensors in place with one native pass (one kernel launch on CUDA). All tensors
// of a call share one device and one float dtype, and list entries at one index share a shape.
// The classes in lib/optim/ own the state tensors and call these.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { checkTensor, Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';
import { addon, type NativeTensor } from '../native.js';

export interface RmspropUpdateOptions {
  lr: number;
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
  lr: number;
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

function num(o: Record<string, unknown>, key: string, op: string, dflt?: number): number {
  const v = o[key] ?? dflt;
  if (typeof v !== 'number') throw new AdvpropError('ERR_ARG', `${op}: option '${key}' must be a number, got ${describeValue(v)}`);
  return v;
}

function flags(v: unknown, n: number, op: string): boolean[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length !== n || v.some((f) => typeof f !== 'boolean'))
    throw new AdvpropError('ERR_ARG', `${op}: option 'decay' must be an array of ${n} booleans (one per tensor), got ${describeValue(v)}`);
  return v as boolean[];
}

/** TensorFlow's RMSProp: ms ← ρ·ms + (1−ρ)·g²; mom ← μ·mom + lr·g/√(ms + ε); p ← p − mom (in place). */
export function rmspropUpdate(params: readonly Tensor[], grads: readonly Tensor[], ms: readonly Tensor[], mom: readonly Tensor[],
  opts: RmspropUpdateOptions): void {
  const op = 'rmspropUpdate';
  const o = options(opts, op);
  const hp = handles(params, op, 'params');
  countKernel(op);
  addon.rmspropUpdate(hp, handles(grads, op, 'grads'), handles(ms, op, 'ms'), handles(mom, op, 'mom'), flags(o.decay, hp.length, op),
    num(o, 'lr', op), num(o, 'rho', op, 0.9), num(o, 'momentum', op, 0.9), num(o, 'eps', op, 1e-3), num(o, 'weightDecay', op, 0));
}

/** SGD with momentum: buf ← μ·buf + g; p ← p − lr·(nesterov ? g + μ·buf : buf) (in place; buf starts at 0). */
export function sgdUpdate(params: readonly Tensor[], grads: readonly Tensor[], bufs: readonly Tensor[], opts: SgdUpdateOptions): void {
  const op = 'sgdUpdate';
  const o = options(opts, op);
  const nesterov = o.nesterov ?? false;
  if (typeof nesterov !== 'boolean') throw new AdvpropError('ERR_ARG', `${op}: option 'nesterov' must be a boolean, got ${describeValue(nesterov)}`);
  const hp = handles(params, op, 'params');
  countKernel(op);
  addon.sgdUpdate(hp, handles(grads, op, 'grads'), handles(bufs, op, 'bufs'), flags(o.decay, hp.length, op),
    num(o, 'lr', op), num(o, 'momentum', op, 0), num(o, 'weightDecay', op, 0), nesterov);
}

/** ema ← d·ema + (1−d)·source for each pair (in place). */
export function emaUpdate(emas: readonly Tensor[], sources: readonly Tensor[], decay: number): void {
  const op = 'emaUpdate';
  if (typeof decay !== 'number') throw new AdvpropError('ERR_ARG', `${op}: argument 'decay' must be a number, got ${describeValue(decay)}`);
  const he = handles(emas, op, 'emas');
  countKernel(op);
  addon.emaUpdate(he, handles(sources, op, 'sources'), decay);
}
