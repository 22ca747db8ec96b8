// CONTRACT STUB (issue 4): the batch-norm helper replaces this body; the signature is agreed.
import type { Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';

export type BatchNormMode = 'train' | 'train-frozen' | 'eval';
export type BatchNormAct = 'none' | 'silu' | 'relu';
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
}

/** x NHWC [N,H,W,C] → same shape; differentiable in x, gamma and beta. Updates running stats in place in 'train'. */
export function multiBatchNorm(x: Tensor, params: MultiBatchNormParams, segments: Segments, opts: MultiBatchNormOptions = {}): Tensor {
  void x; void params; void segments; void opts;
  throw new AdvpropError('ERR_INTERNAL', 'multiBatchNorm: not built yet');
}
