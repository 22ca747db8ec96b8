// Module: a tree of layers holding named parameters (trainable leaves) and buffers (running
// statistics). Names are dotted paths (`blocks.0.1.conv_dw.weight`) so checkpoints follow timm's.
// Layers read their tensors by name at every call, because loadStateDict() and to() replace them.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { checkTensor, isTensor, type DType, type Tensor } from '../tensor.js';
import { tensor } from '../creation.js';
import { keep } from '../memory.js';
import { noGrad } from '../autograd/mode.js';
import * as convert from '../ops/cast.js';
import { boolArg, functionArg, objectArg, oneOfArg, optionsArg } from '../args.js';
import type { BatchNormMode, Segments } from '../ops/multi_batch_norm.js';

/** Per-call options passed down the whole tree. */
export interface ForwardOptions {
  /** [domain, count] pairs covering the batch in order; default all clean: [[0, N]]. */
  segments?: Segments;
  /** Overrides the BN mode of every MultiBatchNorm2d ('train-frozen': batch statistics without
   * updating the running ones, as an attack through a training model wants). */
  bnMode?: BatchNormMode;
  /** false: keep an eval forward without recording on the plain path (each conv, then each BN as
   * its own kernel) instead of the fused inference path; default true. Benchmarks and tests. */
  fuse?: boolean;
}

/** One entry of a state dict: how a key is read and written. MultiBatchNorm2d splits its [K, C] tensors
 * into one key per domain, which is why this is not simply the parameter map. */
export interface StateSlot {
  key: string;
  shape: readonly number[];
  dtype: DType;
  /** BN domain of the entry (0 = clean); undefined for tensors that are not per domain. */
  domain?: number;
  get(): Tensor;
  set(t: Tensor): void;
}

export interface StateDictOptions {
  /** Include the auxiliary BN domains (default true); false gives a clean-only checkpoint. */
  auxiliary?: boolean;
}

export interface LoadStateDictOptions {
  /** Missing or unexpected keys are errors (default true). Shape and dtype mismatches always are. */
  strict?: boolean;
  /** 'load' (default): auxiliary domains are read from their own keys; 'skip': they are not
   * expected and keep their values; 'fromClean': they are set to the clean domain's values. */
  auxiliary?: 'load' | 'skip' | 'fromClean';
}

export interface LoadReport {
  missing: string[];
  unexpected: string[];
  mismatched: { key: string; expected: string; got: string }[];
  loaded: number;
}

/** Thrown by a failed loadStateDict; `report` lists every problem. */
export class StateDictError extends AdvpropError {
  readonly report: LoadReport;
  constructor(code: 'ERR_SHAPE' | 'ERR_ARG', message: string, report: LoadReport) {
    super(code, message);
    this.report = report;
  }
}

