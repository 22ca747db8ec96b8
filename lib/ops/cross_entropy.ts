// Softmax cross-entropy with label smoothing (targets (1 − ε)·onehot + ε/K, as TF and timm),
// differentiable in the logits, and the argmax accuracy. Host labels are checked here and
// uploaded to the logits' device; tensor labels are checked by the native front-end.
import * as k from '../kernels.js';
import { checkTensor, isTensor, type Tensor } from '../tensor.js';
import { tensor } from '../creation.js';
import { record, recordingNeeds } from '../autograd/node.js';
import { AdvpropError } from '../errors.js';
import { optionsArg } from '../args.js';
import { describeValue } from '../device.js';
import { isCapturing } from '../capture_state.js';

export type Labels = Int32Array | readonly number[] | Tensor; // i32 tensor [N] when a Tensor
export interface CrossEntropyOptions {
  labelSmoothing?: number; // default 0
  reduction?: 'mean' | 'none'; // 'mean' → scalar []; 'none' → per-sample [N]
}

function checkLogits(logits: unknown, op: string): Tensor {
  const Z = checkTensor(logits, op, 'logits');
  if (Z.rank !== 2 || Z.shape[1] < 1)
    throw new AdvpropError('ERR_SHAPE', `${op}: logits must be [N, K] with K >= 1, got [${Z.shape.join(', ')}]`);
  return Z;
}

/** Host labels as an Int32Array, each an integer in [0, K); ERR_ARG names the first bad one. */
function hostLabels(labels: Int32Array | readonly number[], n: number, kClasses: number, op: string): Int32Array {
  if (labels.length !== n)
    throw new AdvpropError('ERR_SHAPE', `${op}: ${labels.length} labels for logits with ${n} rows`);
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= kClasses)
      throw new AdvpropError('ERR_ARG', `${op}: labels[${i}] = ${describeValue(v)} is not an integer in [0, ${kClasses}) (logits [${n}, ${kClasses}])`);
  }
  return labels instanceof Int32Array ? labels : Int32Array.from(labels);
}

function labelsArg(labels: unknown, op: string): Labels {
  if (isTensor(labels) || labels instanceof Int32Array || Array.isArray(labels)) return labels as Labels;
  throw new AdvpropError('ERR_ARG', `${op}: labels must be an Int32Array, an array of numbers or an i32 tensor, got ${describeValue(labels)}`);
}

/**
 * The labels as an i32 tensor on the logits' device, whether the native front-end still has to
 * check their values, and whether this call created the tensor (and must free it).
 */
function deviceLabels(labels: Labels, Z: Tensor, op: string): { Y: Tensor; validate: boolean; owned: boolean } {
  const [n, kClasses] = Z.shape;
  if (!isTensor(labels))
    return { Y: tensor(hostLabels(labels, n, kClasses, op), [n], { dtype: 'i32', device: Z.device }), validate: false, owned: true };
  checkTensor(labels, op, 'labels');
  if (labels.dtype !== 'i32')
    throw new AdvpropError('ERR_DTYPE', `${op}: labels must be i32, got ${labels.dtype} [${labels.shape.join(', ')}]`);
  if (labels.rank !== 1 || labels.shape[0] !== n)
    throw new AdvpropError('ERR_SHAPE', `${op}: labels [${labels.shape.join(', ')}] must be [${n}] for logits [${n}, ${kClasses}]`);
  // As in every other op with two tensor inputs: moving them silently would hide a slow path.
  if (labels.device !== Z.device)
    throw new AdvpropError('ERR_DEVICE', `${op}: labels are on ${labels.device} but logits [${n}, ${kClasses}] are on ${Z.device}`);
  // A capture cannot read labels back; the kernels give NaN for an out-of-range label.
  return { Y: labels, validate: !isCapturing(Z.device), owned: false };
}

/** Softmax cross-entropy of logits [N,K] against integer labels; differentiable in logits. */
export function crossEntropy(logits: Tensor, labels: Labels, opts?: CrossEntropyOptions): Tensor {
  const op = 'crossEntropy';
  const Z = checkLogits(logits, op);
  const o = optionsArg(opts, op);
  const eps = o.labelSmoothing ?? 0;
  const reduction = o.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'none')
    throw new AdvpropError('ERR_ARG', `${op}: reduction must be 'mean' or 'none', got ${describeValue(reduction)}`);
  const n = Z.shape[0];
  if (reduction === 'mean' && n === 0) throw new AdvpropError('ERR_SHAPE', `${op}: the mean over an empty batch (logits [0, ${Z.shape[1]}]) is undefined`);
  const { Y, validate, owned } = deviceLabels(labelsArg(labels, op), Z, op);
  try {
    const needs = recordingNeeds([Z]);
    const { loss, lse } = k.crossEntropyForward(Z, Y, eps, validate);
    let out = loss;
    if (reduction === 'mean') {
      out = k.mean(loss);
      loss.dispose();
    }
    if (needs) {
      const scale = reduction === 'mean' ? 1 / n : 1;
      record(out, op, [Z], [Z, Y, lse], (dy, saved) => [k.crossEntropyBackward(saved[0]!, saved[1]!, saved[2]!, dy, scale, eps)], ['logits']);
    }
    lse.dispose();
    return out;
  } finally {
    if (owned) Y.dispose();
  }
}

/** Argmax predictions and how many equal the labels (no gradient). */
export function accuracy(logits: Tensor, labels: Labels): { correct: number; total: number; predictions: Int32Array } {
  const op = 'accuracy';
  const Z = checkLogits(logits, op);
  const [n, kClasses] = Z.shape;
  const L = labelsArg(labels, op);
  let host: Int32Array;
  if (isTensor(L)) {
    checkTensor(L, op, 'labels');
    if (L.dtype !== 'i32') throw new AdvpropError('ERR_DTYPE', `${op}: labels must be i32, got ${L.dtype} [${L.shape.join(', ')}]`);
    if (L.device !== Z.device) throw new AdvpropError('ERR_DEVICE', `${op}: labels are on ${L.device} but logits [${n}, ${kClasses}] are on ${Z.device}`);
    if (L.rank !== 1) throw new AdvpropError('ERR_SHAPE', `${op}: labels [${L.shape.join(', ')}] must be [${n}]`);
    host = hostLabels(L.toArray() as Int32Array, n, kClasses, op);
  } else {
    host = hostLabels(L, n, kClasses, op);
  }
  const pred = k.argmax(Z);
  const predictions = pred.toArray() as Int32Array;
  pred.dispose();
  let correct = 0;
  for (let i = 0; i < n; i++) if (predictions[i] === host[i]) correct++;
  return { correct, total: n, predictions };
}
