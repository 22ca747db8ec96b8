// Tensor: a JS object owning one native handle, plus the bookkeeping the native side cannot do:
// tidy scopes, live counts, the autograd links and a FinalizationRegistry for forgotten tensors.
import type { DTypeName, HostArray, NativeMemoryStats, NativeTensor } from './native.js';
import { AdvpropError } from './errors.js';
import { binding, canonicalDevice, defaultDevice, describeValue, devices, showValue } from './device.js';
import { resolveKey } from './random.js';
import { optionsArg } from './args.js';
import { MAX_DIMS, flatten, inferShape, isInt32, numelOf, toHostArray, type TensorLike } from './host_values.js';

export type { TensorLike } from './host_values.js';
import type { Node } from './autograd/node.js';
import { releaseUnreachable, savedTensorCount } from './autograd/node.js';
import { backward as runBackward, type BackwardOptions } from './autograd/engine.js';
import * as arith from './ops/arithmetic.js';
import * as unary from './ops/unary.js';
import * as reduce from './ops/reduce.js';
import * as shapeOps from './ops/shape.js';
import * as convert from './ops/cast.js';

export type DType = DTypeName;
export const DTYPES: readonly DType[] = ['f32', 'f64', 'i32'];
// The addon's own limit on one size (2^48); beyond it no allocation could succeed anyway.
const MAX_SIZE = 2 ** 48;

export interface CreateOptions {
  device?: string;
  dtype?: DType;
  requiresGrad?: boolean;
}

let liveTensors = 0;
let liveBytes = 0;
let nextId = 1;

// Finalization is only a safety net: it runs late or never, so tests and training loops dispose.
const registry = new FinalizationRegistry<{ handle: NativeTensor; nbytes: number }>((held) => {
  liveTensors--;
  liveBytes -= held.nbytes;
  try {
    binding.dispose(held.handle);
  } catch {
    // Nothing useful can be done from a finalizer.
  }
});

const constructing = Symbol('advprop.tensor');

export class Tensor {
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Canonical device name: 'cpu', 'cuda:0', 'cuda-sim:0'. */
  readonly device: string;
  readonly nbytes: number;
  /** Gradient accumulated by backward(); owned by this tensor (dispose() frees it too). */
  grad: Tensor | null = null;
  /** @internal The tape node that produced this tensor; null for leaves. */
  _node: Node | null = null;
  /** @internal Exempt from tidy(). */
  _kept = false;
  private _h: NativeTensor | null;
  private _requiresGrad = false;

  /** @internal Use tensor(), zeros(), ... or wrapHandle(). */
  constructor(token: symbol, handle: NativeTensor) {
    if (token !== constructing) throw new AdvpropError('ERR_ARG', 'Tensor: use ap.tensor(), ap.zeros(), ... to create tensors');
    this.id = nextId++;
    this._h = handle;
    this.shape = Object.freeze(handle.shape.slice());
    this.dtype = handle.dtype;
    this.device = handle.device;
    this.nbytes = handle.nbytes;
  }

  get numel(): number {
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this._h === null;
  }

  /** @internal The native handle; throws ERR_DISPOSED naming `op`. */
  _handle(op: string, arg = 'tensor'): NativeTensor {
    if (this._h === null)
      throw new AdvpropError('ERR_DISPOSED', `${op}: argument '${arg}' is a disposed tensor (id ${this.id}, ${this.dtype} [${this.shape.join(', ')}] on ${this.device})`);
    return this._h;
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }

  set requiresGrad(v: boolean) {
    if (typeof v !== 'boolean') throw new AdvpropError('ERR_ARG', `requiresGrad must be a boolean, got ${describeValue(v)}`);
    if (this._node) throw new AdvpropError('ERR_ARG', 'requiresGrad can only be set on leaf tensors; use detach() for a new leaf');
    if (v && this.dtype !== 'f32' && this.dtype !== 'f64')
      throw new AdvpropError('ERR_DTYPE', `requiresGrad needs a float tensor, got ${this.dtype}`);
    this._requiresGrad = v;
  }

