// Raw dropout / drop-connect kernel (no tape): ap.kernels.dropoutMask and dropConnectMask apply
// the Philox keep mask of (seed, offset) scaled by 1/(1 − rate) (native/include/advprop/dropout.h).
// The same call on dy with the same key is the backward. ap.kernels.dropConnectAdd adds a residual
// in the same pass: add(dropConnectMask(h), residual) bit for bit, one read of each and one write.
import { addon } from '../native.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';
import { checkSampleMap, nativeSampleMap, type SampleMap } from '../random.js';

// `samples`: where x's samples sit in a data-parallel global batch (ap.random's SampleMap);
// omitted, element and sample indices are x's own.
const map = (m: SampleMap | undefined, op: string) => nativeSampleMap(m === undefined ? undefined : checkSampleMap(m, op));

function apply(op: string, x: Tensor, rate: number, perSample: boolean, seed: number | bigint, offset: number | bigint, samples?: SampleMap): Tensor {
  const h = checkTensor(x, op, 'x')._handle(op, 'x');
  const m = map(samples, op);
  countKernel(op);
  return wrapHandle(addon.dropout(h, rate, perSample, seed, offset, m));
}

/** x * keep_i / (1 − rate), keep_i per element from Philox (seed, offset). */
export function dropoutMask(x: Tensor, rate: number, seed: number | bigint, offset: number | bigint, samples?: SampleMap): Tensor {
  return apply('dropout', x, rate, false, seed, offset, samples);
}

/** x * keep_n / (1 − rate), one keep_n per sample (dim 0) from Philox (seed, offset). */
export function dropConnectMask(x: Tensor, rate: number, seed: number | bigint, offset: number | bigint, samples?: SampleMap): Tensor {
  return apply('dropConnect', x, rate, true, seed, offset, samples);
}

/** residual + h * keep_n / (1 − rate) in one pass, keep_n as in dropConnectMask with the same key. */
export function dropConnectAdd(h: Tensor, residual: Tensor, rate: number, seed: number | bigint, offset: number | bigint, samples?: SampleMap): Tensor {
  const op = 'dropConnectAdd';
  const hh = checkTensor(h, op, 'h')._handle(op, 'h');
  const hr = checkTensor(residual, op, 'residual')._handle(op, 'residual');
  const m = map(samples, op);
  countKernel(op);
  return wrapHandle(addon.dropConnectAdd(hh, hr, rate, seed, offset, m));
}
