// add, sub, mul, div with the trailing-dimensions broadcast of the native kernels (same shape,
// per-channel [C] over NHWC, scalars). The broadcast operand's gradient is summed back to its
// shape with sumToShape. A number operand becomes the scalar op (addScalar, scale).
import * as k from '../kernels.js';
import { addTensorMethods, checkTensor, type Tensor } from '../tensor.js';
import { record, recordingNeeds } from '../autograd/node.js';
import * as unary from './unary.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** dy summed down to `shape` (dy itself when nothing was broadcast). */
export function reduceTo(dy: Tensor, shape: readonly number[]): Tensor {
  return sameShape(dy.shape, shape) ? dy : k.sumToShape(dy, shape);
}

function operands(op: string, a: unknown, b: unknown): [Tensor, Tensor] {
  return [checkTensor(a, op, 'a'), checkTensor(b, op, 'b')];
}

function scalarOperand(op: string, b: unknown): number | null {
  if (typeof b === 'number') return b;
  if (b === null || typeof b !== 'object') throw new AdvpropError('ERR_ARG', `${op}: argument 'b' must be a Tensor or a number, got ${describeValue(b)}`);
  return null;
}

export function add(a: Tensor, b: Tensor | number): Tensor {
  const s = scalarOperand('add', b);
  if (s !== null) return unary.addScalar(checkTensor(a, 'add', 'a'), s);
  const [A, B] = operands('add', a, b);
  const needs = recordingNeeds([A, B]);
  const out = k.add(A, B);
  if (needs) {
    const [as, bs] = [A.shape, B.shape];
    record(out, 'add', [A, B], [], (dy, _s, need) => [
      need[0] ? reduceTo(dy, as) : null,
      need[1] ? reduceTo(dy, bs) : null,
    ], ['a', 'b']);
  }
  return out;
}

export function sub(a: Tensor, b: Tensor | number): Tensor {
  const s = scalarOperand('sub', b);
  if (s !== null) return unary.addScalar(checkTensor(a, 'sub', 'a'), -s);
  const [A, B] = operands('sub', a, b);
  const needs = recordingNeeds([A, B]);
  const out = k.sub(A, B);
  if (needs) {
    const [as, bs] = [A.shape, B.shape];
    record(out, 'sub', [A, B], [], (dy, _s, need) => [
      need[0] ? reduceTo(dy, as) : null,
      need[1] ? k.neg(reduceTo(dy, bs)) : null,
    ], ['a', 'b']);
  }
  return out;
}

export function mul(a: Tensor, b: Tensor | number): Tensor {
  const s = scalarOperand('mul', b);
  if (s !== null) return unary.scale(checkTensor(a, 'mul', 'a'), s);
  const [A, B] = operands('mul', a, b);
  const needs = recordingNeeds([A, B]);
  const out = k.mul(A, B);
  if (needs) {
    const [as, bs] = [A.shape, B.shape];
    // da reads b and db reads a: save only what a needed gradient will read.
    record(out, 'mul', [A, B], [needs[1] ? A : null, needs[0] ? B : null], (dy, [sa, sb], need) => [
      need[0] ? reduceTo(k.mul(dy, sb!), as) : null,
      need[1] ? reduceTo(k.mul(dy, sa!), bs) : null,
    ], ['a', 'b']);
  }
  return out;
}

export function div(a: Tensor, b: Tensor | number): Tensor {
  const s = scalarOperand('div', b);
  if (s !== null) return unary.scale(checkTensor(a, 'div', 'a'), 1 / s);
  const [A, B] = operands('div', a, b);
  const needs = recordingNeeds([A, B]);
  const out = k.div(A, B);
  if (needs) {
    const [as, bs] = [A.shape, B.shape];
    // y = a / b: da = dy / b, db = -dy * a / b^2 = -(dy / b) * y.
    record(out, 'div', [A, B], [B, needs[1] ? out : null], (dy, [sb, sy], need) => {
      const q = k.div(dy, sb!);
      return [
        need[0] ? reduceTo(q, as) : null,
        need[1] ? k.neg(reduceTo(k.mul(q, sy!), bs)) : null,
      ];
    }, ['a', 'b']);
  }
  return out;
}

declare module '../tensor.js' {
  interface Tensor {
    add(b: Tensor | number): Tensor;
    sub(b: Tensor | number): Tensor;
    mul(b: Tensor | number): Tensor;
    div(b: Tensor | number): Tensor;
  }
}

addTensorMethods({
  add(b: Tensor | number): Tensor { return add(this, b); },
  sub(b: Tensor | number): Tensor { return sub(this, b); },
  mul(b: Tensor | number): Tensor { return mul(this, b); },
  div(b: Tensor | number): Tensor { return div(this, b); },
});
