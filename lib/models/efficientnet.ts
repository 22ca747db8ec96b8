// EfficientNet B0–B8 and L2 with K-domain batch norm. forward() takes NHWC images in [0, 1] and
// normalises them itself, so attacks perturb pixels, and routes batch segments to BN domains.
import { AdvpropError } from '../errors.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { tensor } from '../creation.js';
import { keep, tidy } from '../memory.js';
import { reshape, slice0 } from '../kernels.js';
import { add, mul } from '../ops/arithmetic.js';
import { globalAvgPool } from '../ops/pool.js';
import { Module, type ForwardOptions } from '../nn/module.js';
import { Conv2d, MultiBatchNorm2d, Dropout, Linear, resolveSegments } from '../nn/layers.js';
import { MBConvBlock } from '../nn/blocks.js';
import { convBnEval, convBnEvalNormalized, inferenceDomain, type InputAffine } from '../nn/fused.js';
import { Initializer } from '../nn/init.js';
import { checkConfig, efficientnetConfig, efficientnetTensorSpecs, type EfficientNetConfig, type EfficientNetName, type EfficientNetOptions } from './efficientnet_config.js';
import { LIMITS, optionsArg } from '../args.js';

class Stage extends Module {
  forward(x: Tensor, opts?: ForwardOptions): Tensor {
    // On the inference path nothing records, so the stage's own intermediates go at once.
    const free = inferenceDomain(this, opts, x.shape[0] ?? 0) !== null;
    let h = x;
    for (const [, b] of this.namedChildren()) {
      const next = b.forward(h, opts);
      if (free && h !== x && next !== h) h.dispose();
      h = next;
    }
    return h;
  }
  add(name: string, m: Module): void {
    this.registerModule(name, m);
  }
}

export class EfficientNet extends Module {
  readonly config: EfficientNetConfig;
  readonly conv_stem: Conv2d;
  readonly bn1: MultiBatchNorm2d;
  readonly blocks: Module;
  readonly conv_head: Conv2d;
  readonly bn2: MultiBatchNorm2d;
  readonly dropout: Dropout;
  readonly classifier: Linear;

