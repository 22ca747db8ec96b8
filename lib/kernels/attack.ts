// Raw PGD kernels (no tape): ap.kernels.pgdStep and ap.kernels.pgdRandomStart. lib/ops/attack.ts
// gives them their option objects; native/include/advprop/attack.h defines the arithmetic. The
// options are passed on with their defaults filled in: the native front-end checks their values.
import { addon, type AttackNorm, type NativeTensor } from '../native.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';
import { checkSampleMap, nativeSampleMap, type SampleMap } from '../random.js';

export type { AttackNorm };

function numberOrTensor(v: unknown, op: string, arg: string): number | NativeTensor {
  if (typeof v === 'number') return v;
  if (v === undefined || v === null) throw new AdvpropError('ERR_ARG', `${op}: '${arg}' is required (a number or a per-sample [N] tensor)`);
  return checkTensor(v, op, arg)._handle(op, arg);
}

export interface PgdStepOptions {
  eps: number | Tensor; // scalar or per-sample [N]
  alpha: number | Tensor; // scalar or per-sample [N]
  min?: number; // default 0
  max?: number; // default 1
  norm?: AttackNorm; // default 'linf'
}
export interface RandomStartOptions {
  eps: number | Tensor; min?: number; max?: number; norm?: AttackNorm;
  seed?: number | bigint; offset?: number | bigint;
  /** Where x's samples sit in a data-parallel global batch (ap.random's SampleMap); default x's own indices. */
  samples?: SampleMap;
}

function options<T extends object>(o: unknown, op: string): T {
  if (typeof o !== 'object' || o === null)
    throw new AdvpropError('ERR_ARG', `${op}: options must be an object with 'eps'${op === 'pgdStep' ? " and 'alpha'" : ''}, got ${describeValue(o)}`);
  return o as T;
}

/**
 * The next PGD iterate. linf: clamp(clamp(xAdv + alpha·sign(grad), x − eps, x + eps), min, max);
 * l2: a step of length alpha along grad/‖grad‖ per sample, projected onto the eps-ball around x
 * per sample, then clamped. eps and alpha: numbers or per-sample [N] tensors. min/max default 0/1.
 */
export function pgdStep(xAdv: Tensor, grad: Tensor, x: Tensor, opts: PgdStepOptions): Tensor {
  const op = 'pgdStep';
  const o = options<PgdStepOptions>(opts, op);
  const ha = checkTensor(xAdv, op, 'xAdv')._handle(op, 'xAdv');
  const hg = checkTensor(grad, op, 'grad')._handle(op, 'grad');
  const hx = checkTensor(x, op, 'x')._handle(op, 'x');
  const e = numberOrTensor(o.eps, op, 'eps'), a = numberOrTensor(o.alpha, op, 'alpha');
  const { min = 0, max = 1, norm = 'linf' } = o;
  countKernel(op);
  return wrapHandle(addon.pgdStep(ha, hg, hx, e, a, min, max, norm));
}

/**
 * x plus uniform noise in the eps-ball (L∞ box or L2 ball), clamped to [min, max]. The raw kernel
 * needs an explicit seed (offset default 0); ap.pgdRandomStart falls back to the global key.
 */
export function pgdRandomStart(x: Tensor, opts: RandomStartOptions): Tensor {
  const op = 'pgdRandomStart';
  const o = options<RandomStartOptions>(opts, op);
  const hx = checkTensor(x, op, 'x')._handle(op, 'x');
  const e = numberOrTensor(o.eps, op, 'eps');
  if (o.seed === undefined) throw new AdvpropError('ERR_ARG', `${op}: the raw kernel needs 'seed' (ap.pgdRandomStart uses the global key)`);
  const { min = 0, max = 1, norm = 'linf' } = o;
  const m = nativeSampleMap(o.samples === undefined ? undefined : checkSampleMap(o.samples, op));
  countKernel(op);
  return wrapHandle(addon.pgdRandomStart(hx, e, min, max, norm, o.seed, o.offset ?? 0, m));
}
