// dtype and device conversions. Their gradients convert back (the gradient of cast(x, 'bf16') for
// an f32 x is the incoming bf16 gradient cast to f32, exactly); a cast to an integer type ends the
// graph (integers carry no gradient).
import type { DTypeName } from '../native.js';
import * as k from '../kernels.js';
import { addTensorMethods, checkTensor, isFloatDType, type Tensor } from '../tensor.js';
import { canonicalDevice } from '../device.js';
import { record, recordingNeeds } from '../autograd/node.js';
import { autocastDType } from '../precision.js';

export function cast(x: Tensor, dtype: DTypeName): Tensor {
  const X = checkTensor(x, 'cast', 'x');
  const needs = isFloatDType(dtype) ? recordingNeeds([X]) : null;
  const out = k.cast(X, dtype);
  if (needs) {
    const from = X.dtype;
    record(out, 'cast', [X], [], (dy) => [k.cast(dy, from)], ['x']);
  }
  return out;
}

/**
 * An input of a GEMM-shaped op under the precision policy (lib/precision.ts): an f32 tensor cast
 * to the policy's 16-bit type (taped, so its gradient returns in f32), anything else itself.
 */
export function autocastInput(x: Tensor): Tensor {
  const dt = autocastDType();
  return dt !== null && x.dtype === 'f32' ? cast(x, dt) : x;
}

/**
 * Frees the casts autocastInput made for one op once it has run: the tape keeps what it needs
 * (shared handles of saved tensors, nodes by reference), so nothing waits for a tidy or the GC.
 */
export function disposeAutocast(pairs: readonly (readonly [Tensor | null, Tensor | null | undefined])[]): void {
  for (const [used, given] of pairs) if (used && used !== given) used.dispose();
}

/** The tensor on `device`; x itself when it is already there. */
export function to(x: Tensor, device: string): Tensor {
  const X = checkTensor(x, 'to', 'x');
  const dev = canonicalDevice(device, 'to');
  if (dev === X.device) return X;
  const needs = recordingNeeds([X]);
  const out = k.toDevice(X, dev);
  if (needs) {
    const from = X.device;
    record(out, 'to', [X], [], (dy) => [k.toDevice(dy, from)], ['x']);
  }
  return out;
}

export function clone(x: Tensor): Tensor {
  const X = checkTensor(x, 'clone', 'x');
  const needs = recordingNeeds([X]);
  const out = k.clone(X);
  if (needs) record(out, 'clone', [X], [], (dy) => [dy], ['x']);
  return out;
}

declare module '../tensor.js' {
  interface Tensor {
    clone(): Tensor;
    to(device: string): Tensor;
    cast(dtype: DTypeName): Tensor;
  }
}

addTensorMethods({
  clone(): Tensor { return clone(this); },
  to(device: string): Tensor { return to(this, device); },
  cast(dtype: DTypeName): Tensor { return cast(this, dtype); },
});
