// The basic layers: Conv2d (NHWC, OHWI weights), Linear, MultiBatchNorm2d (K domains, fused
// activation) and Dropout.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { tensor } from '../creation.js';
import { tidy } from '../memory.js';
import { noGrad } from '../autograd/mode.js';
import { clone } from '../ops/cast.js';
import { conv2d } from '../ops/conv2d.js';
import { linear } from '../ops/linear.js';
import { reshape, slice0 } from '../ops/shape.js';
import { multiBatchNorm, type BatchNormAct, type Segments } from '../ops/multi_batch_norm.js';
import { dropout } from '../ops/dropout.js';
import { bnSyncActive, syncMultiBatchNorm } from '../distributed/sync_bn.js';
import { Module, auxKey, type ForwardOptions, type StateSlot } from './module.js';
import { Initializer, convInit, denseInit, type InitOptions } from './init.js';
import { opNames } from '../native.js';
import { LIMITS, boolArg, intArg, numArg, oneOfArg, optionsArg } from '../args.js';

export interface LayerInit extends InitOptions {
  /** A shared initializer (a model passes one so every tensor gets its own key). */
  initializer?: Initializer;
}

function initOf(o: LayerInit, op: string): Initializer {
  if (o.initializer === undefined) return new Initializer(o);
  if (!(o.initializer instanceof Initializer))
    throw new AdvpropError('ERR_ARG', `${op}: initializer must be an nn.Initializer, got ${describeValue(o.initializer)}`);
  return o.initializer;
}

/** A size of a layer, bounded so that no typo or overflow reaches an allocation. */
function posInt(v: unknown, op: string, what: string, max: number = LIMITS.channels): number {
  return intArg(v, op, what, 1, max);
}

/** Refuses a parameter tensor larger than LIMITS.paramElements before allocating it. */
export function checkParamSize(shape: readonly number[], op: string, what: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > LIMITS.paramElements)
    throw new AdvpropError('ERR_ARG', `${op}: ${what} [${shape.join(', ')}] would have ${n} elements; at most ${LIMITS.paramElements} are supported`);
}

export interface Conv2dLayerOptions extends LayerInit {
  stride?: number;
  groups?: number;
  dilation?: number;
  bias?: boolean;
  /** 'same' (TF: the odd pixel goes bottom/right), 'symmetric' (d·(k−1)/2 each side, as
   * PyTorch-native EfficientNets pad) or 'valid'. */
  padding?: 'same' | 'symmetric' | 'valid';
}

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride: number;
  readonly groups: number;
  readonly dilation: number;
  readonly padding: 'same' | 'symmetric' | 'valid';

  constructor(inChannels: number, outChannels: number, kernel: number, options?: Conv2dLayerOptions) {
    super();
    const opts = optionsArg(options, 'Conv2d');
    this.inChannels = posInt(inChannels, 'Conv2d', 'inChannels');
    this.outChannels = posInt(outChannels, 'Conv2d', 'outChannels');
    this.kernel = posInt(kernel, 'Conv2d', 'kernel', LIMITS.kernel);
    this.stride = posInt(opts.stride ?? 1, 'Conv2d', 'stride', LIMITS.kernel);
    this.groups = posInt(opts.groups ?? 1, 'Conv2d', 'groups');
    this.dilation = posInt(opts.dilation ?? 1, 'Conv2d', 'dilation', LIMITS.kernel);
    this.padding = oneOfArg(opts.padding ?? 'same', 'Conv2d', 'padding', ['same', 'symmetric', 'valid'] as const);
    const bias = opts.bias === undefined ? false : boolArg(opts.bias, 'Conv2d', 'bias');
    if (inChannels % this.groups || outChannels % this.groups)
      throw new AdvpropError('ERR_ARG', `Conv2d: groups ${this.groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`);
    const shape = [outChannels, kernel, kernel, inChannels / this.groups];
    checkParamSize(shape, 'Conv2d', 'weight');
    const init = initOf(opts, 'Conv2d');
    this.registerParameter('weight', init.make(shape, convInit(outChannels, kernel, kernel, this.groups)));
    if (bias) this.registerParameter('bias', init.make([outChannels], { type: 'const', value: 0 }));
  }

  /** The kernel options of this layer ('symmetric' as explicit padding). */
  convOptions(): { stride: number; groups: number; dilation: number; padding: 'same' | 'valid' | readonly [number, number, number, number] } {
    const p = (this.dilation * (this.kernel - 1)) >> 1;
    const padding = this.padding === 'symmetric' ? ([p, p, p, p] as const) : this.padding;
    return { stride: this.stride, groups: this.groups, dilation: this.dilation, padding };
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.param('weight'), { ...this.convOptions(), bias: this.hasParam('bias') ? this.param('bias') : null });
  }
}

