// sum and mean over axes. Their gradient spreads dy back over the reduced axes
// (kernels.sumBackward), scaled by 1/count for the mean.
import * as k from '../kernels.js';
import { addTensorMethods, checkTensor, type Tensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';

function reduction(x: Tensor, axes: number | readonly number[] | undefined, keepdims: boolean, mean: boolean): Tensor {
  const op = mean ? 'mean' : 'sum';
  const X = checkTensor(x, op, 'x');
  const needs = recordingNeeds([X]);
  const out = mean ? k.mean(X, axes, keepdims) : k.sum(X, axes, keepdims);
  if (needs) {
    const xs = X.shape;
    const ax = k.normalizeAxes(axes, xs.length, op);
    record(out, op, [X], [], (dy) => [k.sumBackward(dy, xs, ax, mean)], ['x']);
  }
  return out;
}

/** Sum over `axes` (negative from the end; omitted or [] = all axes). */
export function sum(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  return reduction(x, axes, keepdims, false);
}

export function mean(x: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  return reduction(x, axes, keepdims, true);
}

declare module '../tensor.js' {
  interface Tensor {
    sum(axes?: number | readonly number[], keepdims?: boolean): Tensor;
    mean(axes?: number | readonly number[], keepdims?: boolean): Tensor;
  }
}

addTensorMethods({
  sum(axes?: number | readonly number[], keepdims = false): Tensor { return sum(this, axes, keepdims); },
  mean(axes?: number | readonly number[], keepdims = false): Tensor { return mean(this, axes, keepdims); },
});
