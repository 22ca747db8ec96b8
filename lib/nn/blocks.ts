// EfficientNet's building blocks: squeeze-excite and the MBConv (inverted residual) block with
// drop-connect on its residual branch. Layer names follow timm so checkpoints line up.
import type { Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';
import { add } from '../ops/arithmetic.js';
import { reshape } from '../ops/shape.js';
import { squeezeExcite } from '../ops/squeeze_excite.js';
import { globalAvgPool } from '../kernels/pool.js';
import { dropConnect, dropConnectAdd } from '../ops/dropout.js';
import { Module, type ForwardOptions } from './module.js';
import { convBnEval, convBnEvalPooled, inferenceDomain, seGatePooled } from './fused.js';
import { Conv2d, MultiBatchNorm2d, type LayerInit } from './layers.js';
import type { BatchNormAct } from '../ops/multi_batch_norm.js';
import { opNames } from '../native.js';
import { LIMITS, intArg, numArg, objectArg, oneOfArg } from '../args.js';

/** x · sigmoid(W₂ silu(W₁ mean_hw(x) + b₁) + b₂), one op (ops/squeeze_excite.ts). The two 1×1
 * convs keep timm's conv weight shapes [out, 1, 1, in] but run as GEMMs on the pooled [N, C] vector. */
export class SqueezeExcite extends Module {
  readonly conv_reduce: Conv2d;
  readonly conv_expand: Conv2d;

  constructor(readonly channels: number, readonly reduced: number, opts: LayerInit = {}) {
    super();
    this.conv_reduce = this.registerModule('conv_reduce', new Conv2d(channels, reduced, 1, { ...opts, bias: true }));
    this.conv_expand = this.registerModule('conv_expand', new Conv2d(reduced, channels, 1, { ...opts, bias: true }));
  }

  forward(x: Tensor): Tensor {
    const w1 = reshape(this.conv_reduce.param('weight'), [this.reduced, this.channels]);
    const w2 = reshape(this.conv_expand.param('weight'), [this.channels, this.reduced]);
    return squeezeExcite(x, w1, this.conv_reduce.param('bias'), w2, this.conv_expand.param('bias'));
  }

  /** The gate [N, C] alone, untaped (the inference path: the next 1×1 convolution applies it). */
  gate(x: Tensor): Tensor {
    const pooled = globalAvgPool(x);
    const s = this.gateFromPooled(pooled);
    pooled.dispose();
    return s;
  }

  /** gate(x) from x's global average pool [N, C] (the inference path takes it with the
   * convolution before, fused.ts convBnEvalPooled). */
  gateFromPooled(pooled: Tensor): Tensor {
    return seGatePooled(pooled, this.conv_reduce.param('weight'), this.conv_reduce.param('bias'), this.conv_expand.param('weight'),
      this.conv_expand.param('bias'));
  }
}

/** A drop-connect (stochastic depth) layer: active in training with rate > 0. */
export class DropConnect extends Module {
  constructor(readonly rate: number) {
    super();
    numArg(rate, 'DropConnect', 'rate', 0, 1, { max: true });
  }
  forward(x: Tensor): Tensor {
    return this.training && this.rate > 0 ? dropConnect(x, this.rate) : x;
  }
  /** forward(h) + residual, in one kernel pass when active. Takes the one key forward would. */
  forwardAdd(h: Tensor, residual: Tensor): Tensor {
    return this.training && this.rate > 0 ? dropConnectAdd(h, residual, this.rate) : add(h, residual);
  }
}

export interface MBConvOptions extends LayerInit {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  expand: number;
  /** Width of the SE bottleneck (0: no SE). */
  seChannels: number;
  dropConnect?: number;
  domains?: number;
  bnMomentum?: number;
  bnEps?: number;
  padding?: 'same' | 'symmetric';
  act?: BatchNormAct;
}

/** [expand 1×1 → BN+swish] → depthwise k×k → BN+swish → SE → project 1×1 → BN → (+ input).
 * With expand 1 it is timm's DepthwiseSeparableConv (conv_dw, bn1, se, conv_pw, bn2), else its
 * InvertedResidual (conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3). */
export class MBConvBlock extends Module {
  readonly expandConv: Conv2d | null = null;
  readonly expandBn: MultiBatchNorm2d | null = null;
  readonly dwConv: Conv2d;
  readonly dwBn: MultiBatchNorm2d;
  readonly se: SqueezeExcite | null = null;
  readonly projectConv: Conv2d;
  readonly projectBn: MultiBatchNorm2d;
  readonly dropConnect: DropConnect;
  readonly skip: boolean;

  constructor(o: MBConvOptions) {
    super();
    const op = 'MBConvBlock';
    objectArg(o, op, 'options', 'an object of block options');
    for (const k of ['inChannels', 'outChannels', 'expand'] as const) intArg(o[k], op, k, 1, LIMITS.channels);
    for (const k of ['kernel', 'stride'] as const) intArg(o[k], op, k, 1, LIMITS.kernel);
    intArg(o.seChannels, op, 'seChannels', 0, LIMITS.channels);
    if (o.inChannels * o.expand > LIMITS.channels)
      throw new AdvpropError('ERR_ARG', `${op}: inChannels ${o.inChannels} × expand ${o.expand} exceeds ${LIMITS.channels} channels`);
    if (o.dropConnect !== undefined) numArg(o.dropConnect, op, 'dropConnect', 0, 1, { max: true });
    if (o.padding !== undefined) oneOfArg(o.padding, op, 'padding', ['same', 'symmetric'] as const);
    if (o.act !== undefined) oneOfArg(o.act, op, 'act', opNames().batchNormAct);
    // Checked here too, so that a bad one fails before the first layer allocates its weights.
    if (o.domains !== undefined) intArg(o.domains, op, 'domains', 1, LIMITS.domains);
    if (o.bnMomentum !== undefined) numArg(o.bnMomentum, op, 'bnMomentum', 0, 1);
    if (o.bnEps !== undefined) numArg(o.bnEps, op, 'bnEps', 0, Infinity, { min: true });
    const init = { dtype: o.dtype, device: o.device, seed: o.seed, initializer: o.initializer };
    const padding = o.padding ?? 'same';
    const act = o.act ?? 'silu';
    const bn = (c: number, a: BatchNormAct): MultiBatchNorm2d =>
      new MultiBatchNorm2d(c, { ...init, domains: o.domains, momentum: o.bnMomentum, eps: o.bnEps, act: a });
    const mid = o.inChannels * o.expand;
    const ds = o.expand === 1;
    // Registration order is timm's, so state dicts list keys in the same order.
    if (!ds) {
      this.expandConv = this.registerModule('conv_pw', new Conv2d(o.inChannels, mid, 1, { ...init, padding }));
      this.expandBn = this.registerModule('bn1', bn(mid, act));
    }
    this.dwConv = this.registerModule('conv_dw', new Conv2d(mid, mid, o.kernel, { ...init, stride: o.stride, groups: mid, padding }));
    this.dwBn = this.registerModule(ds ? 'bn1' : 'bn2', bn(mid, act));
    if (o.seChannels > 0) this.se = this.registerModule('se', new SqueezeExcite(mid, o.seChannels, init));
    this.projectConv = this.registerModule(ds ? 'conv_pw' : 'conv_pwl', new Conv2d(mid, o.outChannels, 1, { ...init, padding }));
    this.projectBn = this.registerModule(ds ? 'bn2' : 'bn3', bn(o.outChannels, 'none'));
    this.dropConnect = this.registerModule('drop_path', new DropConnect(o.dropConnect ?? 0));
    this.skip = o.stride === 1 && o.inChannels === o.outChannels;
  }

  forward(x: Tensor, opts: ForwardOptions = {}): Tensor {
    const d = inferenceDomain(this, opts, x.shape[0] ?? 0);
    if (d !== null) return this.forwardInference(x, d);
    let h = x;
    if (this.expandConv && this.expandBn) h = this.expandBn.forward(this.expandConv.forward(h), opts);
    h = this.dwBn.forward(this.dwConv.forward(h), opts);
    if (this.se) h = this.se.forward(h);
    h = this.projectBn.forward(this.projectConv.forward(h), opts);
    if (!this.skip) return h;
    return this.dropConnect.forwardAdd(h, x);
  }

  /** The inference path (nn/fused.ts): three kernels and SE's gate, the gate applied as the
   * projection reads its input and the residual added in its epilogue; the block's own
   * intermediates are freed as soon as they are read. */
  private forwardInference(x: Tensor, d: number): Tensor {
    let h = x;
    const step = (next: Tensor): void => {
      if (h !== x) h.dispose();
      h = next;
    };
    if (this.expandConv && this.expandBn) step(convBnEval(this.expandConv, this.expandBn, h, d));
    let gate: Tensor | undefined;
    if (this.se) {
      const [y, pooled] = convBnEvalPooled(this.dwConv, this.dwBn, h, d);
      step(y);
      gate = this.se.gateFromPooled(pooled);
      pooled.dispose();
    } else {
      step(convBnEval(this.dwConv, this.dwBn, h, d));
    }
    step(convBnEval(this.projectConv, this.projectBn, h, d, this.skip ? x : undefined, gate));
    gate?.dispose();
    return h;
  }
}