  constructor(config: EfficientNetConfig, options?: { dtype?: 'f32' | 'f64'; device?: string; seed?: number }) {
    super();
    const c = checkConfig(config, 'EfficientNet');
    const opts = optionsArg(options, 'EfficientNet');
    // Each size is bounded; their products are too, before the first tensor is allocated.
    let elements = 0;
    for (const s of efficientnetTensorSpecs(c)) elements += s.shape.reduce((a, b) => a * b, 1);
    if (elements > LIMITS.paramElements)
      throw new AdvpropError('ERR_ARG', `EfficientNet: the config has ${elements} parameter and buffer elements; at most ${LIMITS.paramElements} are supported`);
    this.config = c;
    const initializer = new Initializer({ dtype: opts.dtype, device: opts.device, seed: opts.seed });
    const init = { initializer };
    const bnOpts = { ...init, domains: c.domains, momentum: c.bnMomentum, eps: c.bnEps };
    this.conv_stem = this.registerModule('conv_stem', new Conv2d(c.inChannels, c.stemFilters, 3, { ...init, stride: 2, padding: c.padding }));
    this.bn1 = this.registerModule('bn1', new MultiBatchNorm2d(c.stemFilters, { ...bnOpts, act: 'silu' }));
    const blocks = new Stage();
    const stages: Stage[] = [];
    for (const b of c.blocks) {
      if (!stages[b.stage]) {
        stages[b.stage] = new Stage();
        blocks.add(String(b.stage), stages[b.stage]);
      }
      stages[b.stage].add(String(b.index), new MBConvBlock({
        ...init, inChannels: b.inFilters, outChannels: b.outFilters, kernel: b.kernel, stride: b.stride, expand: b.expand,
        seChannels: b.seFilters, dropConnect: b.dropConnect, domains: c.domains, bnMomentum: c.bnMomentum, bnEps: c.bnEps, padding: c.padding,
      }));
    }
    this.blocks = this.registerModule('blocks', blocks);
    const last = c.blocks[c.blocks.length - 1].outFilters;
    this.conv_head = this.registerModule('conv_head', new Conv2d(last, c.headFilters, 1, { ...init, padding: c.padding }));
    this.bn2 = this.registerModule('bn2', new MultiBatchNorm2d(c.headFilters, { ...bnOpts, act: 'silu' }));
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout));
    this.classifier = this.registerModule('classifier', new Linear(c.headFilters, c.numClasses, init));
  }

  // The normalisation's per-channel factors on the input's device and dtype, made once: a forward
  // captured in a CUDA graph cannot upload host values (lib/train/step_graph.ts).
  private normConsts: ({ device: string; dtype: string } & InputAffine) | null = null;

  private normalizeConsts(n: { mean: readonly number[]; std: readonly number[] }, X: Tensor): InputAffine {
    const c = this.normConsts;
    if (c && c.device === X.device && c.dtype === X.dtype && !c.scale.isDisposed) return c;
    this.disposeNormConsts();
    const opts = { dtype: X.dtype, device: X.device };
    const C = n.std.length;
    // One [2, C] tensor (what the stem takes, fused.ts) and its rows as [C] views (the plain path's).
    const both = keep(tensor([...n.std.map((s) => 1 / s), ...n.mean.map((m, i) => -m / n.std[i]!)], [2, C], opts));
    const row = (i: number): Tensor => tidy(() => keep(reshape(slice0(both, i, 1), [C])));
    this.normConsts = { device: X.device, dtype: X.dtype, scale: row(0), shift: row(1), both };
    return this.normConsts;
  }

  private disposeNormConsts(): void {
    this.normConsts?.scale.dispose();
    this.normConsts?.shift.dispose();
    this.normConsts?.both.dispose();
    this.normConsts = null;
  }

  override dispose(): void {
    this.disposeNormConsts();
    super.dispose();
  }

  /** Normalised images, the stem and the blocks: the [N, h, w, headFilters] features before pooling. */
  features(x: Tensor, options?: ForwardOptions): Tensor {
    const opts = optionsArg(options, 'EfficientNet.forward');
    const X = checkTensor(x, 'EfficientNet.forward', 'x');
    const w = this.conv_stem.param('weight');
    if (X.rank !== 4 || X.shape[3] !== this.config.inChannels)
      throw new AdvpropError('ERR_SHAPE', `EfficientNet.forward: x must be NHWC [N, H, W, ${this.config.inChannels}], got [${X.shape.join(', ')}]`);
    if (X.dtype !== w.dtype) throw new AdvpropError('ERR_DTYPE', `EfficientNet.forward: x is ${X.dtype} but the model is ${w.dtype}`);
    if (X.device !== w.device) throw new AdvpropError('ERR_DEVICE', `EfficientNet.forward: x is on ${X.device} but the model is on ${w.device}`);
    const o: ForwardOptions = { ...opts, segments: resolveSegments(opts.segments, X.shape[0], this.config.domains, 'EfficientNet.forward') };
    const n = this.config.normalize;
    // (x − mean) / std as x · (1/std) + (−mean/std), per channel (the last NHWC axis).
    const norm = n ? this.normalizeConsts(n, X) : null;
    const d = inferenceDomain(this, o, X.shape[0]);
    if (d !== null) {
      // The inference path (nn/fused.ts); each stage frees what it no longer needs. The stem
      // takes the normalisation as it reads the images.
      const stem = norm ? convBnEvalNormalized(this.conv_stem, this.bn1, X, d, norm) : convBnEval(this.conv_stem, this.bn1, X, d);
      const body = this.blocks.forward(stem, o);
      if (body !== stem) stem.dispose();
      const head = convBnEval(this.conv_head, this.bn2, body, d);
      body.dispose();
      return head;
    }
    let h = norm ? add(mul(X, norm.scale), norm.shift) : X;
    h = this.bn1.forward(this.conv_stem.forward(h), o);
    h = this.blocks.forward(h, o);
    return this.bn2.forward(this.conv_head.forward(h), o);
  }

  /** NHWC images [N, H, W, C] in [0, 1] → logits [N, numClasses]. */
  forward(x: Tensor, opts?: ForwardOptions): Tensor {
    const f = globalAvgPool(this.features(x, opts));
    return this.classifier.forward(this.dropout.forward(f));
  }
}

export interface BuildOptions extends EfficientNetOptions {}

/** ap.models.efficientnet('b0', { numClasses, domains, ... }). */
export function efficientnet(name: EfficientNetName | string, options?: BuildOptions): EfficientNet {
  const opts = optionsArg(options, 'efficientnet');
  const cfg = efficientnetConfig(name, opts);
  return new EfficientNet(cfg, { dtype: opts.dtype, device: opts.device, seed: opts.seed });
}
