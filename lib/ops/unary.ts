// Pointwise ops y = f(x; alpha). The activations' gradients come from the native backward
// kernels (dx = dy * f'(x)), which read the saved forward input; the affine ones need nothing.
import type { UnaryOpName } from '../native.js';
import * as k from '../kernels.js';
import { addTensorMethods, checkTensor, type Tensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';

// Checked here, not left to the binding: the raw kernel's default (alpha = 0) would turn a missing
// alpha into 0 before the addon sees it.
function scalar(v: unknown, op: string): number {
  if (typeof v !== 'number') throw new AdvpropError('ERR_ARG', `${op}: argument 'alpha' must be a number, got ${describeValue(v)}`);
  return v;
}

export function scale(x: Tensor, alpha: number): Tensor {
  const X = checkTensor(x, 'scale', 'x');
  const a = scalar(alpha, 'scale');
  const needs = recordingNeeds([X]);
  const out = k.scale(X, a);
  if (needs) record(out, 'scale', [X], [], (dy) => [k.scale(dy, a)], ['x']);
  return out;
}

export const mulScalar = scale;

export function addScalar(x: Tensor, alpha: number): Tensor {
  const X = checkTensor(x, 'addScalar', 'x');
  const a = scalar(alpha, 'addScalar');
  const needs = recordingNeeds([X]);
  const out = k.addScalar(X, a);
  if (needs) record(out, 'addScalar', [X], [], (dy) => [dy], ['x']);
  return out;
}

export function neg(x: Tensor): Tensor {
  const X = checkTensor(x, 'neg', 'x');
  const needs = recordingNeeds([X]);
  const out = k.neg(X);
  if (needs) record(out, 'neg', [X], [], (dy) => [k.neg(dy)], ['x']);
  return out;
}

function activation(op: UnaryOpName, x: Tensor): Tensor {
  const X = checkTensor(x, op, 'x');
  const needs = recordingNeeds([X]);
  const out = k.unary(op, X, 0);
  if (needs) record(out, op, [X], [X], (dy, [sx]) => [k.unaryBackward(op, sx!, dy, 0)], ['x']);
  return out;
}

/** x * sigmoid(x) (swish). */
export const silu = (x: Tensor): Tensor => activation('silu', x);
export const sigmoid = (x: Tensor): Tensor => activation('sigmoid', x);
export const relu = (x: Tensor): Tensor => activation('relu', x);
export const exp = (x: Tensor): Tensor => activation('exp', x);
export const log = (x: Tensor): Tensor => activation('log', x);
export const square = (x: Tensor): Tensor => activation('square', x);

declare module '../tensor.js' {
  interface Tensor {
    scale(alpha: number): Tensor;
    mulScalar(alpha: number): Tensor;
    addScalar(alpha: number): Tensor;
    neg(): Tensor;
    silu(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    square(): Tensor;
  }
}

addTensorMethods({
  scale(alpha: number): Tensor { return scale(this, alpha); },
  mulScalar(alpha: number): Tensor { return scale(this, alpha); },
  addScalar(alpha: number): Tensor { return addScalar(this, alpha); },
  neg(): Tensor { return neg(this); },
  silu(): Tensor { return silu(this); },
  sigmoid(): Tensor { return sigmoid(this); },
  relu(): Tensor { return relu(this); },
  exp(): Tensor { return exp(this); },
  log(): Tensor { return log(this); },
  square(): Tensor { return square(this); },
});
