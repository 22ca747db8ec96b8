// A host batch on its way into a model: f32 images in [0, 1] are uploaded as they are; u8 images
// (the loader's output 'uint8') are uploaded as bytes and turned into the same f32 values on the
// device by kernels.normalizeImage, which moves a quarter of the bytes. Labels stay on the host.
import { normalizeImage } from '../kernels/image.js';
import { tensor } from '../creation.js';
import { checkTensor, isTensor, type Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { intArg } from '../args.js';

export function imageBatchTensor(x: Float32Array | Uint8Array, shape: readonly number[], device: string): Tensor {
  if (x instanceof Float32Array) return tensor(x, shape, { dtype: 'f32', device });
  const bytes = tensor(x, shape, { dtype: 'u8', device });
  try {
    return normalizeImage(bytes);
  } finally {
    bytes.dispose();
  }
}

/** Step labels as an Int32Array: given as one, as an array of numbers, or as an i32 tensor. */
export function stepLabels(y: unknown, op: string): Int32Array {
  if (y instanceof Int32Array) return y;
  if (Array.isArray(y)) return Int32Array.from(y.map((v, i) => intArg(v, op, `y[${i}]`, 0, 2 ** 31 - 1)));
  if (isTensor(y)) {
    checkTensor(y, op, 'y');
    if (y.dtype !== 'i32') throw new AdvpropError('ERR_DTYPE', `${op}: y must be i32, got ${y.dtype} [${y.shape.join(', ')}]`);
    return y.toArray() as Int32Array;
  }
  throw new AdvpropError('ERR_ARG', `${op}: y must be an Int32Array, an array of labels or an i32 tensor, got ${describeValue(y)}`);
}
