// A host batch on its way into a model: f32 images in [0, 1] are uploaded as they are; u8 images
// (the loader's output 'uint8') are uploaded as bytes and turned into the same f32 values on the
// device by kernels.normalizeImage, which moves a quarter of the bytes.
import { normalizeImage } from '../kernels/image.js';
import { tensor } from '../creation.js';
import type { Tensor } from '../tensor.js';

export function imageBatchTensor(x: Float32Array | Uint8Array, shape: readonly number[], device: string): Tensor {
  if (x instanceof Float32Array) return tensor(x, shape, { dtype: 'f32', device });
  const bytes = tensor(x, shape, { dtype: 'u8', device });
  try {
    return normalizeImage(bytes);
  } finally {
    bytes.dispose();
  }
}
