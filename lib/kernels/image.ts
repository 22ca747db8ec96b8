// Raw image-normalisation kernel (no tape: its input is data): ap.kernels.normalizeImage turns a
// u8 NHWC batch, uploaded as the loader's workers made it, into the model's float input on the
// batch's device (native/include/advprop/image.h has the arithmetic).
import { addon } from '../native.js';
import { checkTensor, wrapHandle, type Tensor } from '../tensor.js';
import { countKernel } from '../autograd/stats.js';
import { optionsArg } from '../args.js';

export interface NormalizeImageOptions {
  /** Per channel, or one value for all; default 0. */
  mean?: number | readonly number[];
  /** Per channel, or one value for all; non-zero; default 1. */
  std?: number | readonly number[];
  /** The output's dtype: f32 (default), bf16 or f16. */
  dtype?: 'f32' | 'bf16' | 'f16';
}

/**
 * (x / 255 − mean[c]) / std[c] for u8 NHWC x [N, H, W, C], computed as the loader and the model
 * did on the host: u = f32(x / 255), then u · f32(1/std) + f32(−mean/std), each step rounded to
 * f32. The defaults (mean 0, std 1) give x / 255 exactly, the [0, 1] images models take.
 */
export function normalizeImage(x: Tensor, options?: NormalizeImageOptions): Tensor {
  const op = 'normalizeImage';
  const opts = optionsArg(options, op);
  const h = checkTensor(x, op, 'x')._handle(op, 'x');
  // A single number stands for every channel (the front-end checks the count and the values).
  const channels = x.shape.length === 4 ? x.shape[3]! : 0;
  const perChannel = (v: unknown, fallback: number): unknown => (typeof v === 'number' || v === undefined ? new Array<number>(channels).fill(v ?? fallback) : v);
  countKernel(op);
  return wrapHandle(addon.normalizeImage(h, perChannel(opts.mean, 0) as number[], perChannel(opts.std, 1) as number[], opts.dtype ?? 'f32'));
}
