// The differentiable multi-domain ("dual") batch norm with a fused activation. One forward
// kernel (statistics, normalise + affine + activation, running-stat update in 'train') and one
// backward kernel (x, gamma and beta together: the dx of the train modes needs the same two
// per-channel sums that dgamma and dbeta are made of).
import type { BatchNormAct, BatchNormMode } from '../native.js';
import type { Tensor } from '../tensor.js';
import * as k from '../kernels/multi_batch_norm.js';
import { checkTensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';

export type { BatchNormMode, BatchNormAct } from '../native.js';
/** [domain, count] pairs covering the batch in order. */
export type Segments = ReadonlyArray<readonly [number, number]>;
export interface MultiBatchNormParams {
  gamma: Tensor; beta: Tensor; runningMean: Tensor; runningVar: Tensor; // each [K, C]
}
export interface MultiBatchNormOptions {
  mode?: BatchNormMode; // default 'train'
  momentum?: number; // TF convention: running = m*running + (1-m)*batch; default 0.99
  eps?: number; // default 1e-3
  act?: BatchNormAct; // default 'none'
  /**
   * In 'eval', round the activation as the training forward does (default false: as inference
   * does; the cpu rounds SiLU two ways, within about an ulp of each other, native/cpu/bn_math.h).
   * For a training forward that normalises with statistics it is given, as data-parallel sync BN
   * does, so that it keeps a one-process run's bits.
   */
  trainingMath?: boolean;
}

/**
 * x NHWC [N,H,W,C] → same shape; differentiable in x, gamma and beta. Updates running stats in
 * place in 'train' (unbiased variance; a segment with a single element per channel, count·H·W
 * = 1, feeds its biased variance 0 instead). In 'eval' the running statistics are constants, so
 * x's gradient is the plain affine map (times the activation's derivative).
 */
export function multiBatchNorm(x: Tensor, params: MultiBatchNormParams, segments: Segments, opts: MultiBatchNormOptions = {}): Tensor {
  const op = 'multiBatchNorm';
  const o = k.normalizeBatchNormOptions(opts, op);
  const X = checkTensor(x, op, 'x');
  const G = checkTensor(params?.gamma, op, 'gamma');
  const B = checkTensor(params?.beta, op, 'beta');
  const needs = recordingNeeds([X, G, B]);
  const { y, mean, invstd } = k.multiBatchNorm(X, params, segments, o);
  if (needs) {
    // A copy for the backward pass, so that a caller who reuses the array cannot change it; the
    // forward has checked its form.
    const segs = segments.map(([d, c]) => [d, c] as const);
    record(y, op, [X, G, B], [X, G, B, mean, invstd], (dy, saved, need) => {
      const [sx, sg, sb, sm, si] = saved;
      const g = k.multiBatchNormBackward(dy, sx!, { gamma: sg!, beta: sb! }, sm!, si!, segs, o);
      const out = [g.dx, g.dgamma, g.dbeta];
      return out.map((t, i) => {
        if (need[i]) return t;
        t.dispose();
        return null;
      });
    }, ['x', 'gamma', 'beta']);
  }
  mean.dispose();
  invstd.dispose();
  return y;
}
