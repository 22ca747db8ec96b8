// reshape, and slicing / concatenation along the batch axis (how AdvProp builds and splits its
// 2N clean + adversarial batch). reshape and slice0 are views; their gradients are a reshape and
// a zero-padded copy, concat0's are views of dy.
import * as k from '../kernels.js';
import { addTensorMethods, checkTensor, type Tensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const X = checkTensor(x, 'reshape', 'x');
  const needs = recordingNeeds([X]);
  const out = k.reshape(X, shape);
  if (needs) {
    const xs = X.shape;
    record(out, 'reshape', [X], [], (dy) => [k.reshape(dy, xs)], ['x']);
  }
  return out;
}

export function slice0(x: Tensor, start: number, length: number): Tensor {
  const X = checkTensor(x, 'slice', 'x');
  const needs = recordingNeeds([X]);
  const out = k.slice0(X, start, length);
  if (needs) {
    const rows = X.shape[0];
    record(out, 'slice0', [X], [], (dy) => [k.slice0Backward(dy, rows, start)], ['x']);
  }
  return out;
}

export function concat0(xs: readonly Tensor[]): Tensor {
  if (!Array.isArray(xs)) throw new AdvpropError('ERR_ARG', `concat: xs must be an array of tensors, got ${describeValue(xs)}`);
  const X = xs.map((t, i) => checkTensor(t, 'concat', `xs[${i}]`));
  const needs = recordingNeeds(X);
  const out = k.concat0(X);
  if (needs) {
    const rows = X.map((t) => t.shape[0]);
    record(out, 'concat0', X, [], (dy, _s, need) => {
      let start = 0;
      return rows.map((r, i) => {
        const g = need[i] ? k.slice0(dy, start, r) : null;
        start += r;
        return g;
      });
    }, X.map((_, i) => `xs[${i}]`));
  }
  return out;
}

declare module '../tensor.js' {
  interface Tensor {
    reshape(shape: readonly number[]): Tensor;
    flatten(): Tensor;
    slice0(start: number, length: number): Tensor;
  }
}

addTensorMethods({
  reshape(shape: readonly number[]): Tensor { return reshape(this, shape); },
  flatten(): Tensor { return reshape(this, [this.numel]); },
  slice0(start: number, length: number): Tensor { return slice0(this, start, length); },
});