const desc = (shape: readonly number[], dtype: string): string => `${dtype} [${shape.join(', ')}]`;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export abstract class Module {
  training = true;
  private readonly _params = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, Tensor>();
  private readonly _children = new Map<string, Module>();

  abstract forward(x: Tensor, opts?: ForwardOptions): Tensor;

  private checkName(name: string, what: string): void {
    if (typeof name !== 'string' || !(NAME.test(name) || /^[0-9]+$/.test(name)))
      throw new AdvpropError('ERR_ARG', `${this.constructor.name}.${what}: invalid name ${describeValue(name)}`);
    if (this._params.has(name) || this._buffers.has(name) || this._children.has(name))
      throw new AdvpropError('ERR_ARG', `${this.constructor.name}.${what}: '${name}' is already registered`);
  }

  /** Registers a trainable leaf: kept out of tidy(), requiresGrad set. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.checkName(name, 'registerParameter');
    keep(t);
    t.requiresGrad = true;
    this._params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name, 'registerBuffer');
    this._buffers.set(name, keep(t));
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name, 'registerModule');
    if (!(m instanceof Module)) throw new AdvpropError('ERR_ARG', `registerModule: '${name}' is not a Module, got ${describeValue(m)}`);
    this._children.set(name, m);
    return m;
  }

  /** The current tensor of one of this module's own parameters. */
  param(name: string): Tensor {
    const t = this._params.get(name);
    if (!t) throw new AdvpropError('ERR_ARG', `${this.constructor.name}: no parameter ${describeValue(name)}`);
    return t;
  }

  buffer(name: string): Tensor {
    const t = this._buffers.get(name);
    if (!t) throw new AdvpropError('ERR_ARG', `${this.constructor.name}: no buffer ${describeValue(name)}`);
    return t;
  }

  hasParam(name: string): boolean {
    return this._params.has(name);
  }

  /** Replaces a parameter's tensor (loading, device moves); the old one is disposed. */
  protected replaceParameter(name: string, t: Tensor): void {
    const old = this.param(name);
    keep(t);
    if (t.isLeaf) t.requiresGrad = true;
    this._params.set(name, t);
    if (old !== t) old.dispose();
  }

  protected replaceBuffer(name: string, t: Tensor): void {
    const old = this.buffer(name);
    this._buffers.set(name, keep(t));
    if (old !== t) old.dispose();
  }

  namedChildren(): [string, Module][] {
    return [...this._children];
  }

  /** This module and every descendant, with dotted paths ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    if (typeof prefix !== 'string') throw new AdvpropError('ERR_ARG', `namedModules: prefix must be a string, got ${describeValue(prefix)}`);
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this._children) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [p, m] of this.namedModules()) for (const [n, t] of m._params) out.push([p ? `${p}.${n}` : n, t]);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [p, m] of this.namedModules()) for (const [n, t] of m._buffers) out.push([p ? `${p}.${n}` : n, t]);
    return out;
  }

  /** Number of trainable elements. */
  numParameters(): number {
    return this.parameters().reduce((a, t) => a + t.numel, 0);
  }

  train(mode = true): this {
    if (typeof mode !== 'boolean') throw new AdvpropError('ERR_ARG', `train: mode must be a boolean, got ${describeValue(mode)}`);
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Runs fn with some parameters or buffers (by dotted name) temporarily replaced by the given
   * tensors, restored afterwards; nothing is disposed. Gradient checks and EMA evaluation use it. */
  withTensors<T>(tensors: Record<string, Tensor>, fn: () => T): T {
    objectArg(tensors, 'withTensors', 'tensors', 'an object of tensors by name');
    functionArg(fn, 'withTensors', 'fn');
    const owners = new Map(this.namedModules());
    const undo: (() => void)[] = [];
    try {
      for (const [name, t] of Object.entries(tensors)) {
        const i = name.lastIndexOf('.');
        const m = owners.get(i < 0 ? '' : name.slice(0, i));
        const leaf = name.slice(i + 1);
        const map = m?._params.has(leaf) ? m._params : m?._buffers.has(leaf) ? m._buffers : null;
        if (!map) throw new AdvpropError('ERR_ARG', `withTensors: no parameter or buffer '${name}'`);
        const old = map.get(leaf)!;
        checkTensor(t, 'withTensors', name);
        if (t.shape.length !== old.shape.length || t.shape.some((d, j) => d !== old.shape[j]))
          throw new AdvpropError('ERR_SHAPE', `withTensors: '${name}' is [${old.shape.join(', ')}], got [${t.shape.join(', ')}]`);
        map.set(leaf, t);
        undo.push(() => map.set(leaf, old));
      }
      return fn();
    } finally {
      for (const u of undo.reverse()) u();
    }
  }

  /** Frees every parameter's .grad. */
  zeroGrad(): void {
    for (const t of this.parameters()) t.zeroGrad();
  }

  /** Moves every parameter and buffer to `device` (in place: the module keeps its identity). */
  to(device: string): this {
    for (const [, m] of this.namedModules()) m.convertOwn((t) => noGrad(() => convert.to(t, device)));
    return this;
  }

  /** Casts every parameter and buffer (f64 models are what gradient checks run on). */
  cast(dtype: 'f32' | 'f64'): this {
    for (const [, m] of this.namedModules()) m.convertOwn((t) => noGrad(() => convert.cast(t, dtype)));
    return this;
  }

  private convertOwn(fn: (t: Tensor) => Tensor): void {
    for (const [n, t] of [...this._params]) {
      const u = fn(t);
      if (u !== t) this.replaceParameter(n, u.isLeaf ? u : u.detach());
    }
    for (const [n, t] of [...this._buffers]) {
      const u = fn(t);
      if (u !== t) this.replaceBuffer(n, u);
    }
  }

  /** Frees every parameter and buffer. The module is unusable afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)]) t.dispose();
  }

  /** This module's own state entries (not its children's). MultiBatchNorm2d overrides it. */
  protected ownStateSlots(prefix: string): StateSlot[] {
    const slots: StateSlot[] = [];
    const add = (name: string, isParam: boolean): void => {
      const cur = (): Tensor => (isParam ? this.param(name) : this.buffer(name));
      const t = cur();
      slots.push({
        key: prefix + name, shape: t.shape, dtype: t.dtype,
        get: () => noGrad(() => convert.clone(cur())),
        set: (v) => {
          const c = cur();
          const fresh = tensor(v.toArray(), c.shape, { dtype: c.dtype, device: c.device });
          if (isParam) this.replaceParameter(name, fresh);
          else this.replaceBuffer(name, fresh);
        },
      });
    };
    for (const n of this._params.keys()) add(n, true);
    for (const n of this._buffers.keys()) add(n, false);
    return slots;
  }

  stateSlots(): StateSlot[] {
    const out: StateSlot[] = [];
    for (const [p, m] of this.namedModules()) out.push(...m.ownStateSlots(p ? `${p}.` : ''));
    return out;
  }

  /** Copies of every parameter and buffer under checkpoint names (BN domains split per key). */
  stateDict(options?: StateDictOptions): Record<string, Tensor> {
    const opts = optionsArg(options, 'stateDict');
    const aux = opts.auxiliary === undefined ? true : boolArg(opts.auxiliary, 'stateDict', 'auxiliary');
    const out: Record<string, Tensor> = {};
    for (const s of this.stateSlots()) if (aux || !s.domain) out[s.key] = s.get();
    return out;
  }

  /** Loads values by name. Everything is checked before anything is written, so a failed load
   * leaves the module as it was. Throws StateDictError (with `.report`) listing every problem. */
  loadStateDict(state: Record<string, Tensor> | Map<string, Tensor>, options?: LoadStateDictOptions): LoadReport {
    const opts = optionsArg(options, 'loadStateDict');
    const strict = opts.strict === undefined ? true : boolArg(opts.strict, 'loadStateDict', 'strict');
    const auxMode = oneOfArg(opts.auxiliary ?? 'load', 'loadStateDict', 'auxiliary', ['load', 'skip', 'fromClean'] as const);
    if (state === null || typeof state !== 'object') throw new AdvpropError('ERR_ARG', `loadStateDict: state must be an object of tensors, got ${describeValue(state)}`);
    const entries = new Map<string, Tensor>(state instanceof Map ? state : Object.entries(state));
    const slots = this.stateSlots();
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [], loaded: 0 };
    const expected = slots.filter((s) => auxMode === 'load' || !s.domain);
    const known = new Set(slots.map((s) => s.key));
    const expectedKeys = new Set(expected.map((s) => s.key));
    for (const s of expected) {
      const t = entries.get(s.key);
      if (t === undefined) { report.missing.push(s.key); continue; }
      if (!isTensor(t) || t.isDisposed) {
        report.mismatched.push({ key: s.key, expected: desc(s.shape, s.dtype), got: isTensor(t) ? 'a disposed tensor' : describeValue(t) });
        continue;
      }
      const shapeOk = t.shape.length === s.shape.length && t.shape.every((d, i) => d === s.shape[i]);
      if (!shapeOk || t.dtype !== s.dtype) report.mismatched.push({ key: s.key, expected: desc(s.shape, s.dtype), got: desc(t.shape, t.dtype) });
    }
    // Auxiliary keys in a checkpoint loaded with 'skip'/'fromClean' are known, hence not unexpected.
    for (const k of entries.keys()) if (!expectedKeys.has(k) && !known.has(k)) report.unexpected.push(k);
    const problems: string[] = [
      ...report.mismatched.map((m) => `${m.key}: expected ${m.expected}, got ${m.got}`),
      ...(strict ? report.missing.map((k) => `missing ${k}`) : []),
      ...(strict ? report.unexpected.map((k) => `unexpected ${k}`) : []),
    ];
    if (problems.length) {
      const code = report.mismatched.length ? 'ERR_SHAPE' : 'ERR_ARG';
      const shown = problems.slice(0, 20).join('; ') + (problems.length > 20 ? `; ... (${problems.length - 20} more)` : '');
      throw new StateDictError(code, `loadStateDict: ${problems.length} problem(s) in ${this.constructor.name}: ${shown}`, report);
    }
    for (const s of expected) {
      const t = entries.get(s.key);
      if (t === undefined) continue;
      s.set(t);
      report.loaded++;
      if (auxMode === 'fromClean' && s.domain === 0)
        for (const a of slots) if (a.domain && a.key === auxKey(s.key, a.domain)) a.set(t);
    }
    return report;
  }
}

