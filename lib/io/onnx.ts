// ap.io.exportOnnx: an EfficientNet's inference graph as an ONNX model (opset 17) — what the
// model computes in eval mode with the clean BN domain (domain 0, running statistics): the
// input's normalisation, the stem, the MBConv blocks, the head, the pool and the classifier.
// Drop-connect and dropout are the identity in eval mode and leave no node.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { addon } from '../native.js';
import { LIMITS, boolArg, intArg, oneOfArg, optionsArg, pathArg } from '../args.js';
import { EfficientNet } from '../models/efficientnet.js';
import { Conv2d, Linear, MultiBatchNorm2d } from '../nn/layers.js';
import { MBConvBlock, SqueezeExcite } from '../nn/blocks.js';
import type { Module } from '../nn/module.js';
import { ohwiToOihw, writeFileAtomic } from './safetensors.js';
import { encodeOnnx, type OnnxModel } from './onnx_proto.js';
import { GraphBuilder, valueInfo } from './onnx_graph.js';

const OP = 'exportOnnx';
export const ONNX_OPSET = 17;
const IR_VERSION = 8; // the IR of opset 17's ONNX release (1.12)

export interface ExportOnnxOptions {
  /** Input side (or [height, width]) of a fixed-size graph; default the model's nominal resolution. */
  resolution?: number | readonly [number, number];
  /** Height and width as symbolic dims ('H', 'W'); excludes `resolution`. Default false. */
  dynamicSpatial?: boolean;
  /** The input's layout: 'nhwc' (ours, default) or 'nchw'. */
  layout?: 'nhwc' | 'nchw';
  /** Fold each BN into the convolution before it (weights scaled, a bias added). Default false. */
  foldBn?: boolean;
  /** Weights stored as 'f32' (default) or 'f16' (widened to f32 by Cast nodes in the graph). */
  dtype?: 'f32' | 'f16';
}

export interface OnnxExportInfo {
  file: string;
  bytes: number;
  input: { name: string; shape: (number | string)[] };
  output: { name: string; shape: (number | string)[] };
  nodes: number;
  initializers: number;
}

interface Ctx {
  g: GraphBuilder;
  foldBn: boolean;
  /** Spatial size of the current activation, or null for a dynamic-size graph. */
  hw: [number, number] | null;
}

/** A module's parameter on the host, as f64 (the model may be f32 or f64, on any device). */
function host(m: Module, name: string, buffer = false): Float64Array {
  return Float64Array.from((buffer ? m.buffer(name) : m.param(name)).toArray() as ArrayLike<number>);
}

/** Domain 0 of a BN: scale γ/√(σ²+ε) and shift β − μ·scale per channel, plus the raw rows. */
function cleanBn(bn: MultiBatchNorm2d): { gamma: Float64Array; beta: Float64Array; mean: Float64Array; variance: Float64Array; scale: Float64Array; shift: Float64Array } {
  const C = bn.channels;
  // Rows are [domains, C]: the first C values are domain 0, the clean one inference uses.
  const [gamma, beta] = [host(bn, 'weight').slice(0, C), host(bn, 'bias').slice(0, C)];
  const [mean, variance] = [host(bn, 'running_mean', true).slice(0, C), host(bn, 'running_var', true).slice(0, C)];
  const scale = gamma.map((g, c) => g / Math.sqrt(variance[c] + bn.eps));
  const shift = beta.map((b, c) => b - mean[c] * scale[c]);
  return { gamma, beta, mean, variance, scale, shift };
}

