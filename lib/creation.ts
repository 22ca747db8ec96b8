// Creation functions: tensors from values, fills and seeded random fills. Every one checks its
// arguments the way the addon does, so errors read the same from either side.
import { addon, type NativeTensor } from './native.js';
import { AdvpropError } from './errors.js';
import { canonicalDevice, defaultDevice, describeValue } from './device.js';
import { resolveKey } from './random.js';
import { optionsArg } from './args.js';
import { flatten, inferShape, isInt32, numelOf, toHostArray, type TensorLike } from './host_values.js';
import { checkDType, checkShape, checkTensor, wrapHandle, type DType, type Tensor } from './tensor.js';

export type { TensorLike } from './host_values.js';

export interface CreateOptions {
  device?: string;
  dtype?: DType;
  requiresGrad?: boolean;
}

const checkOptions = (opts: unknown, op: string): CreateOptions => optionsArg(opts as CreateOptions | undefined, op);

function resolveDevice(opts: CreateOptions, op: string): string {
  return opts.device === undefined ? defaultDevice() : canonicalDevice(opts.device, op);
}

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad !== undefined) {
    try {
      t.requiresGrad = opts.requiresGrad;
    } catch (e) {
      t.dispose();
      throw e;
    }
  }
  return t;
}

/**
 * A tensor from values: a number (0-d), nested arrays (shape inferred), or a flat array / typed
 * array with `shape`. dtype defaults to the typed array's type, else f32. In bf16 or f16 each value
 * is rounded once to nearest, ties to even, from the value given (a number or a Float64Array
 * element directly, not through f32).
 */
export function tensor(values: TensorLike, shape?: readonly number[] | null, options?: CreateOptions): Tensor {
  const op = 'tensor';
  const opts = checkOptions(options, op);
  let flat: ArrayLike<number>;
  let inferred: number[];
  let natural: DType = 'f32';
  if (typeof values === 'number') {
    flat = [values];
    inferred = [];
  } else if (values instanceof Float32Array || values instanceof Float64Array || values instanceof Int32Array) {
    flat = values;
    inferred = [values.length];
    natural = values instanceof Float64Array ? 'f64' : values instanceof Int32Array ? 'i32' : 'f32';
  } else if (ArrayBuffer.isView(values) && !(values instanceof DataView)) {
    flat = values as unknown as ArrayLike<number>;
    inferred = [flat.length];
    if (typeof flat[0] === 'bigint') throw new AdvpropError('ERR_DTYPE', `${op}: BigInt arrays are not supported`);
  } else if (Array.isArray(values)) {
    inferred = inferShape(values, op);
    flat = flatten(values, inferred, op);
  } else {
    throw new AdvpropError('ERR_ARG', `${op}: values must be a number, an array or a typed array, got ${describeValue(values)}`);
  }
  let finalShape = inferred;
  if (shape !== undefined && shape !== null) {
    finalShape = checkShape(shape, op);
    const n = numelOf(finalShape);
    if (n !== flat.length)
      throw new AdvpropError('ERR_SHAPE', `${op}: ${flat.length} values do not fill shape [${finalShape.join(', ')}] (${n} elements)`);
  }
  // u8 (image batches for kernels.normalizeImage): the bytes of a Uint8Array, copied as they are.
  if (opts.dtype === 'u8') {
    if (!(values instanceof Uint8Array))
      throw new AdvpropError('ERR_DTYPE', `${op}: dtype u8 takes its bytes from a Uint8Array, got ${describeValue(values)}`);
    return finish(wrapHandle(addon.fromArray(values, finalShape, resolveDevice(opts, op), 'u8')), opts);
  }
  const dtype = opts.dtype === undefined ? natural : checkDType(opts.dtype, op);
  const host = toHostArray(flat, dtype, op);
  const half = dtype === 'bf16' || dtype === 'f16';
  return finish(wrapHandle(addon.fromArray(host, finalShape, resolveDevice(opts, op), half ? dtype : undefined)), opts);
}

/** @internal A bf16 or f16 tensor from its bit patterns (safetensors reads them unwidened). */
export function tensorFromBits(bits: Uint16Array, shape: readonly number[], dtype: 'bf16' | 'f16', device?: string): Tensor {
  const s = checkShape(shape, 'tensor');
  if (numelOf(s) !== bits.length)
    throw new AdvpropError('ERR_SHAPE', `tensor: ${bits.length} values do not fill shape [${s.join(', ')}] (${numelOf(s)} elements)`);
  return wrapHandle(addon.fromArray(bits, s, resolveDevice({ device }, 'tensor'), dtype));
}

export function full(shape: readonly number[], value: number, options?: CreateOptions): Tensor {
  const opts = checkOptions(options, 'full');
  const s = checkShape(shape, 'full');
  if (typeof value !== 'number') throw new AdvpropError('ERR_ARG', `full: value must be a number, got ${describeValue(value)}`);
  const dtype = opts.dtype === undefined ? 'f32' : checkDType(opts.dtype, 'full');
  // As tensor() refuses them: the addon would store NaN as 0 and clamp 1e20 to INT_MAX.
  if (dtype === 'i32' && !isInt32(value)) throw new AdvpropError('ERR_ARG', `full: value ${value} is not an int32 (dtype i32)`);
  return finish(wrapHandle(addon.full(s, dtype, resolveDevice(opts, 'full'), value)), opts);
}

export function zeros(shape: readonly number[], options?: CreateOptions): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options?: CreateOptions): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor, options?: CreateOptions): Tensor {
  return like(t, 0, options, 'zerosLike');
}

export function onesLike(t: Tensor, options?: CreateOptions): Tensor {
  return like(t, 1, options, 'onesLike');
}

function like(t: Tensor, value: number, options: CreateOptions | undefined, op: string): Tensor {
  const x = checkTensor(t, op, 't');
  return full(x.shape, value, { dtype: x.dtype, device: x.device, ...checkOptions(options, op) });
}

export interface RandomOptions extends CreateOptions {
  /** Explicit Philox key; without it the global generator (manualSeed) supplies one. */
  seed?: number | bigint;
  offset?: number | bigint;
}

// rand and randn: the same checks and key, then one Philox kernel.
function draw<O extends RandomOptions>(op: string, shape: readonly number[], options: O | undefined,
  kernel: (s: number[], dtype: DType, device: string, seed: bigint, offset: bigint, o: O) => NativeTensor): Tensor {
  const opts = checkOptions(options, op) as O;
  const s = checkShape(shape, op);
  const dtype = opts.dtype === undefined ? 'f32' : checkDType(opts.dtype, op);
  const device = resolveDevice(opts, op);
  const key = resolveKey(opts, op);
  return finish(wrapHandle(kernel(s, dtype, device, key.seed, key.offset, opts)), opts);
}

/** Uniform in (lo, hi] (default (0, 1]); identical values on every backend for the same key. */
export function rand(shape: readonly number[], options?: RandomOptions & { lo?: number; hi?: number }): Tensor {
  return draw('rand', shape, options, (s, dtype, device, seed, offset, o) => addon.uniform(s, dtype, device, seed, offset, o.lo ?? 0, o.hi ?? 1));
}

/** Normal with `mean` and `std` (default 0, 1), drawn with Box-Muller from Philox. */
export function randn(shape: readonly number[], options?: RandomOptions & { mean?: number; std?: number }): Tensor {
  return draw('randn', shape, options, (s, dtype, device, seed, offset, o) => addon.normal(s, dtype, device, seed, offset, o.mean ?? 0, o.std ?? 1));
}
