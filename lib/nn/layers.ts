// The basic layers: Conv2d (NHWC, OHWI weights), Linear, MultiBatchNorm2d (K domains, fused
// activation) and Dropout.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { tensor } from '../creation.js';
import { noGrad } from '../autograd/mode.js';
import { clone } from '../ops/cast.js';
import { conv2d } from '../ops/conv2d.js';
import { linear } from '../ops/linear.js';
import { reshape, slice0 } from '../ops/shape.js';
import { multiBatchNorm, type BatchNormAct, type Segments } from '../ops/multi_batch_norm.js';
import { dropout } from '../ops/dropout.js';
import { Module, auxKey, type ForwardOptions, type StateSlot } from './module.js';
import { Initializer, convInit, denseInit, type InitOptions } from './init.js';

export interface LayerInit extends InitOptions {
  /** A shared initializer (a model passes one so every tensor gets its own key). */
  initializer?: Initializer;
}

const initOf = (o: LayerInit): Initializer => o.initializer ?? new Initializer(o);

function posInt(v: unknown, op: string, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw new AdvpropError('ERR_ARG', `${op}: ${what} must be a positive integer, got ${describeValue(v)}`);
  return v;
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

  constructor(inChannels: number, outChannels: number, kernel: number, opts: Conv2dLayerOptions = {}) {
    super();
    this.inChannels = posInt(inChannels, 'Conv2d', 'inChannels');
    this.outChannels = posInt(outChannels, 'Conv2d', 'outChannels');
    this.kernel = posInt(kernel, 'Conv2d', 'kernel');
    this.stride = posInt(opts.stride ?? 1, 'Conv2d', 'stride');
    this.groups = posInt(opts.groups ?? 1, 'Conv2d', 'groups');
    this.dilation = posInt(opts.dilation ?? 1, 'Conv2d', 'dilation');
    this.padding = opts.padding ?? 'same';
    if (!['same', 'symmetric', 'valid'].includes(this.padding))
      throw new AdvpropError('ERR_ARG', `Conv2d: padding must be 'same', 'symmetric' or 'valid', got ${describeValue(this.padding)}`);
    if (inChannels % this.groups || outChannels % this.groups)
      throw new AdvpropError('ERR_ARG', `Conv2d: groups ${this.groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`);
    const init = initOf(opts);
    this.registerParameter('weight', init.make([outChannels, kernel, kernel, inChannels / this.groups], convInit(outChannels, kernel, kernel, this.groups)));
    if (opts.bias) this.registerParameter('bias', init.make([outChannels], { type: 'const', value: 0 }));
  }

  forward(x: Tensor): Tensor {
    const p = (this.dilation * (this.kernel - 1)) >> 1;
    const padding = this.padding === 'symmetric' ? ([p, p, p, p] as const) : this.padding;
    return conv2d(x, this.param('weight'), {
      stride: this.stride, groups: this.groups, dilation: this.dilation, padding,
      bias: this.hasParam('bias') ? this.param('bias') : null,
    });
  }
}

export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LayerInit & { bias?: boolean } = {}) {
    super();
    posInt(inFeatures, 'Linear', 'inFeatures');
    posInt(outFeatures, 'Linear', 'outFeatures');
    const init = initOf(opts);
    this.registerParameter('weight', init.make([outFeatures, inFeatures], denseInit(outFeatures)));
    if (opts.bias ?? true) this.registerParameter('bias', init.make([outFeatures], { type: 'const', value: 0 }));
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

  constructor(channels: number, opts: MultiBatchNorm2dOptions & { initializer?: Initializer } = {}) {
    super();
    this.channels = posInt(channels, 'MultiBatchNorm2d', 'channels');
    this.domains = posInt(opts.domains ?? 2, 'MultiBatchNorm2d', 'domains');
    this.momentum = opts.momentum ?? 0.99;
    this.eps = opts.eps ?? 1e-3;
    this.act = opts.act ?? 'none';
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new AdvpropError('ERR_ARG', `MultiBatchNorm2d: momentum must be in [0, 1], got ${describeValue(opts.momentum)}`);
    if (!(this.eps > 0)) throw new AdvpropError('ERR_ARG', `MultiBatchNorm2d: eps must be > 0, got ${describeValue(opts.eps)}`);
    if (!['none', 'silu', 'relu'].includes(this.act)) throw new AdvpropError('ERR_ARG', `MultiBatchNorm2d: act must be 'none', 'silu' or 'relu', got ${describeValue(opts.act)}`);
    const init = opts.initializer ?? new Initializer(opts);
    const s = [this.domains, channels];
    this.registerParameter('weight', init.make(s, { type: 'const', value: 1 }));
    this.registerParameter('bias', init.make(s, { type: 'const', value: 0 }));
    this.registerBuffer('running_mean', init.make(s, { type: 'const', value: 0 }));
    this.registerBuffer('running_var', init.make(s, { type: 'const', value: 1 }));
  }

  forward(x: Tensor, opts: ForwardOptions = {}): Tensor {
    const X = checkTensor(x, 'MultiBatchNorm2d', 'x');
    const segments = resolveSegments(opts.segments, X.shape[0], this.domains, 'MultiBatchNorm2d');
    const mode = opts.bnMode ?? (this.training ? 'train' : 'eval');
    return multiBatchNorm(X, {
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
          get: () => noGrad(() => clone(reshape(slice0(cur(), d, 1), [C]))),
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