  /** @internal Called by the tape on op outputs. */
  _setNode(node: Node): void {
    this._node = node;
    this._requiresGrad = true;
  }

  get isLeaf(): boolean {
    return this._node === null;
  }

  toArray(): HostArray {
    return binding.toArray(this._handle('toArray'));
  }

  /** Reads the values without blocking the event loop. */
  async data(): Promise<HostArray> {
    return binding.toArrayAsync(this._handle('data'));
  }

  item(): number {
    const h = this._handle('item');
    if (this.numel !== 1) throw new AdvpropError('ERR_SHAPE', `item: tensor [${this.shape.join(', ')}] has ${this.numel} elements, not 1`);
    return binding.toArray(h)[0];
  }

  /** Nested arrays of numbers following the shape. */
  toNested(): unknown {
    const flat = Array.from(this.toArray());
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return flat[offset];
      let stride = 1;
      for (let d = dim + 1; d < this.shape.length; d++) stride *= this.shape[d];
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  dispose(): void {
    if (this._h === null) return;
    const h = this._h;
    this._h = null;
    registry.unregister(this);
    liveTensors--;
    liveBytes -= this.nbytes;
    binding.dispose(h);
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Frees and clears .grad. */
  zeroGrad(): void {
    if (this.grad) this.grad.dispose();
    this.grad = null;
  }

  backward(gradOutput?: Tensor, options?: BackwardOptions): void {
    runBackward(this, gradOutput, options);
  }

  /** A new leaf sharing this tensor's storage, outside the tape. */
  detach(): Tensor {
    return wrapHandle(binding.share(this._handle('detach')));
  }

  clone(): Tensor {
    return convert.clone(this);
  }

  to(device: string): Tensor {
    return convert.to(this, device);
  }

  cast(dtype: DType): Tensor {
    return convert.cast(this, dtype);
  }

  reshape(shape: readonly number[]): Tensor {
    return shapeOps.reshape(this, shape);
  }

  flatten(): Tensor {
    return shapeOps.reshape(this, [this.numel]);
  }

  slice0(start: number, length: number): Tensor {
    return shapeOps.slice0(this, start, length);
  }

  add(b: Tensor | number): Tensor { return arith.add(this, b); }
  sub(b: Tensor | number): Tensor { return arith.sub(this, b); }
  mul(b: Tensor | number): Tensor { return arith.mul(this, b); }
  div(b: Tensor | number): Tensor { return arith.div(this, b); }
  scale(alpha: number): Tensor { return unary.scale(this, alpha); }
  mulScalar(alpha: number): Tensor { return unary.scale(this, alpha); }
  addScalar(alpha: number): Tensor { return unary.addScalar(this, alpha); }
  neg(): Tensor { return unary.neg(this); }
  silu(): Tensor { return unary.silu(this); }
  sigmoid(): Tensor { return unary.sigmoid(this); }
  relu(): Tensor { return unary.relu(this); }
  exp(): Tensor { return unary.exp(this); }
  log(): Tensor { return unary.log(this); }
  square(): Tensor { return unary.square(this); }
  sum(axes?: number | readonly number[], keepdims = false): Tensor { return reduce.sum(this, axes, keepdims); }
  mean(axes?: number | readonly number[], keepdims = false): Tensor { return reduce.mean(this, axes, keepdims); }

  toString(): string {
    if (this._h === null) return `Tensor(disposed, ${this.dtype} [${this.shape.join(', ')}] on ${this.device})`;
    const n = this.numel;
    const vals = n <= 16 ? Array.from(this.toArray()).join(', ') : `${n} values`;
    return `Tensor(${this.dtype} [${this.shape.join(', ')}] on ${this.device}: ${vals})`;
  }
}

// ---- creation --------------------------------------------------------------------------------

/** @internal Wraps a fresh native handle: counted, tracked by the current tidy, finalizable. */
export function wrapHandle(handle: NativeTensor): Tensor {
  const t = new Tensor(constructing, handle);
  liveTensors++;
  liveBytes += t.nbytes;
  registry.register(t, { handle, nbytes: t.nbytes }, t);
  const scope = scopes[scopes.length - 1];
  if (scope) scope.add(t);
  return t;
}

/** Validates a user shape the way the addon does, so errors come out the same from either side. */
export function checkShape(shape: unknown, op: string, allowMinusOne = false): number[] {
  if (!Array.isArray(shape)) throw new AdvpropError('ERR_ARG', `${op}: shape must be an array of sizes, got ${describeValue(shape)}`);
  if (shape.length > MAX_DIMS)
    throw new AdvpropError('ERR_SHAPE', `${op}: shape has ${shape.length} dimensions; at most ${MAX_DIMS} are supported`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    const ok = typeof d === 'number' && Number.isInteger(d) && d <= MAX_SIZE && (d >= 0 || (allowMinusOne && d === -1));
    if (!ok) throw new AdvpropError('ERR_SHAPE', `${op}: invalid size ${showValue(d)} at index ${i} of shape [${shape.map(showValue).join(', ')}] (sizes are integers >= 0)`);
  }
  return shape.slice() as number[];
}

export function checkDType(dtype: unknown, op: string): DType {
  if (typeof dtype !== 'string' || !(DTYPES as readonly string[]).includes(dtype))
    throw new AdvpropError('ERR_DTYPE', `${op}: dtype must be one of ${DTYPES.join(', ')}, got ${describeValue(dtype)}`);
  return dtype as DType;
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
  return finish(wrapHandle(binding.fromArray(host, finalShape, resolveDevice(opts, op))), opts);
}

export function full(shape: readonly number[], value: number, options?: CreateOptions): Tensor {
  const opts = checkOptions(options, 'full');
  const s = checkShape(shape, 'full');
  if (typeof value !== 'number') throw new AdvpropError('ERR_ARG', `full: value must be a number, got ${describeValue(value)}`);
  const dtype = opts.dtype === undefined ? 'f32' : checkDType(opts.dtype, 'full');
  // As tensor() refuses them: the addon would store NaN as 0 and clamp 1e20 to INT_MAX.
  if (dtype === 'i32' && !isInt32(value)) throw new AdvpropError('ERR_ARG', `full: value ${value} is not an int32 (dtype i32)`);
  return finish(wrapHandle(binding.full(s, dtype, resolveDevice(opts, 'full'), value)), opts);
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

/** Uniform in (lo, hi] (default (0, 1]); identical values on every backend for the same key. */
export function rand(shape: readonly number[], options?: RandomOptions & { lo?: number; hi?: number }): Tensor {
  const opts = checkOptions(options, 'rand') as RandomOptions & { lo?: number; hi?: number };
  const s = checkShape(shape, 'rand');
  const dtype = opts.dtype === undefined ? 'f32' : checkDType(opts.dtype, 'rand');
  const device = resolveDevice(opts, 'rand');
  const key = resolveKey(opts, 'rand');
  return finish(wrapHandle(binding.uniform(s, dtype, device, key.seed, key.offset, opts.lo ?? 0, opts.hi ?? 1)), opts);
}

/** Normal with `mean` and `std` (default 0, 1), drawn with Box-Muller from Philox. */
export function randn(shape: readonly number[], options?: RandomOptions & { mean?: number; std?: number }): Tensor {
  const opts = checkOptions(options, 'randn') as RandomOptions & { mean?: number; std?: number };
  const s = checkShape(shape, 'randn');
  const dtype = opts.dtype === undefined ? 'f32' : checkDType(opts.dtype, 'randn');
  const device = resolveDevice(opts, 'randn');
  const key = resolveKey(opts, 'randn');
  return finish(wrapHandle(binding.normal(s, dtype, device, key.seed, key.offset, opts.mean ?? 0, opts.std ?? 1)), opts);
}

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

/** Throws ERR_ARG unless `v` is a Tensor, and ERR_DISPOSED if it was disposed. */
export function checkTensor(v: unknown, op: string, arg: string): Tensor {
  if (!(v instanceof Tensor)) throw new AdvpropError('ERR_ARG', `${op}: argument '${arg}' must be a Tensor, got ${describeValue(v)}`);
  v._handle(op, arg);
  return v;
}

// ---- tidy / keep / memory --------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];

/** Runs fn and frees every tensor it created except those returned (searched through arrays,
 * plain objects and Maps) and those passed to keep(). Tidies nest. fn must be synchronous. */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new AdvpropError('ERR_ARG', `tidy: expected a function, got ${describeValue(fn)}`);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    endScope(scope, new Set());
    throw e;
  }
  if (result instanceof Promise) {
    endScope(scope, new Set());
    throw new AdvpropError('ERR_ARG', 'tidy: fn returned a Promise; tidy only works with synchronous functions (its tensors were freed)');
  }
  endScope(scope, collectTensors(result));
  return result;
}

function endScope(scope: Set<Tensor>, survivors: Set<Tensor>): void {
  const top = scopes.pop();
  if (top !== scope) throw new AdvpropError('ERR_INTERNAL', 'tidy: scopes closed out of order');
  const parent = scopes[scopes.length - 1];
  const freed: Tensor[] = [];
  const live: Tensor[] = [];
  for (const t of scope) {
    if (survivors.has(t) || t._kept) {
      live.push(t);
      // A returned tensor belongs to the enclosing tidy, which may free it in turn.
      if (parent && !t._kept) parent.add(t);
    } else {
      freed.push(t);
      t.dispose();
    }
  }
  releaseUnreachable(freed, live);
}

function collectTensors(v: unknown, out = new Set<Tensor>(), seen = new Set<object>()): Set<Tensor> {
  if (v instanceof Tensor) {
    out.add(v);
  } else if (v !== null && typeof v === 'object' && !seen.has(v)) {
    seen.add(v);
    if (Array.isArray(v)) for (const x of v) collectTensors(x, out, seen);
    else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out, seen);
    else if (v instanceof Set) for (const x of v) collectTensors(x, out, seen);
    else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)
      for (const x of Object.values(v)) collectTensors(x, out, seen);
  }
  return out;
}

