// Raw multi-domain batch-norm kernels (native/*/batchnorm.*), no tape: the forward returns the
// per-segment mean and invstd that the backward recomputes xhat from.
import { addon, type BatchNormAct, type BatchNormMode, type NativeTensor } from '../native.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';
import { optionsArg } from '../args.js';
import type { MultiBatchNormOptions, MultiBatchNormParams, Segments } from '../ops/multi_batch_norm.js';

export interface NormalBatchNormOptions { mode: BatchNormMode; momentum: number; eps: number; act: BatchNormAct; trainingMath: boolean }

/**
 * Defaults filled in: mode 'train', momentum 0.99 (TF convention), eps 1e-3, act 'none',
 * trainingMath false (checked here: the binding reads it only when given). The
 * values are checked by the native front-end (check_bn_args), like the segments.
 */
export function normalizeBatchNormOptions(o: MultiBatchNormOptions | undefined, op: string): NormalBatchNormOptions {
  const opts = optionsArg(o, op);
  const trainingMath = opts.trainingMath ?? false;
  if (typeof trainingMath !== 'boolean') throw new AdvpropError('ERR_ARG', `${op}: trainingMath must be a boolean, got ${describeValue(trainingMath)}`);
  return { mode: opts.mode ?? 'train', act: opts.act ?? 'none', momentum: opts.momentum ?? 0.99, eps: opts.eps ?? 1e-3, trainingMath };
}

/**
 * [[domain, count], ...] checked for form, as a new array.
 * @deprecated The kernels no longer call it: the binding reads the pairs and the native front-end
 * checks them with the domains and the batch, so calling it first only repeats that.
 */
export function checkSegments(segments: Segments, op: string): number[][] {
  if (!Array.isArray(segments) || segments.length === 0)
    throw new AdvpropError('ERR_ARG', `${op}: segments must be a non-empty array of [domain, count] pairs, got ${describeValue(segments)}`);
  return segments.map((s, i) => {
    if (!Array.isArray(s) || s.length !== 2 || !Number.isSafeInteger(s[0]) || !Number.isSafeInteger(s[1]) || s[0] < 0 || s[1] < 1)
      throw new AdvpropError('ERR_ARG', `${op}: segments[${i}] must be [domain >= 0, count >= 1] integers, got ${describeValue(s)}`);
    return [s[0], s[1]];
  });
}

function params(p: MultiBatchNormParams, op: string, withRunning: boolean): NativeTensor[] {
  if (p == null || typeof p !== 'object') throw new AdvpropError('ERR_ARG', `${op}: params must be {gamma, beta, runningMean, runningVar}, got ${describeValue(p)}`);
  const names = withRunning ? ['gamma', 'beta', 'runningMean', 'runningVar'] as const : ['gamma', 'beta'] as const;
  return names.map((n) => checkTensor(p[n], op, n)._handle(op, n));
}

export interface MultiBatchNormForward { y: Tensor; mean: Tensor; invstd: Tensor }
export interface MultiBatchNormGrads { dx: Tensor; dgamma: Tensor; dbeta: Tensor }

/**
 * y = act(gamma[d] * (x - mean) * invstd + beta[d]) per segment of domain d; x NHWC [N, H, W, C],
 * params [K, C]. In 'train' the running statistics are updated in place. mean/invstd are [S, C]
 * (one row per segment): batch statistics in the train modes, the running ones in 'eval'.
 */
export function multiBatchNorm(x: Tensor, p: MultiBatchNormParams, segments: Segments, opts?: MultiBatchNormOptions): MultiBatchNormForward {
  const op = 'multiBatchNorm';
  const o = normalizeBatchNormOptions(opts, op);
  const hx = checkTensor(x, op, 'x')._handle(op, 'x');
  const [g, b, rm, rv] = params(p, op, true);
  countKernel(op);
  const [y, mean, invstd] = addon.multiBatchNorm(hx, g, b, rm, rv, segments, o.mode, o.act, o.momentum, o.eps, o.trainingMath);
  return { y: wrapHandle(y), mean: wrapHandle(mean), invstd: wrapHandle(invstd) };
}

/**
 * Gradients of multiBatchNorm for x, gamma and beta ([K, C]; a domain without a segment gets 0),
 * from the forward's input x and its mean/invstd; the activation's derivative is recomputed.
 */
export function multiBatchNormBackward(dy: Tensor, x: Tensor, p: Pick<MultiBatchNormParams, 'gamma' | 'beta'>, mean: Tensor, invstd: Tensor,
  segments: Segments, opts?: MultiBatchNormOptions): MultiBatchNormGrads {
  const op = 'multiBatchNormBackward';
  const o = normalizeBatchNormOptions(opts, op);
  const hdy = checkTensor(dy, op, 'dy')._handle(op, 'dy');
  const hx = checkTensor(x, op, 'x')._handle(op, 'x');
  const [g, b] = params(p as MultiBatchNormParams, op, false);
  const hm = checkTensor(mean, op, 'mean')._handle(op, 'mean');
  const hi = checkTensor(invstd, op, 'invstd')._handle(op, 'invstd');
  countKernel(op);
  const [dx, dgamma, dbeta] = addon.multiBatchNormBackward(hdy, hx, g, b, hm, hi, segments, o.mode, o.act, o.eps);
  return { dx: wrapHandle(dx), dgamma: wrapHandle(dgamma), dbeta: wrapHandle(dbeta) };
}
