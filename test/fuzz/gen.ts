// Argument generation for the fuzz harness. A case is built from a seed alone: the same seed
// gives the same arguments (and so the same outcome) in any worker, at any position of a run.
// Each argument slot asks the generator for a valid value; with the case's mutation rate the
// slot gets a bad one instead, drawn from pools of the ways callers get arguments wrong.
import * as ap from '../../lib/index.js';
import type { Tensor } from '../../lib/index.js';

/** xorshift128+ seeded through splitmix32: fast, and identical on every machine. */
export class Rand {
  private s: Uint32Array;
  constructor(seed: number) {
    let z = seed >>> 0;
    const next = (): number => {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      return (t ^ (t >>> 16)) >>> 0;
    };
    this.s = Uint32Array.from([next(), next(), next(), next() | 1]);
  }
  u32(): number {
    const s = this.s;
    let t = s[0] ^ (s[0] << 11);
    s[0] = s[1]; s[1] = s[2]; s[2] = s[3];
    s[3] = (s[3] ^ (s[3] >>> 19) ^ t ^ (t >>> 8)) >>> 0;
    return s[3];
  }
  float(): number { return this.u32() / 4294967296; }
  int(n: number): number { return Math.floor(this.float() * n); }
  chance(p: number): boolean { return this.float() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
}

/** Mixes a run seed and a call index into a case seed. */
export function caseSeed(seed: number, index: number): number {
  let h = (Math.imul(seed ^ 0x27d4eb2d, 0x165667b1) + Math.imul(index, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

// ---- bad-value pools ---------------------------------------------------------------------------

const nullProto = (): object => Object.create(null) as object;
/** Values of the wrong type for any slot. */
const WRONG_TYPES: readonly (() => unknown)[] = [
  () => null, () => undefined, () => '1', () => '', () => 'bogus', () => true, () => ({}), () => [], () => [1],
  () => () => 1, () => 1n, () => Symbol('fuzz'), () => nullProto(), () => new Float32Array(2), () => new Date(0),
];
/** Numbers that break ranges, integrality and finiteness. */
export const BAD_NUMBERS: readonly number[] = [
  NaN, Infinity, -Infinity, -1, 0, -0, 0.5, 1.5, -2.5, 2 ** 31, 2 ** 32, 2 ** 53, 1e300, -1e300, -(2 ** 31), Number.MIN_VALUE,
];
/**
 * Sizes that must be refused. No entry may be valid-but-huge for a shape (2**31 floats would be
 * an 8 GB allocation on the fuzzing machine): shape entries are either refused outright or so
 * large that the allocator fails at once.
 */
export const BAD_SIZES: readonly number[] = [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 40, 2 ** 46, 2 ** 49, 2 ** 53, 1e300, -(2 ** 31)];
/** Size options that a bound must refuse (they are never tensor dimensions directly). */
export const HUGE_OPTIONS: readonly number[] = [2 ** 31, 2 ** 32, 2 ** 40, 1e9, 2 ** 53, 1e300];
const BAD_STRINGS: readonly string[] = ['bogus', '', ' ', 'constructor', '__proto__', 'toString', 'CPU', 'cuda:99', '\0', 'a'.repeat(300)];
const BAD_DEVICES: readonly unknown[] = ['tpu', 'cuda:7', 'cuda-sim:3', 'cpu:1', '', 'CUDA', 7, null];
const BAD_DTYPES: readonly unknown[] = ['f16', 'float32', 'u8', 'F32', 'i64', 1, null];

export interface FuzzContext {
  /** Devices the cases may use: 'cpu' and, when built, 'cuda-sim:0'. */
  devices: readonly string[];
  /** The worker's folder holding the fixtures below (read, never written, by the cases). */
  root: string;
  /** An empty scratch folder of this case alone (removed after it), so no case sees another's files. */
  tmp: string;
  /** A tiny IDX dataset folder (train and test split). */
  dataDir: string;
  /** A small safetensors file of a tiny model's state dict, and a file that is not one. */
  stFile: string;
  junkFile: string;
  /** A run folder holding a checkpoint of a small B0 (for the eval, attack and export commands). */
  runDir: string;
}

export class Gen {
  readonly r: Rand;
  /** Probability that a slot gets a bad value; 0 for a valid case. */
  readonly pMut: number;
  readonly device: string;
  /** A device other than `device`, when one is built. */
  readonly otherDevice: string | null;
  mutations = 0;
  private readonly made: Tensor[] = [];
  private readonly cleanups: (() => void)[] = [];

  constructor(seed: number, readonly ctx: FuzzContext) {
    this.r = new Rand(seed);
    this.pMut = this.r.chance(0.25) ? 0 : this.r.pick([0.1, 0.25, 0.5]);
    this.device = this.r.pick(ctx.devices);
    this.otherDevice = ctx.devices.find((d) => d !== this.device) ?? null;
  }

  /** Whether this slot gets a bad value. */
  mutate(): boolean {
    if (this.pMut === 0 || !this.r.chance(this.pMut)) return false;
    this.mutations++;
    return true;
  }

  wrongType(): unknown {
    return this.r.pick(WRONG_TYPES)();
  }

  /** Disposed after the call. */
  own<T>(v: T, cleanup?: (v: T) => void): T {
    if (v instanceof ap.Tensor) this.made.push(v);
    else if (cleanup) this.cleanups.push(() => cleanup(v));
    return v;
  }

  // ---- tensors ---------------------------------------------------------------------------------

  /** A valid tensor, never mutated (inputs a case needs to build other values). */
  validTensor(shape: readonly number[], o: { dtype?: ap.DType; device?: string; lo?: number; hi?: number; grad?: boolean; ints?: number } = {}): Tensor {
    const device = o.device ?? this.device;
    const dtype = o.dtype ?? 'f32';
    let t: Tensor;
    if (dtype === 'i32') {
      const n = shape.reduce((a, b) => a * b, 1);
      const k = o.ints ?? 3;
      t = ap.tensor(Int32Array.from({ length: n }, () => this.r.int(k)), shape, { device });
    } else if (dtype === 'u8') {
      const n = shape.reduce((a, b) => a * b, 1);
      t = ap.tensor(Uint8Array.from({ length: n }, () => this.r.int(256)), shape, { dtype, device });
    } else {
      t = ap.rand(shape, { dtype, device, seed: this.r.u32(), lo: o.lo ?? -1, hi: o.hi ?? 1 });
    }
    if (o.grad && dtype !== 'i32' && dtype !== 'u8') t.requiresGrad = true;
    return this.own(t);
  }

  /** A tensor slot: valid, or one of the ways a tensor argument goes wrong. */
  tensor(shape: readonly number[], o: Parameters<Gen['validTensor']>[1] = {}): Tensor {
    if (!this.mutate()) return this.validTensor(shape, o);
    const r = this.r;
    switch (r.int(9)) {
      case 0: return this.wrongType() as Tensor;
      case 1: { const t = this.validTensor(shape, o); t.dispose(); return t; }
      case 2: return this.validTensor(shape, { ...o, dtype: r.pick(['f32', 'f64', 'i32'].filter((d) => d !== (o.dtype ?? 'f32')) as ap.DType[]) });
      case 3: return this.otherDevice ? this.validTensor(shape, { ...o, device: this.otherDevice }) : this.validTensor([0]);
      case 4: return this.validTensor(shape.length ? [0, ...shape.slice(1)] : [0], o);
      case 5: return this.validTensor(this.otherShape(shape), o);
      case 6: return this.made.length ? r.pick(this.made) : this.validTensor([]);
      case 7: return this.own(this.validTensor(shape, o).detach());
      default: return this.validTensor(shape.length ? shape.slice(1) : [1, 1], o);
    }
  }

  /** A shape of the same or another rank with other sizes (small: every size 0..5). */
  otherShape(shape: readonly number[]): number[] {
    const r = this.r;
    const rank = r.chance(0.5) ? shape.length : r.int(6);
    return Array.from({ length: rank }, (_, i) => (i < shape.length && r.chance(0.5) ? shape[i]! + 1 : 1 + r.int(5)));
  }

  /** The tensor a method is called on: a valid one, sometimes disposed (never another type). */
  receiver(shape: readonly number[], o: Parameters<Gen['validTensor']>[1] = {}): Tensor {
    const t = this.validTensor(shape, o);
    if (this.mutate()) t.dispose();
    return t;
  }

  /** A list of tensors slot. */
  tensors(shapes: readonly (readonly number[])[], o: Parameters<Gen['validTensor']>[1] = {}): Tensor[] {
    if (this.mutate()) {
      switch (this.r.int(4)) {
        case 0: return this.wrongType() as Tensor[];
        case 1: return [] as Tensor[];
        case 2: return [...shapes.map((s) => this.tensor(s, o)), this.validTensor([2], o)];
        default: return [null, undefined, 3][this.r.int(3)] as unknown as Tensor[];
      }
    }
    return shapes.map((s) => this.tensor(s, o));
  }

  // ---- scalars ---------------------------------------------------------------------------------

  num(valid: number): number {
    if (!this.mutate()) return valid;
    return (this.r.chance(0.75) ? this.r.pick(BAD_NUMBERS) : this.wrongType()) as number;
  }

  /** A size or count option: bad ones include the huge values a bound must refuse. */
  size(valid: number): number {
    if (!this.mutate()) return valid;
    const r = this.r;
    const c = r.int(4);
    if (c === 0) return this.wrongType() as number;
    if (c === 1) return r.pick(HUGE_OPTIONS);
    return r.pick([...BAD_SIZES, 0]);
  }

  /** An index or length into a small tensor (bad: out of range, fractional, non-finite). */
  index(valid: number): number {
    if (!this.mutate()) return valid;
    return (this.r.chance(0.8) ? this.r.pick([...BAD_SIZES, 0, 2 ** 31, valid + 7]) : this.wrongType()) as number;
  }

  shape(valid: readonly number[]): number[] {
    if (!this.mutate()) return valid.slice();
    const r = this.r;
    switch (r.int(6)) {
      case 0: return this.wrongType() as number[];
      case 1: { const s = valid.slice(); s[r.int(Math.max(1, s.length))] = r.pick(BAD_SIZES); return s; }
      case 2: return [2 ** 24, 2 ** 24, ...valid];
      case 3: return Array.from({ length: 9 + r.int(4) }, () => 1);
      case 4: return this.otherShape(valid);
      default: { const s: unknown[] = valid.slice(); s[r.int(Math.max(1, s.length))] = this.wrongType(); return s as number[]; }
    }
  }

  str<T extends string>(valid: T): T {
    if (!this.mutate()) return valid;
    return (this.r.chance(0.6) ? this.r.pick(BAD_STRINGS) : this.wrongType()) as T;
  }

  bool(valid: boolean): boolean {
    if (!this.mutate()) return valid;
    return this.r.pick([0, 1, 'true', null, 'yes', {}]) as unknown as boolean;
  }

  deviceName(valid = this.device): string {
    if (!this.mutate()) return valid;
    return (this.r.chance(0.8) ? this.r.pick(BAD_DEVICES) : this.wrongType()) as string;
  }

  dtype<T extends string>(valid: T): T {
    if (!this.mutate()) return valid;
    return (this.r.chance(0.8) ? this.r.pick(BAD_DTYPES) : this.wrongType()) as T;
  }

  fn<T>(valid: T): T {
    if (!this.mutate()) return valid;
    return this.r.pick([null, 1, 'f', {}, () => undefined, () => { throw new ap.AdvpropError('ERR_ARG', 'callback refused'); }]) as T;
  }

  /** A file-path slot: bad ones are numbers (file descriptors), folders, missing or junk files. */
  path(valid: string): string {
    if (!this.mutate()) return valid;
    const c = this.ctx;
    return this.r.pick<unknown>([0, 1, 2, -1, null, undefined, '', '/', c.tmp, `${c.tmp}/missing/x.st`, c.junkFile, '/dev/null', '\0x', {}, Buffer.from('x')]) as string;
  }

  /** An output-path slot: bad ones are numbers, folders and paths under a missing or read-only folder. */
  outPath(valid: string): string {
    if (!this.mutate()) return valid;
    const c = this.ctx;
    return this.r.pick<unknown>([0, 1, 2, null, undefined, '', '/', c.tmp, `${c.tmp}/missing/x.st`, '/proc/x', '\0x', {}]) as string;
  }

  /**
   * An options object: valid, the whole object replaced (a string, a number, null, an array ...),
   * or one key given a bad value or an unknown name. Values built with other slots mutate too.
   */
  opts<T extends object>(valid: T): T {
    if (!this.mutate()) return valid;
    const r = this.r;
    const keys = Object.keys(valid);
    switch (r.int(keys.length ? 4 : 2)) {
      case 0: return r.pick<unknown>(['cpu', 'bogus', '', 3, 0, NaN, null, [], true, () => ({})]) as T;
      case 1: return { ...valid, [r.pick(['bogus', 'Device', '__proto__', 'constructor'])]: this.wrongType() } as T;
      case 2: return { ...valid, [r.pick(keys)]: this.wrongType() } as T;
      default: return { ...valid, [r.pick(keys)]: r.chance(0.5) ? r.pick(BAD_NUMBERS) : r.pick(BAD_STRINGS) } as T;
    }
  }

  /** A labels slot for N rows of K classes: Int32Array, number[] or an i32 tensor. */
  labels(n: number, k: number): Int32Array {
    const r = this.r;
    const valid = Int32Array.from({ length: n }, () => r.int(k));
    if (!this.mutate()) {
      const form = r.int(3);
      return (form === 0 ? valid : form === 1 ? Array.from(valid) : this.own(ap.tensor(valid, [n], { device: this.device }))) as Int32Array;
    }
    switch (r.int(6)) {
      case 0: return this.wrongType() as Int32Array;
      case 1: return Int32Array.from({ length: n }, () => k + r.int(3));
      case 2: return [...Array.from(valid).slice(1), r.pick([NaN, -1, 1.5, '1', null])] as unknown as Int32Array;
      case 3: return Int32Array.from({ length: n + 1 }, () => 0);
      case 4: return this.otherDevice ? this.own(ap.tensor(valid, [n], { device: this.otherDevice })) as unknown as Int32Array : valid;
      default: return this.validTensor([n], { dtype: 'f32' }) as unknown as Int32Array;
    }
  }

  /** Frees what the case made; the worker calls it after the call. */
  cleanup(): void {
    for (const f of this.cleanups.reverse()) {
      try { f(); } catch { /* a disposed or broken object: nothing to free */ }
    }
    for (const t of this.made) t.dispose();
  }
}