/** ONNX Conv attributes for our Conv2d, and the output size when the input size is known. */
function convAttrs(conv: Conv2d, hw: [number, number] | null, where: string): { attrs: Record<string, number | string | number[]>; hw: [number, number] | null } {
  const { kernel: k, stride: s, dilation: d } = conv;
  const span = d * (k - 1) + 1;
  const attrs: Record<string, number | string | number[]> = { kernel_shape: [k, k], strides: [s, s], dilations: [d, d], group: conv.groups };
  if (conv.padding === 'symmetric' || conv.padding === 'valid') {
    const p = conv.padding === 'valid' ? 0 : (d * (k - 1)) >> 1;
    attrs.pads = [p, p, p, p];
    if (!hw) return { attrs, hw };
    const out = hw.map((n) => Math.floor((n + 2 * p - span) / s) + 1) as [number, number];
    if (out.some((n) => n < 1))
      throw new AdvpropError('ERR_SHAPE', `${OP}: ${where}: a ${hw.join('×')} input is smaller than the ${k}×${k} kernel (padding ${p}); give a larger resolution`);
    return { attrs, hw: out };
  }
  // TensorFlow's 'same': out = ⌈n/s⌉, the odd padding pixel at the end — ONNX's SAME_UPPER.
  if (!hw) return { attrs: { ...attrs, auto_pad: 'SAME_UPPER' }, hw };
  const lead: number[] = [];
  const tail: number[] = [];
  const out = hw.map((n) => {
    const o = Math.ceil(n / s);
    const total = Math.max((o - 1) * s + span - n, 0);
    lead.push(total >> 1);
    tail.push(total - (total >> 1));
    return o;
  }) as [number, number];
  attrs.pads = [...lead, ...tail];
  return { attrs, hw: out };
}

function activation(ctx: Ctx, x: string, act: string, name: string): string {
  if (act === 'none') return x;
  if (act === 'relu') return ctx.g.node('Relu', [x], `${name}.relu`);
  // No SiLU op in opset 17: x · sigmoid(x), which runtimes fuse.
  const s = ctx.g.node('Sigmoid', [x], `${name}.sigmoid`);
  return ctx.g.node('Mul', [x, s], `${name}.silu`);
}

/** conv → BN (domain 0) → activation; with foldBn one Conv with the BN's scale and shift folded in. */
function convBn(ctx: Ctx, x: string, conv: Conv2d, convName: string, bn: MultiBatchNorm2d | null, bnName: string): string {
  const { attrs, hw } = convAttrs(conv, ctx.hw, convName);
  ctx.hw = hw;
  const raw = ohwiToOihw(host(conv, 'weight'), [conv.outChannels, conv.kernel, conv.kernel, conv.inChannels / conv.groups]);
  const per = raw.data.length / conv.outChannels;
  let w = raw.data;
  let bias: Float64Array | null = conv.hasParam('bias') ? host(conv, 'bias') : null;
  if (bn && ctx.foldBn) {
    // Folded in f64: w·scale per output channel, bias·scale + shift.
    const { scale, shift } = cleanBn(bn);
    w = w.map((v, i) => v * scale[Math.floor(i / per)]);
    bias = shift.map((sh, c) => sh + (bias ? bias[c] * scale[c] : 0));
  }
  const inputs = [x, ctx.g.weight(`${convName}.weight`, w, raw.shape)];
  if (bias) inputs.push(ctx.g.weight(`${convName}.bias`, bias, [conv.outChannels]));
  let h = ctx.g.node('Conv', inputs, convName, attrs);
  if (!bn) return h;
  if (!ctx.foldBn) {
    const { gamma, beta, mean, variance } = cleanBn(bn);
    const C = [bn.channels];
    h = ctx.g.node('BatchNormalization', [h, ctx.g.weight(`${bnName}.weight`, gamma, C), ctx.g.weight(`${bnName}.bias`, beta, C),
      ctx.g.weight(`${bnName}.running_mean`, mean, C), ctx.g.weight(`${bnName}.running_var`, variance, C)], bnName, { epsilon: { float: bn.eps } });
  }
  return activation(ctx, h, bn.act, bnName);
}

