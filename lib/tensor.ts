// Tensor: a JS object owning one native handle, plus what the native side does not keep: the
// autograd link and the checks of tensor arguments that every op shares. Its creation and
// disposal go through tracking.ts (live counts, FinalizationRegistry, tidy scopes). Creation
// functions are in creation.ts; tidy, keep, dispose and memory() in memory.ts.
//
// The chained op methods (t.add(b), t.reshape(s), t.backward(), ...) are not defined here: each
// module that defines an op declares its methods on Tensor (`declare module '../tensor.js'`) and
// attaches them with addTensorMethods() when it loads, as TensorFlow.js does, so this file
// imports no op. They are in ops/arithmetic.ts, ops/unary.ts, ops/reduce.ts, ops/shape.ts,
// ops/cast.ts and autograd/engine.ts; the public entry (index.ts) loads them all. Inside lib/,
// call the op functions rather than the methods, so that a module's imports say what it runs.
import type { DTypeName, HostArray, NativeTensor } from './native.js';
import { addon } from './native.js';
import { AdvpropError } from './errors.js';
import { describeValue, showValue } from './device.js';
import { MAX_DIMS } from './host_values.js';
import type { Node } from './autograd/node.js';
import { forget, track } from './tracking.js';

export type DType = DTypeName;
/**
 * Every dtype a tensor can hold. bf16 and f16 are 16-bit floats (2 bytes an element): values are
 * rounded to them once, to nearest with ties to even (from f64 data directly, never through f32),
 * and read back exactly as f32 (toArray() gives a Float32Array). f16 overflows to infinity from
 * 65520 and has subnormals down to 2^-24; bf16 has f32's range with 8 significant bits.
 */
export const DTYPES: readonly DType[] = ['f32', 'f64', 'i32', 'bf16', 'f16'];
// u8 is left out of DTYPES: it is made only by tensor() from a Uint8Array (image batches for
// kernels.normalizeImage), not by full, cast or the random fills.
/** The float dtypes: they may require a gradient. */
export const FLOAT_DTYPES: readonly DType[] = ['f32', 'f64', 'bf16', 'f16'];
export const isFloatDType = (d: DType): boolean => d === 'f32' || d === 'f64' || d === 'bf16' || d === 'f16';
// The addon's own limit on one size (2^48); beyond it no allocation could succeed anyway.
const MAX_SIZE = 2 ** 48;

let nextId = 1;

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
    if (v && !isFloatDType(this.dtype))
      throw new AdvpropError('ERR_DTYPE', `requiresGrad needs a float tensor (${FLOAT_DTYPES.join(', ')}), got ${this.dtype}`);
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

  /**
   * The values in a new typed array: Float32Array for f32, Float64Array for f64, Int32Array for
   * i32, and for bf16 and f16 a Float32Array of their exact values (every bf16 and f16 value,
   * NaN and infinities included, is an f32, so nothing is rounded on the way out).
   */
  toArray(): HostArray {
    return addon.toArray(this._handle('toArray'));
  }

  /** Reads the values without blocking the event loop. */
  async data(): Promise<HostArray> {
    return addon.toArrayAsync(this._handle('data'));
  }

  item(): number {
    const h = this._handle('item');
    if (this.numel !== 1) throw new AdvpropError('ERR_SHAPE', `item: tensor [${this.shape.join(', ')}] has ${this.numel} elements, not 1`);
    return addon.toArray(h)[0];
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
    forget(this);
    addon.dispose(h);
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

  /** A new leaf sharing this tensor's storage, outside the tape. */
  detach(): Tensor {
    return wrapHandle(addon.share(this._handle('detach')));
  }

  toString(): string {
    if (this._h === null) return `Tensor(disposed, ${this.dtype} [${this.shape.join(', ')}] on ${this.device})`;
    const n = this.numel;
    const vals = n <= 16 ? Array.from(this.toArray()).join(', ') : `${n} values`;
    return `Tensor(${this.dtype} [${this.shape.join(', ')}] on ${this.device}: ${vals})`;
  }
}

/** @internal The bit patterns of a bf16 or f16 tensor (safetensors writes them unwidened). */
export function halfBits(t: Tensor): Uint16Array {
  const h = checkTensor(t, 'halfBits', 't')._handle('halfBits');
  if (t.dtype !== 'bf16' && t.dtype !== 'f16') throw new AdvpropError('ERR_DTYPE', `halfBits: tensor is ${t.dtype}, not bf16 or f16`);
  const bits = addon.toArray(h, true);
  if (!(bits instanceof Uint16Array)) throw new AdvpropError('ERR_INTERNAL', `halfBits: the addon returned ${bits.constructor.name} for ${t.dtype}`);
  return bits;
}

/** @internal Wraps a fresh native handle: counted, tracked by the current tidy, finalizable. */
export function wrapHandle(handle: NativeTensor): Tensor {
  const t = new Tensor(constructing, handle);
  track(t, handle);
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

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

/** Throws ERR_ARG unless `v` is a Tensor, and ERR_DISPOSED if it was disposed. */
export function checkTensor(v: unknown, op: string, arg: string): Tensor {
  if (!(v instanceof Tensor)) throw new AdvpropError('ERR_ARG', `${op}: argument '${arg}' must be a Tensor, got ${describeValue(v)}`);
  v._handle(op, arg);
  return v;
}

// ---- chained methods ---------------------------------------------------------------------------

type TensorMethods = { [K in keyof Tensor]?: Tensor[K] } & ThisType<Tensor>;

/**
 * @internal Defines chained methods on Tensor.prototype, as class methods are (non-enumerable,
 * writable, configurable): plain prototype methods, with no lookup or closure per call.
 */
export function addTensorMethods(methods: TensorMethods): void {
  for (const [name, fn] of Object.entries(methods)) {
    if (Object.prototype.hasOwnProperty.call(Tensor.prototype, name))
      throw new AdvpropError('ERR_INTERNAL', `Tensor.prototype.${name} is defined twice`);
    Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}