/** A Module argument (a model, a layer), or ERR_ARG naming what was given instead. */
export function checkModule(v: unknown, op: string, name = 'model'): Module {
  if (!(v instanceof Module)) throw new AdvpropError('ERR_ARG', `${op}: '${name}' must be an nn.Module (e.g. a model from ap.models.efficientnet), got ${describeValue(v)}`);
  return v;
}

/** The checkpoint name of domain d's copy of a BN tensor: `bn1.weight` → `bn1.aux1.weight`. */
export function auxKey(cleanKey: string, domain: number): string {
  if (typeof cleanKey !== 'string') throw new AdvpropError('ERR_ARG', `auxKey: cleanKey must be a string, got ${describeValue(cleanKey)}`);
  if (typeof domain !== 'number' || !Number.isSafeInteger(domain) || domain < 0)
    throw new AdvpropError('ERR_ARG', `auxKey: domain must be an integer >= 0, got ${describeValue(domain)}`);
  if (domain === 0) return cleanKey;
  const i = cleanKey.lastIndexOf('.');
  return i < 0 ? `aux${domain}.${cleanKey}` : `${cleanKey.slice(0, i)}.aux${domain}${cleanKey.slice(i)}`;
}

/** Modules applied in order. */
export class Sequential extends Module {
  private readonly layers: Module[];
  constructor(layers: readonly Module[]) {
    super();
    if (!Array.isArray(layers)) throw new AdvpropError('ERR_ARG', `Sequential: layers must be an array of modules, got ${describeValue(layers)}`);
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }
  forward(x: Tensor, opts?: ForwardOptions): Tensor {
    let h = x;
    for (const m of this.layers) h = m.forward(h, opts);
    return h;
  }
}
