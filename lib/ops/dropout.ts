// Dropout and drop-connect as differentiable ops. The mask is not stored: the gradient rule runs
// the same kernel on dy with the forward's Philox key, which regenerates the identical mask.
// dropConnectAdd fuses the MBConv skip connection, add(dropConnect(h), residual), into one pass.
import { checkTensor, type Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { optionsArg } from '../args.js';
import { record, recordingNeeds } from '../autograd/node.js';
import * as k from '../kernels/dropout.js';
import { checkSampleMap, currentSampleMap, resolveKey, type SampleMap } from '../random.js';
import { add } from './arithmetic.js';

/**
 * seed/offset: an explicit Philox key (default: the next global key). samples: where x's samples
 * sit in a data-parallel global batch (default: the enclosing withSampleMap's, else x's own).
 */
export interface DropOptions { seed?: number | bigint; offset?: number | bigint; samples?: SampleMap }

function samplesOf(opts: DropOptions | undefined, op: string): SampleMap | undefined {
  return opts?.samples !== undefined ? checkSampleMap(opts.samples, op) : currentSampleMap();
}

function checkRate(op: string, rate: unknown): void {
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1))
    throw new AdvpropError('ERR_ARG', `${op}: 'rate' must be a number in [0, 1), got ${describeValue(rate)}`);
}

function checkBatch(op: string, x: Tensor, arg: string): void {
  if (x.shape.length < 1)
    throw new AdvpropError('ERR_SHAPE', `${op}: ${arg} must have a batch dimension, got [${x.shape.join(', ')}]`);
}

function drop(op: string, x: Tensor, rate: number, opts: DropOptions | undefined, perSample: boolean): Tensor {
  optionsArg(opts, op);
  const X = checkTensor(x, op, 'x');
  checkRate(op, rate);
  if (perSample) checkBatch(op, X, 'x');
  // Nothing is drawn for rate 0, so the global key does not move.
  if (rate === 0) return X;
  const samples = samplesOf(opts, op);
  const { seed, offset } = resolveKey(opts, op);
  const kernel = perSample ? k.dropConnectMask : k.dropoutMask;
  const needs = recordingNeeds([X]);
  const out = kernel(X, rate, seed, offset, samples);
  if (needs) record(out, op, [X], [], (dy) => [kernel(dy, rate, seed, offset, samples)], ['x']);
  return out;
}

/** Element-wise dropout with keep probability 1-rate, kept values scaled by 1/(1-rate). Differentiable. */
export function dropout(x: Tensor, rate: number, opts?: DropOptions): Tensor {
  return drop('dropout', x, rate, opts, false);
}

/** Drop-connect (stochastic depth): one keep decision per sample (dim 0), kept samples scaled by 1/(1-rate). Differentiable. */
export function dropConnect(x: Tensor, rate: number, opts?: DropOptions): Tensor {
  return drop('dropConnect', x, rate, opts, true);
}

const shapeStr = (t: Tensor): string => `[${t.shape.join(', ')}]`;

// The native kernel checks these too; checking here as well makes rate 0, which is a plain add
// (and add broadcasts), refuse the same inputs with the same codes.
function checkPair(op: string, h: Tensor, r: Tensor): void {
  if (h.device !== r.device)
    throw new AdvpropError('ERR_DEVICE', `${op}: 'h' is on ${h.device} but 'residual' is on ${r.device}`);
  if (h.dtype !== r.dtype)
    throw new AdvpropError('ERR_DTYPE', `${op}: 'h' is ${h.dtype} ${shapeStr(h)} but 'residual' is ${r.dtype} ${shapeStr(r)}`);
  if (h.shape.length !== r.shape.length || h.shape.some((s, i) => s !== r.shape[i]))
    throw new AdvpropError('ERR_SHAPE', `${op}: 'h' ${shapeStr(h)} and 'residual' ${shapeStr(r)} must have the same shape`);
}

/**
 * residual + dropConnect(h, rate) in one kernel pass, equal bit for bit to
 * add(dropConnect(h, rate, key), residual) with the same key, and taking one key as dropConnect
 * does (none for rate 0, which is add(h, residual)). h and residual: same shape, dtype and device.
 * Differentiable in both.
 */
export function dropConnectAdd(h: Tensor, residual: Tensor, rate: number, opts?: DropOptions): Tensor {
  const op = 'dropConnectAdd';
  optionsArg(opts, op);
  const H = checkTensor(h, op, 'h');
  const R = checkTensor(residual, op, 'residual');
  checkRate(op, rate);
  checkPair(op, H, R);
  checkBatch(op, H, 'h');
  if (rate === 0) return add(H, R);
  const samples = samplesOf(opts, op);
  const { seed, offset } = resolveKey(opts, op);
  const needs = recordingNeeds([H, R]);
  const out = k.dropConnectAdd(H, R, rate, seed, offset, samples);
  // d(residual) is dy itself, as add passes it on: no copy.
  if (needs) record(out, op, [H, R], [], (dy, _s, need) => [
    need[0] ? k.dropConnectMask(dy, rate, seed, offset, samples) : null,
    need[1] ? dy : null,
  ], ['h', 'residual']);
  return out;
}