export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, options?: LayerInit & { bias?: boolean }) {
    super();
    const opts = optionsArg(options, 'Linear');
    posInt(inFeatures, 'Linear', 'inFeatures');
    posInt(outFeatures, 'Linear', 'outFeatures');
    checkParamSize([outFeatures, inFeatures], 'Linear', 'weight');
    const bias = opts.bias === undefined ? true : boolArg(opts.bias, 'Linear', 'bias');
    const init = initOf(opts, 'Linear');
    this.registerParameter('weight', init.make([outFeatures, inFeatures], denseInit(outFeatures)));
    if (bias) this.registerParameter('bias', init.make([outFeatures], { type: 'const', value: 0 }));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.param('weight'), this.hasParam('bias') ? this.param('bias') : null);
  }
}

export interface MultiBatchNorm2dOptions extends InitOptions {
  /** Number of BN domains K (default 2: clean and adversarial). */
  domains?: number;
  /** TF convention: running = m·running + (1 − m)·batch; default 0.99. */
  momentum?: number;
  eps?: number;
  act?: BatchNormAct;
}

/** Checks segments against the batch and the number of domains; the default is all clean. */
export function resolveSegments(segments: Segments | undefined, n: number, domains: number, op: string): Segments {
  intArg(n, op, 'batch size', 0, Number.MAX_SAFE_INTEGER);
  intArg(domains, op, 'domains', 1, LIMITS.domains);
  if (segments === undefined) return [[0, n]];
  if (!Array.isArray(segments)) throw new AdvpropError('ERR_ARG', `${op}: segments must be an array of [domain, count] pairs, got ${describeValue(segments)}`);
  let total = 0;
  segments.forEach((s, i) => {
    if (!Array.isArray(s) || s.length !== 2 || !Number.isInteger(s[0]) || !Number.isInteger(s[1]) || s[1] < 0)
      throw new AdvpropError('ERR_ARG', `${op}: segments[${i}] must be [domain, count] with integers, got ${describeValue(s)}`);
    if (s[0] < 0 || s[0] >= domains)
      throw new AdvpropError('ERR_ARG', `${op}: segments[${i}] names domain ${s[0]}, but the layers have ${domains} domain(s)`);
    total += s[1];
  });
  if (total !== n) throw new AdvpropError('ERR_SHAPE', `${op}: segments cover ${total} samples but the batch has ${n}`);
  return segments;
}

/** Batch norm with K sets of statistics and affine parameters; each call routes batch segments
 * to domains. Parameters `weight`/`bias` and buffers `running_mean`/`running_var` are [K, C];
 * the state dict stores domain 0 under timm's names and domain d under `aux{d}.`. */
export class MultiBatchNorm2d extends Module {
  readonly channels: number;
  readonly domains: number;
  readonly momentum: number;
  readonly eps: number;
  readonly act: BatchNormAct;