/** x · sigmoid(W₂ silu(W₁ mean_hw(x) + b₁) + b₂) with the two FCs as 1×1 convs on [N, C, 1, 1]. */
function squeezeExcite(ctx: Ctx, x: string, se: SqueezeExcite, name: string): string {
  const { g } = ctx;
  const pooled = g.node('GlobalAveragePool', [x], `${name}.pool`);
  const fc = (conv: Conv2d, cname: string, input: string): string =>
    // OHWI [out, 1, 1, in] and OIHW [out, in, 1, 1] hold the same values in the same order.
    g.node('Conv', [input, g.weight(`${cname}.weight`, host(conv, 'weight'), [conv.outChannels, conv.inChannels, 1, 1]),
      g.weight(`${cname}.bias`, host(conv, 'bias'), [conv.outChannels])], cname, { kernel_shape: [1, 1] });
  const r = activation(ctx, fc(se.conv_reduce, `${name}.conv_reduce`, pooled), 'silu', `${name}.conv_reduce`);
  const gate = g.node('Sigmoid', [fc(se.conv_expand, `${name}.conv_expand`, r)], `${name}.gate`);
  return g.node('Mul', [x, gate], name);
}

function mbconv(ctx: Ctx, x: string, b: MBConvBlock, name: string): string {
  // The layer names are timm's, as in the block's own registration.
  const ds = !b.expandConv;
  let h = x;
  if (b.expandConv) h = convBn(ctx, h, b.expandConv, `${name}.conv_pw`, b.expandBn, `${name}.bn1`);
  h = convBn(ctx, h, b.dwConv, `${name}.conv_dw`, b.dwBn, ds ? `${name}.bn1` : `${name}.bn2`);
  if (b.se) h = squeezeExcite(ctx, h, b.se, `${name}.se`);
  h = convBn(ctx, h, b.projectConv, ds ? `${name}.conv_pw` : `${name}.conv_pwl`, b.projectBn, ds ? `${name}.bn2` : `${name}.bn3`);
  return b.skip ? ctx.g.node('Add', [h, x], `${name}.residual`) : h;
}

function resolutionOf(o: ExportOnnxOptions, model: EfficientNet): [number, number] | null {
  const dynamic = o.dynamicSpatial === undefined ? false : boolArg(o.dynamicSpatial, OP, 'dynamicSpatial');
  if (dynamic) {
    if (o.resolution !== undefined) throw new AdvpropError('ERR_ARG', `${OP}: resolution ${describeValue(o.resolution)} and dynamicSpatial: true exclude each other`);
    return null;
  }
  const r = o.resolution ?? model.config.resolution;
  if (typeof r === 'number') return [intArg(r, OP, 'resolution', 1, LIMITS.imageSide), r];
  if (!Array.isArray(r) || r.length !== 2)
    throw new AdvpropError('ERR_ARG', `${OP}: resolution must be a positive integer or [height, width], got ${describeValue(r)}`);
  return [intArg(r[0], OP, 'resolution[0]', 1, LIMITS.imageSide), intArg(r[1], OP, 'resolution[1]', 1, LIMITS.imageSide)];
}

