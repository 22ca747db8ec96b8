// Host values on their way into a tensor: nested arrays walked for their shape and flattened,
// typed and plain arrays converted to the dtype's typed array with int32 values checked (bf16 and
// f16 travel as a Float32Array or Float64Array and are rounded by the addon).
import type { HostArray } from './native.js';
import { AdvpropError } from './errors.js';
import { describeValue } from './device.js';
import type { DType } from './tensor.js';

/** Dimensions of a tensor at most (the addon's limit). */
export const MAX_DIMS = 8;

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

type Nested = number | readonly Nested[];
export type TensorLike = Nested | Float32Array | Float64Array | Int32Array | ArrayLike<number>;

export function inferShape(values: unknown, op: string): number[] {
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

export function flatten(values: unknown, shape: readonly number[], op: string): number[] {
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

export const isInt32 = (v: number): boolean => Number.isInteger(v) && v >= -2147483648 && v <= 2147483647;

export function toHostArray(values: ArrayLike<number>, dtype: DType, op: string): HostArray {
  if (dtype === 'i32') {
    if (values instanceof Int32Array) return values;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!isInt32(v)) throw new AdvpropError('ERR_ARG', `${op}: value ${v} at index ${i} is not an int32`);
    }
    return Int32Array.from(values);
  }
  if (dtype === 'f32') return values instanceof Float32Array ? values : Float32Array.from(values);
  // bf16 and f16 are rounded from these by the addon, once: f32 data as it is, anything else
  // through a Float64Array, which holds every JS number exactly.
  if ((dtype === 'bf16' || dtype === 'f16') && values instanceof Float32Array) return values;
  return values instanceof Float64Array ? values : Float64Array.from(values);
}

