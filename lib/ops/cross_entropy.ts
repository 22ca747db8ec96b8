// CONTRACT STUB (issue 4): the pool/loss helper replaces this body; the signature is agreed.
import type { Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';

export type Labels = Int32Array | readonly number[] | Tensor; // i32 tensor [N] when a Tensor
export interface CrossEntropyOptions {
  labelSmoothing?: number; // default 0
  reduction?: 'mean' | 'none'; // 'mean' → scalar []; 'none' → per-sample [N]
}

/** Softmax cross-entropy of logits [N,K] against integer labels; differentiable in logits. */
export function crossEntropy(logits: Tensor, labels: Labels, opts: CrossEntropyOptions = {}): Tensor {
  void logits; void labels; void opts;
  throw new AdvpropError('ERR_INTERNAL', 'crossEntropy: not built yet');
}

/** Argmax predictions and how many equal the labels (no gradient). */
export function accuracy(logits: Tensor, labels: Labels): { correct: number; total: number; predictions: Int32Array } {
  void logits; void labels;
  throw new AdvpropError('ERR_INTERNAL', 'accuracy: not built yet');
}
