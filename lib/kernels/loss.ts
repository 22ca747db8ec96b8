// Raw kernels of the softmax cross-entropy with label smoothing and the row argmax
// (native/*/loss.*), with no tape. Labels are i32 tensors [N] on the logits' device.
import { addon } from '../native.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';

/**
 * Per-sample losses [N] of softmax cross-entropy against targets (1 − ε)·onehot + ε/K, and the
 * row log-sum-exp [N] that the backward kernel reuses. With validateLabels (the default) labels
 * outside [0, K) throw ERR_ARG naming the first; for a GPU tensor that reads the labels back.
 */
export function crossEntropyForward(logits: Tensor, labels: Tensor, labelSmoothing = 0, validateLabels = true): { loss: Tensor; lse: Tensor } {
  const op = 'crossEntropy';
  const hz = checkTensor(logits, op, 'logits')._handle(op, 'logits');
  const hy = checkTensor(labels, op, 'labels')._handle(op, 'labels');
  countKernel('crossEntropy');
  const [loss, lse] = addon.crossEntropy(hz, hy, labelSmoothing, validateLabels !== false);
  return { loss: wrapHandle(loss), lse: wrapHandle(lse) };
}

/**
 * dlogits[n, k] = (softmax(z)[n, k] − target[n, k]) · scale · dy[n]; dy is [N], or a scalar []
 * that every row shares (the mean reduction: scale 1/N).
 */
export function crossEntropyBackward(logits: Tensor, labels: Tensor, lse: Tensor, dy: Tensor, scale = 1, labelSmoothing = 0): Tensor {
  const op = 'crossEntropyBackward';
  const hz = checkTensor(logits, op, 'logits')._handle(op, 'logits');
  const hy = checkTensor(labels, op, 'labels')._handle(op, 'labels');
  const hl = checkTensor(lse, op, 'lse')._handle(op, 'lse');
  const hd = checkTensor(dy, op, 'dy')._handle(op, 'dy');
  countKernel(op);
  return wrapHandle(addon.crossEntropyBackward(hz, hy, hl, hd, scale, labelSmoothing));
}

/** i32 [N]: the index of each row's largest logit (ties → the lowest index; NaN never wins). */
export function argmax(logits: Tensor): Tensor {
  const h = checkTensor(logits, 'argmax', 'logits')._handle('argmax', 'logits');
  countKernel('argmax');
  return wrapHandle(addon.argmaxRows(h));
}
