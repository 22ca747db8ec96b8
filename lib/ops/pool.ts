// Global average pooling (the EfficientNet head and squeeze-excite's squeeze) and the channel
// scale of squeeze-excite (x · s broadcast over H and W), differentiable. Their rules run only
// the gradient kernels that are needed.
import * as k from '../kernels.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';

/** NHWC [N,H,W,C] → [N,C], the mean over H and W. Differentiable. */
export function globalAvgPool(x: Tensor): Tensor {
  const X = checkTensor(x, 'globalAvgPool', 'x');
  const needs = recordingNeeds([X]);
  const out = k.globalAvgPool(X);
  if (needs) {
    const xs = X.shape;
    record(out, 'globalAvgPool', [X], [], (dy) => [k.globalAvgPoolBackward(dy, xs)], ['x']);
  }
  return out;
}

/** Squeeze-excite's scale: x [N,H,W,C] times s [N,C] broadcast over H and W. Differentiable in both. */
export function channelScale(x: Tensor, s: Tensor): Tensor {
  const X = checkTensor(x, 'channelScale', 'x');
  const S = checkTensor(s, 'channelScale', 's');
  const needs = recordingNeeds([X, S]);
  const out = k.channelScale(X, S);
  if (needs) {
    // s is needed for dx; x only for ds, so x is kept alive only when s wants a gradient.
    record(out, 'channelScale', [X, S], [S, needs[1] ? X : null], (dy, saved, need) => {
      // Without x (no ds wanted), dy stands in for it: the kernel reads x only to form ds.
      const g = k.channelScaleBackward(saved[1] ?? dy, saved[0]!, dy, { dx: need[0], ds: need[1] });
      return [g.dx, g.ds];
    }, ['x', 's']);
  }
  return out;
}
