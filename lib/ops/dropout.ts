// Dropout and drop-connect as differentiable ops. The mask is not stored: the gradient rule runs
// the same kernel on dy with the forward's Philox key, which regenerates the identical mask.
import { checkTensor, type Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { record, recordingNeeds } from '../autograd/node.js';
import * as k from '../kernels/dropout.js';
import { resolveKey } from '../random.js';

export interface DropOptions { seed?: number | bigint; offset?: number | bigint }

function drop(op: string, x: Tensor, rate: number, opts: DropOptions, perSample: boolean): Tensor {
  const X = checkTensor(x, op, 'x');
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1))
    throw new AdvpropError('ERR_ARG', `${op}: 'rate' must be a number in [0, 1), got ${describeValue(rate)}`);
  if (perSample && X.shape.length < 1)
    throw new AdvpropError('ERR_SHAPE', `${op}: x must have a batch dimension, got [${X.shape.join(', ')}]`);
  // Nothing is drawn for rate 0, so the global key does not move.
  if (rate === 0) return X;
  const { seed, offset } = resolveKey(opts ?? {}, op);
  const kernel = perSample ? k.dropConnectMask : k.dropoutMask;
  const needs = recordingNeeds([X]);
  const out = kernel(X, rate, seed, offset);
  if (needs) record(out, op, [X], [], (dy) => [kernel(dy, rate, seed, offset)], ['x']);
  return out;
}

/** Element-wise dropout with keep probability 1-rate, kept values scaled by 1/(1-rate). Differentiable. */
export function dropout(x: Tensor, rate: number, opts: DropOptions = {}): Tensor {
  return drop('dropout', x, rate, opts, false);
}

/** Drop-connect (stochastic depth): one keep decision per sample (dim 0), kept samples scaled by 1/(1-rate). Differentiable. */
export function dropConnect(x: Tensor, rate: number, opts: DropOptions = {}): Tensor {
  return drop('dropConnect', x, rate, opts, true);
}
