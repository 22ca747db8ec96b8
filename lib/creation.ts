// Creation functions: tensors from values, fills and seeded random fills. Every one checks its
// arguments the way the addon does, so errors read the same from either side.
import type { HostArray } from './native.js';
import { addon } from './native.js';
import { AdvpropError } from './errors.js';
import { canonicalDevice, defaultDevice, describeValue } from './device.js';
import { resolveKey } from './random.js';
import { checkDType, checkShape, MAX_DIMS, wrapHandle, type DType, type Tensor } from './tensor.js';

export interface CreateOptions {
  device?: string;
  dtype?: DType;
  requiresGrad?: boolean;
}

function checkOptions(opts: unknown, op: string): CreateOptions {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new AdvpropError('ERR_ARG', `${op}: options must be an object, got ${describeValue(opts)}`);
  return opts as CreateOptions;
}

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

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

type Nested = number | readonly Nested[];
export type TensorLike = Nested | Float32Array | Float64Array | Int32Array | ArrayLike<number>;

function inferShape(values: unknown, op: string): number[] {
  const shape: number[] = [];
  let v: unknown = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  if (shape.length > MAX_DIMS) throw new AdvpropError('ERR_SHAPE', `${op}: values are nested ${shape.length} deep; at most ${MAX_DIMS} dimensions are supported`);
  return shape;
}

function flatten(values: unknown, shape: readonly number[], op: string): number[] {
  const out: number[] = [];
  const walk = (v: unknown, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number') throw new AdvpropError('ERR_ARG', `${op}: value at ${path || 'top'} must be a number, got ${describeValue(v)}`);
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim])
      throw new AdvpropError('ERR_SHAPE', `${op}: ragged nested array at ${path || 'top'}: expected ${shape[dim]} entries, got ${Array.isArray(v) ? v.length : describeValue(v)}`);
    for (let i = 0; i < v.length; i++) walk(v[i], dim + 1, `${path}[${i}]`);
  };
  walk(values, 0, '');
  return out;
}

function toHostArray(values: ArrayLike<number>, dtype: DType, op: string): HostArray {
  if (dtype === 'i32') {
    if (values instanceof Int32Array) return values;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647)
        throw new AdvpropError('ERR_ARG', `${op}: value ${v} at index ${i} is not an int32`);
    }
    return Int32Array.from(values);
  }
  if (dtype === 'f32') return values instanceof Float32Array ? values : Float32Array.from(values);
  return values instanceof Float64Array ? values : Float64Array.from(values);
}

/**
 * A tensor from values: a number (0-d), nested arrays (shape inferred), or a flat array / typed
 * array with `shape`. dtype defaults to the typed array's type, else f32.
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
  const dtype = opts.dtype === undefined ? natural : checkDType(opts.dtype, op);
  const host = toHostArray(flat, dtype, op);
  return finish(wrapHandle(addon.fromArray(host, finalShape, resolveDevice(opts, op))), opts);
}

export function full(shape: readonly number[], value: number, options?: CreateOptions): Tensor {
  const opts = checkOptions(options, 'full');
  const s = checkShape(shape, 'full');
  if (typeof value !== 'number') throw new AdvpropError('ERR_ARG', `full: value must be a number, got ${describeValue(value)}`);
  const dtype = opts.dtype === undefined ? 'f32' : checkDType(opts.dtype, 'full');
  return finish(wrapHandle(addon.full(s, dtype, resolveDevice(opts, 'full'), value)), opts);
}

export function zeros(shape: readonly number[], options?: CreateOptions): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options?: CreateOptions): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor, options?: CreateOptions): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, device: t.device, ...options });
}

export function onesLike(t: Tensor, options?: CreateOptions): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, device: t.device, ...options });
}

export interface RandomOptions extends CreateOptions {
  /** Explicit Philox key; without it the global generator (manualSeed) supplies one. */
  seed?: number | bigint;
  offset?: number | bigint;
}

/** Uniform in (lo, hi] (default (0, 1]); identical values on every backend for the same key. */
export function rand(shape: readonly number[], options?: RandomOptions & { lo?: number; hi?: number }): Tensor {
  const opts = checkOptions(options, 'rand') as RandomOptions & { lo?: number; hi?: number };
  const s = checkShape(shape, 'rand');
  const dtype = opts.dtype === undefined ? 'f32' : checkDType(opts.dtype, 'rand');
  const device = resolveDevice(opts, 'rand');
  const key = resolveKey(opts, 'rand');
  return finish(wrapHandle(addon.uniform(s, dtype, device, key.seed, key.offset, opts.lo ?? 0, opts.hi ?? 1)), opts);
}

/** Normal with `mean` and `std` (default 0, 1), drawn with Box-Muller from Philox. */
export function randn(shape: readonly number[], options?: RandomOptions & { mean?: number; std?: number }): Tensor {
  const opts = checkOptions(options, 'randn') as RandomOptions & { mean?: number; std?: number };
  const s = checkShape(shape, 'randn');
  const dtype = opts.dtype === undefined ? 'f32' : checkDType(opts.dtype, 'randn');
  const device = resolveDevice(opts, 'randn');
  const key = resolveKey(opts, 'randn');
  return finish(wrapHandle(addon.normal(s, dtype, device, key.seed, key.offset, opts.mean ?? 0, opts.std ?? 1)), opts);
}
