// CONTRACT STUB (issue 4): the pool/loss helper replaces this body; the signature is agreed.
import type { Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';

/** NHWC [N,H,W,C] → [N,C], the mean over H and W. Differentiable. */
export function globalAvgPool(x: Tensor): Tensor {
  void x;
  throw new AdvpropError('ERR_INTERNAL', 'globalAvgPool: not built yet');
}

/** Squeeze-excite's scale: x [N,H,W,C] times s [N,C] broadcast over H and W. Differentiable in both. */
export function channelScale(x: Tensor, s: Tensor): Tensor {
  void x; void s;
  throw new AdvpropError('ERR_INTERNAL', 'channelScale: not built yet');
}
