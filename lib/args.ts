// Argument checks shared by the public entries. Each one throws ERR_ARG naming the op, the
// argument and the value, so a bad call never reaches a property read of null (a TypeError), a
// loop bounded by a user's number, or an allocation sized by one.
import { AdvpropError } from './errors.js';
import { describeValue, showValue } from './device.js';

/**
 * Upper bounds of the size options. They are far above any real EfficientNet (L2 has 5504
 * channels, 1000 classes, 88 blocks) and far below what could exhaust memory or the V8 heap
 * while still looking valid, so a typo or an overflowed number is refused before anything is made.
 */
export const LIMITS = Object.freeze({
  /** Channels, features, filters and classes of one layer. */
  channels: 2 ** 20,
  /** Kernel size, stride and dilation of a convolution. */
  kernel: 1024,
  /** Batch-norm domains. */
  domains: 1024,
  /** Elements of one parameter tensor a layer or model allocates. */
  paramElements: 2 ** 31,
  /** Blocks of one EfficientNet after depth scaling (L2 has 88). */
  blocks: 4096,
  /** Width and depth multipliers (L2: 4.3 and 5.3). */
  multiplier: 64,
  /** Image side (resolution, crop and resize targets). */
  imageSide: 2 ** 16,
  /** Pixels of one image a transform makes (a 8192 × 8192 image). */
  imagePixels: 2 ** 26,
  /** Images of one dataset (the loader's permutations are Int32Arrays of this length). */
  datasetImages: 2 ** 28,
  /** Attack iterations. */
  attackSteps: 100_000,
  /** Images in one batch. */
  batch: 2 ** 20,
  /** Epochs of one run. */
  epochs: 1_000_000,
  /** Data-loading worker threads. */
  workers: 256,
});

const show = showValue;

/**
 * An options object: undefined gives {}; null, strings, numbers, arrays and functions are refused,
 * because reading a property of them would silently give the defaults (or throw a TypeError).
 */
export function optionsArg<T extends object>(o: T | undefined, op: string, name = 'options'): Partial<T> {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    throw new AdvpropError('ERR_ARG', `${op}: ${name} must be an object, got ${describeValue(o)}`);
  return o;
}

/** A required object argument (a model, a config, a state dict). */
export function objectArg<T extends object>(v: unknown, op: string, name: string, what = 'an object'): T {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be ${what}, got ${describeValue(v)}`);
  return v as T;
}

/** An integer in [min, max]. */
export function intArg(v: unknown, op: string, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be an integer in [${min}, ${max}], got ${show(v)}`);
  return v;
}

/** A finite number in [min, max] (open at an end when asked). */
export function numArg(v: unknown, op: string, name: string, min = -Infinity, max = Infinity,
  open: { min?: boolean; max?: boolean } = {}): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && (open.min ? v > min : v >= min) && (open.max ? v < max : v <= max);
  if (!ok) {
    const range = `${open.min ? '(' : '['}${min}, ${max}${open.max ? ')' : ']'}`;
    throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be a finite number in ${range}, got ${show(v)}`);
  }
  return v as number;
}

export function boolArg(v: unknown, op: string, name: string): boolean {
  if (typeof v !== 'boolean') throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be a boolean, got ${show(v)}`);
  return v;
}

export function oneOfArg<T extends string>(v: unknown, op: string, name: string, choices: readonly T[]): T {
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v))
    throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${show(v)}`);
  return v as T;
}

/** A file or folder path: a non-empty string (a number would be taken as a file descriptor). */
export function pathArg(v: unknown, op: string, name = 'path'): string {
  if (typeof v !== 'string' || v.length === 0 || v.includes('\0'))
    throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be a non-empty path string, got ${show(v)}`);
  return v;
}

export function functionArg<T extends (...args: never[]) => unknown>(v: unknown, op: string, name: string): T {
  if (typeof v !== 'function') throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be a function, got ${show(v)}`);
  return v as T;
}
