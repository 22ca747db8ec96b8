// The fully connected layer y = x · wᵀ + b. Its rule runs only the GEMMs whose gradients are
// needed: an attack asking for the input gradient runs linearBackwardInput and nothing else.
import * as k from '../kernels.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';
import { autocastInput, disposeAutocast } from './cast.js';
import { tf32Allowed, withGemmMath } from '../precision.js';

export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  const X = autocastInput(checkTensor(x, 'linear', 'x'));
  const W = autocastInput(checkTensor(w, 'linear', 'w'));
  const B = b == null ? null : autocastInput(checkTensor(b, 'linear', 'b'));
  // The casts are freed on the way out, also when a kernel refuses its arguments.
  try {
    const inputs = B ? [X, W, B] : [X, W];
    const needs = recordingNeeds(inputs);
    const tf32 = tf32Allowed();
    const out = withGemmMath(tf32, () => k.linear(X, W, B));
    if (needs) {
      // Saved: w for the input gradient, x for the weight gradient (slot order matches).
      record(out, 'linear', inputs, [needs[0] ? W : null, needs[1] ? X : null], (dy, saved, need) => withGemmMath(tf32, () => [
        need[0] ? k.linearBackwardInput(dy, saved[0]!) : null,
        need[1] ? k.linearBackwardWeight(dy, saved[1]!) : null,
        ...(B ? [need[2] ? k.sum(dy, [0]) : null] : []),
      ]), B ? ['x', 'w', 'b'] : ['x', 'w']);
    }
    return out;
  } finally {
    disposeAutocast([[X, x], [W, w], [B, b]]);
  }
}