/** Exempts t from every tidy (it must then be disposed by hand). */
export function keep<T extends Tensor>(t: T): T {
  checkTensor(t, 'keep', 't');
  t._kept = true;
  return t;
}

/** @internal Removes t from the current tidy scope (the tape uses it for .grad tensors). */
export function untrack(t: Tensor): Tensor {
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].delete(t)) break;
  return t;
}

/** Disposes every tensor found in v (arrays, objects, Maps searched as in tidy). */
export function dispose(v: unknown): void {
  for (const t of collectTensors(v)) t.dispose();
}

export interface MemoryInfo {
  /** Live Tensor objects made by this library (not yet disposed or finalized). */
  numTensors: number;
  /** Bytes viewed by those tensors (views of one storage count once each). */
  numBytes: number;
  /** Copies of tensors the tape holds for backward passes. */
  numSavedTensors: number;
  /** Handles alive in the addon: numTensors plus any native handle no Tensor wraps (a leak). */
  numHandles: number;
  /** The allocator statistics of every available device. */
  devices: Record<string, NativeMemoryStats>;
}

export function memory(): MemoryInfo {
  const devs: Record<string, NativeMemoryStats> = {};
  for (const d of devices()) if (d.available) devs[d.device] = binding.memoryStats(d.device);
  return { numTensors: liveTensors, numBytes: liveBytes, numSavedTensors: savedTensorCount(), numHandles: binding.handleStats().live, devices: devs };
}
