// Shared by the optimizer classes: argument checks and state-tensor bookkeeping.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import * as kernels from '../kernels.js';
import { checkTensor, isTensor, type Tensor } from '../tensor.js';
import { keep } from '../memory.js';

/** Which parameters get weight decay: one flag per parameter, or a predicate. */
export type DecayMask = readonly boolean[] | ((index: number, param: Tensor) => boolean);

/** Checks a parameter list: an array of live float tensors on one device with one dtype. */
export function checkParams(params: unknown, op: string, arg = 'params'): Tensor[] {
  if (!Array.isArray(params)) throw new AdvpropError('ERR_ARG', `${op}: '${arg}' must be an array of tensors, got ${describeValue(params)}`);
  const out = params.map((p, i) => checkTensor(p, op, `${arg}[${i}]`));
  for (let i = 0; i < out.length; i++) {
    const t = out[i];
    if (t.dtype !== 'f32' && t.dtype !== 'f64')
      throw new AdvpropError('ERR_DTYPE', `${op}: ${arg}[${i}] must be f32 or f64, got ${t.dtype} [${t.shape.join(', ')}]`);
    if (t.dtype !== out[0].dtype || t.device !== out[0].device)
      throw new AdvpropError(t.device !== out[0].device ? 'ERR_DEVICE' : 'ERR_DTYPE',
        `${op}: ${arg}[${i}] is ${t.dtype} on ${t.device} but ${arg}[0] is ${out[0].dtype} on ${out[0].device}`);
  }
  return out;
}

export function checkNumber(v: unknown, op: string, name: string, lo: number, hi = Infinity, loOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (loOpen && v === lo))
    throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be a finite number in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${describeValue(v)}${typeof v === 'number' ? ` ${v}` : ''}`);
  return v;
}

export function checkOptions(o: unknown, op: string, known: readonly string[]): Record<string, unknown> {
  if (typeof o !== 'object' || o === null) throw new AdvpropError('ERR_ARG', `${op}: options must be an object, got ${describeValue(o)}`);
  for (const k of Object.keys(o))
    if (!known.includes(k)) throw new AdvpropError('ERR_ARG', `${op}: unknown option '${k}' (${known.join(', ')})`);
  return o as Record<string, unknown>;
}

/** The decay flags for `params`; no mask means every parameter is decayed. */
export function resolveMask(mask: unknown, params: readonly Tensor[], op: string): boolean[] {
  if (mask === undefined) return params.map(() => true);
  if (typeof mask === 'function') {
    return params.map((p, i) => {
      const f = (mask as (i: number, p: Tensor) => unknown)(i, p);
      if (typeof f !== 'boolean') throw new AdvpropError('ERR_ARG', `${op}: decayMask(${i}) must return a boolean, got ${describeValue(f)}`);
      return f;
    });
  }
  if (!Array.isArray(mask) || mask.length !== params.length || mask.some((f) => typeof f !== 'boolean'))
    throw new AdvpropError('ERR_ARG', `${op}: decayMask must be a function or an array of ${params.length} booleans, got ${describeValue(mask)}`);
  return mask.slice();
}

/** Gradients for step(): one live tensor per parameter (shapes, dtypes and devices are checked natively). */
export function checkGrads(grads: unknown, n: number, op: string): Tensor[] {
  if (!Array.isArray(grads) || grads.length !== n)
    throw new AdvpropError('ERR_ARG', `${op}: grads must be an array of ${n} tensors (one per parameter), got ${describeValue(grads)}`);
  return grads.map((g, i) => checkTensor(g, op, `grads[${i}]`));
}

/** A state tensor filled with `value`, like `p`, exempt from tidy(). */
export function stateLike(p: Tensor, value: number): Tensor {
  return keep(kernels.fill(p.shape, value, p.dtype, p.device));
}

/**
 * Replaces state[i] by a copy of sd[`${prefix}.${i}`] (moved to the state's device and dtype)
 * after checking every entry exists with the right shape; the old tensors are disposed.
 */
export function loadState(state: Tensor[], sd: Record<string, Tensor>, prefix: string, op: string): void {
  const incoming = state.map((cur, i) => {
    const key = `${prefix}.${i}`;
    const t = checkTensor(sd[key], op, `stateDict['${key}']`);
    if (t.shape.length !== cur.shape.length || t.shape.some((s, d) => s !== cur.shape[d]))
      throw new AdvpropError('ERR_SHAPE', `${op}: stateDict['${key}'] is [${t.shape.join(', ')}] but the state is [${cur.shape.join(', ')}]`);
    return t;
  });
  incoming.forEach((t, i) => {
    let copy = t.device === state[i].device ? kernels.clone(t) : kernels.toDevice(t, state[i].device);
    if (copy.dtype !== state[i].dtype) {
      const c = kernels.cast(copy, state[i].dtype);
      copy.dispose();
      copy = c;
    }
    state[i].dispose();
    state[i] = keep(copy);
  });
}

/** The step counter as a one-element i32 tensor on the cpu, for checkpoints. */
export function counterTensor(n: number): Tensor {
  return kernels.fill([1], n, 'i32', 'cpu');
}

export function readCounter(sd: Record<string, Tensor>, key: string, op: string): number {
  const t = checkTensor(sd[key], op, `stateDict['${key}']`);
  const v = t.toArray();
  if (v.length !== 1 || !Number.isInteger(v[0]) || v[0] < 0)
    throw new AdvpropError('ERR_ARG', `${op}: stateDict['${key}'] must hold one non-negative integer, got [${t.shape.join(', ')}]`);
  return v[0];
}

/** step()'s options: `lr`, a device scalar (f64 [1] on the parameters' device) read when the
 * kernel runs, in place of the optimizer's lr (a captured CUDA graph's per-replay rate). */
export interface StepOptions {
  lr?: Tensor;
}

/** The rate a step passes to its kernel: the device scalar of `options`, or `lr`. */
export function stepRate(options: unknown, lr: number, op: string): number | Tensor {
  if (options === undefined) return lr;
  const o = checkOptions(options, op, ['lr']);
  if (o.lr === undefined) return lr;
  if (!isTensor(o.lr)) throw new AdvpropError('ERR_ARG', `${op}: options.lr must be a device scalar tensor (f64 [1]), got ${describeValue(o.lr)}`);
  return o.lr;
}