/** The model's ONNX graph as a ModelProto object (exportOnnx writes its bytes). */
export function onnxModel(model: EfficientNet, options?: ExportOnnxOptions): OnnxModel {
  if (!(model instanceof EfficientNet))
    throw new AdvpropError('ERR_ARG', `${OP}: model must be an EfficientNet (ap.models.efficientnet), got ${describeValue(model)}`);
  const o = optionsArg(options, OP);
  const layout = oneOfArg(o.layout ?? 'nhwc', OP, 'layout', ['nhwc', 'nchw'] as const);
  const dtype = oneOfArg(o.dtype ?? 'f32', OP, 'dtype', ['f32', 'f16'] as const);
  const foldBn = o.foldBn === undefined ? false : boolArg(o.foldBn, OP, 'foldBn');
  const hw = resolutionOf(o, model);
  const c = model.config;
  const ctx: Ctx = { g: new GraphBuilder(dtype), foldBn, hw };
  const { g } = ctx;
  const [H, W]: (number | string)[] = hw ?? ['H', 'W'];
  const inShape = layout === 'nhwc' ? ['N', H, W, c.inChannels] : ['N', c.inChannels, H, W];
  let h = g.input('images');
  // The model's own normalisation, x · (1/std) + (−mean/std) per channel, in f32 as forward() does.
  const n = c.normalize;
  const perChannel = layout === 'nhwc' ? [c.inChannels] : [c.inChannels, 1, 1];
  if (n) {
    h = g.node('Mul', [h, g.constant('normalize.scale', Float32Array.from(n.std, (s) => 1 / s), perChannel)], 'normalize.mul');
    h = g.node('Add', [h, g.constant('normalize.shift', Float32Array.from(n.mean, (m, i) => -m / n.std[i]), perChannel)], 'normalize.add');
  }
  if (layout === 'nhwc') h = g.node('Transpose', [h], 'to_nchw', { perm: [0, 3, 1, 2] });
  h = convBn(ctx, h, model.conv_stem, 'conv_stem', model.bn1, 'bn1');
  for (const [si, stage] of model.blocks.namedChildren())
    for (const [bi, block] of stage.namedChildren()) {
      if (!(block instanceof MBConvBlock)) throw new AdvpropError('ERR_ARG', `${OP}: blocks.${si}.${bi} is not an MBConvBlock`);
      h = mbconv(ctx, h, block, `blocks.${si}.${bi}`);
    }
  h = convBn(ctx, h, model.conv_head, 'conv_head', model.bn2, 'bn2');
  h = g.node('GlobalAveragePool', [h], 'global_pool');
  h = g.node('Flatten', [h], 'flatten', { axis: 1 });
  const fc: Linear = model.classifier;
  const gemmIn = [h, g.weight('classifier.weight', host(fc, 'weight'), [fc.outFeatures, fc.inFeatures])];
  if (fc.hasParam('bias')) gemmIn.push(g.weight('classifier.bias', host(fc, 'bias'), [fc.outFeatures]));
  const logits = g.node('Gemm', gemmIn, 'logits', { transB: 1 });
  const norm = n ? `normalised inside the graph with mean [${n.mean.join(', ')}] and std [${n.std.join(', ')}]` : 'not normalised (the model has no normalisation)';
  const meta: Record<string, string> = {
    'advprop.model': c.name, 'advprop.layout': layout, 'advprop.bn_domain': '0 (clean, running statistics)',
    'advprop.fold_bn': String(foldBn), 'advprop.weights': dtype, 'advprop.normalize': JSON.stringify(n),
  };
  return {
    ir_version: IR_VERSION, producer_name: 'advprop', producer_version: addon.buildInfo().version,
    doc_string: `${c.name}: images in [0, 1] → logits; domain 0 BN`,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    metadata_props: Object.entries(meta).map(([key, value]) => ({ key, value })),
    graph: {
      name: c.name, node: g.nodes, initializer: g.initializers,
      input: [valueInfo('images', inShape, `${layout.toUpperCase()} float images in [0, 1], ${norm}`)],
      output: [valueInfo(logits, ['N', c.numClasses], 'logits (before softmax)')],
    },
  };
}

/** Writes `model`'s inference graph to `file` (atomically: a temp file renamed over it). */
export function exportOnnx(model: EfficientNet, file: string, options?: ExportOnnxOptions): OnnxExportInfo {
  pathArg(file, OP, 'file');
  const m = onnxModel(model, options);
  const bytes = encodeOnnx(m);
  try {
    writeFileAtomic(file, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    if (e instanceof AdvpropError && e.code === 'ERR_IO') throw new AdvpropError('ERR_IO', `${OP}: ${e.message.replace(/^safetensors: /, '')}`, { cause: e });
    throw e;
  }
  const shape = (v: OnnxModel['graph']['input'][0]): (number | string)[] => v.type.tensor_type.shape.dim.map((d) => ('dim_value' in d ? d.dim_value : d.dim_param));
  const [i, out] = [m.graph.input[0], m.graph.output[0]];
  return {
    file, bytes: bytes.byteLength, input: { name: i.name, shape: shape(i) }, output: { name: out.name, shape: shape(out) },
    nodes: m.graph.node.length, initializers: m.graph.initializer.length,
  };
}