  constructor(channels: number, options?: MultiBatchNorm2dOptions & { initializer?: Initializer }) {
    super();
    const op = 'MultiBatchNorm2d';
    const opts = optionsArg(options, op);
    this.channels = posInt(channels, op, 'channels');
    this.domains = posInt(opts.domains ?? 2, op, 'domains', LIMITS.domains);
    this.momentum = numArg(opts.momentum ?? 0.99, op, 'momentum', 0, 1);
    this.eps = numArg(opts.eps ?? 1e-3, op, 'eps', 0, Infinity, { min: true });
    // Checked now, although the kernel checks it too: the layer keeps it for every later forward.
    this.act = oneOfArg(opts.act ?? 'none', op, 'act', opNames().batchNormAct);
    const s = [this.domains, channels];
    checkParamSize(s, op, 'weight');
    const init = initOf(opts, op);
    this.registerParameter('weight', init.make(s, { type: 'const', value: 1 }));
    this.registerParameter('bias', init.make(s, { type: 'const', value: 0 }));
    this.registerBuffer('running_mean', init.make(s, { type: 'const', value: 0 }));
    this.registerBuffer('running_var', init.make(s, { type: 'const', value: 1 }));
  }

  forward(x: Tensor, options?: ForwardOptions): Tensor {
    const opts = optionsArg(options, 'MultiBatchNorm2d.forward');
    const X = checkTensor(x, 'MultiBatchNorm2d', 'x');
    // All clean by default; the kernel checks segments against the domains and the batch.
    const segments = opts.segments ?? [[0, X.shape[0] ?? 0]];
    const mode = opts.bnMode ?? (this.training ? 'train' : 'eval');
    // Inside a distributed step with --bn-sync domain, batch statistics span every rank.
    const norm = bnSyncActive() && mode !== 'eval' ? syncMultiBatchNorm : multiBatchNorm;
    return norm(X, {
      gamma: this.param('weight'), beta: this.param('bias'),
      runningMean: this.buffer('running_mean'), runningVar: this.buffer('running_var'),
    }, segments, { mode, momentum: this.momentum, eps: this.eps, act: this.act });
  }

  /** One key per domain and tensor; writes go through the host, row by row. */
  protected override ownStateSlots(prefix: string): StateSlot[] {
    const slots: StateSlot[] = [];
    const C = this.channels;
    for (const [name, isParam] of [['weight', true], ['bias', true], ['running_mean', false], ['running_var', false]] as const) {
      const cur = (): Tensor => (isParam ? this.param(name) : this.buffer(name));
      for (let d = 0; d < this.domains; d++) {
        slots.push({
          key: auxKey(prefix + name, d), shape: [C], dtype: cur().dtype, domain: d,
          // The row and reshape views are freed here: left to the finalizer they would keep the
          // old [K, C] storage alive after the parameter is replaced (one leak per key and save).
          get: () => tidy(() => noGrad(() => clone(reshape(slice0(cur(), d, 1), [C])))),
          set: (v) => {
            const c = cur();
            const host = c.toArray();
            host.set(v.toArray(), d * C);
            const fresh = tensor(host, c.shape, { dtype: c.dtype, device: c.device });
            if (isParam) this.replaceParameter(name, fresh);
            else this.replaceBuffer(name, fresh);
          },
        });
      }
    }
    return slots;
  }
}

/** @deprecated Renamed MultiBatchNorm2d: it holds K domains, not two. The same class. */
export const DualBatchNorm2d = MultiBatchNorm2d;
/** @deprecated Renamed MultiBatchNorm2d: it holds K domains, not two. */
export type DualBatchNorm2d = MultiBatchNorm2d;
/** @deprecated Renamed MultiBatchNorm2dOptions. */
export type DualBatchNormOptions = MultiBatchNorm2dOptions;

export class Dropout extends Module {
  constructor(readonly rate: number) {
    super();
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new AdvpropError('ERR_ARG', `Dropout: rate must be in [0, 1), got ${describeValue(rate)}`);
  }

  forward(x: Tensor): Tensor {
    return this.training && this.rate > 0 ? dropout(x, this.rate) : x;
  }
}
