// The EfficientNet family as plain data: the TensorFlow reference's scaling rules turned into a
// list of blocks with their channel counts, so parameter counts and FLOPs of B7 or L2 can be
// computed without allocating a single weight.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';

export type EfficientNetName = 'b0' | 'b1' | 'b2' | 'b3' | 'b4' | 'b5' | 'b6' | 'b7' | 'b8' | 'l2';
export const EFFICIENTNET_NAMES: readonly EfficientNetName[] = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'l2'];

/** (width, depth, resolution, dropout) per model, from efficientnet_builder.efficientnet_params. */
export const EFFICIENTNET_PARAMS: Readonly<Record<EfficientNetName, readonly [number, number, number, number]>> = {
  b0: [1.0, 1.0, 224, 0.2], b1: [1.0, 1.1, 240, 0.2], b2: [1.1, 1.2, 260, 0.3], b3: [1.2, 1.4, 300, 0.3],
  b4: [1.4, 1.8, 380, 0.4], b5: [1.6, 2.2, 456, 0.4], b6: [1.8, 2.6, 528, 0.5], b7: [2.0, 3.1, 600, 0.5],
  b8: [2.2, 3.6, 672, 0.5], l2: [4.3, 5.3, 800, 0.5],
};

/** One stage of the base network (B0): repeats, kernel, stride, expansion, in/out filters, SE ratio. */
export interface StageArgs { repeats: number; kernel: number; stride: number; expand: number; inFilters: number; outFilters: number; seRatio: number }

// The reference's seven default stages ('r1_k3_s11_e1_i32_o16_se0.25', ...).
export const DEFAULT_STAGES: readonly StageArgs[] = [
  { repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 32, outFilters: 16, seRatio: 0.25 },
  { repeats: 2, kernel: 3, stride: 2, expand: 6, inFilters: 16, outFilters: 24, seRatio: 0.25 },
  { repeats: 2, kernel: 5, stride: 2, expand: 6, inFilters: 24, outFilters: 40, seRatio: 0.25 },
  { repeats: 3, kernel: 3, stride: 2, expand: 6, inFilters: 40, outFilters: 80, seRatio: 0.25 },
  { repeats: 3, kernel: 5, stride: 1, expand: 6, inFilters: 80, outFilters: 112, seRatio: 0.25 },
  { repeats: 4, kernel: 5, stride: 2, expand: 6, inFilters: 112, outFilters: 192, seRatio: 0.25 },
  { repeats: 1, kernel: 3, stride: 1, expand: 6, inFilters: 192, outFilters: 320, seRatio: 0.25 },
];

export interface EfficientNetOptions {
  numClasses?: number; // default 1000
  domains?: number; // BN domains, default 2 (clean + adversarial)
  inChannels?: number; // default 3
  width?: number; // overrides the model's width coefficient
  depth?: number; // overrides the depth coefficient
  resolution?: number; // overrides the nominal input size (used by summary only; any size runs)
  dropout?: number; // overrides the dropout rate before the head
  dropConnect?: number; // the last block's drop-connect rate; default 0.2
  padding?: 'same' | 'symmetric'; // TF 'same' (default) or k//2 on each side
  bnEps?: number; // default 1e-3
  bnMomentum?: number; // TF convention, default 0.99
  normalize?: { mean: number | readonly number[]; std: number | readonly number[] } | null; // default 0.5 / 0.5
  stemFilters?: number; // default 32 (before width scaling)
  headFilters?: number; // default 1280 (before width scaling)
  stages?: readonly StageArgs[]; // default DEFAULT_STAGES; fewer stages make tiny test models
  depthDivisor?: number; // default 8
  dtype?: 'f32' | 'f64';
  device?: string;
  seed?: number; // initialisation seed; default: the global generator
}

/** One MBConv block after scaling. */
export interface BlockConfig {
  stage: number; index: number; // timm's blocks.{stage}.{index}
  inFilters: number; outFilters: number; midFilters: number; seFilters: number; // seFilters 0: no SE
  kernel: number; stride: number; expand: number;
  skip: boolean; // identity shortcut (stride 1 and in == out)
  dropConnect: number; // drop rate of this block's residual branch
}

export interface EfficientNetConfig {
  name: string;
  numClasses: number; domains: number; inChannels: number;
  width: number; depth: number; resolution: number; dropout: number; dropConnect: number;
  padding: 'same' | 'symmetric'; bnEps: number; bnMomentum: number;
  normalize: { mean: number[]; std: number[] } | null;
  stemFilters: number; headFilters: number;
  blocks: BlockConfig[];
}

/** round_filters: width-scaled, to a multiple of `divisor`, never below 90% of the scaled value. */
export function roundFilters(filters: number, width: number, divisor = 8): number {
  const scaled = filters * width;
  let out = Math.max(divisor, Math.floor((scaled + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * scaled) out += divisor;
  return out;
}

/** round_repeats: ceil(depth · repeats). */
export function roundRepeats(repeats: number, depth: number): number {
  return Math.ceil(depth * repeats);
}

function positive(v: unknown, what: string, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
    throw new AdvpropError('ERR_ARG', `efficientnet: option '${what}' must be a positive ${integer ? 'integer' : 'number'}, got ${describeValue(v)}`);
  return v;
}

function rate(v: unknown, what: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new AdvpropError('ERR_ARG', `efficientnet: option '${what}' must be in [0, 1), got ${describeValue(v)}`);
  return v;
}

function perChannel(v: number | readonly number[], c: number, what: string): number[] {
  const arr = typeof v === 'number' ? new Array<number>(c).fill(v) : Array.from(v);
  if (arr.length !== c || arr.some((x) => typeof x !== 'number' || !Number.isFinite(x)) || (what === 'std' && arr.some((x) => x === 0)))
    throw new AdvpropError('ERR_ARG', `efficientnet: normalize.${what} must be a number or ${c} finite numbers${what === 'std' ? ' (non-zero)' : ''}, got ${describeValue(v)}`);
  return arr;
}

export function efficientnetConfig(name: EfficientNetName | string, opts: EfficientNetOptions = {}): EfficientNetConfig {
  if (!(EFFICIENTNET_NAMES as readonly string[]).includes(name))
    throw new AdvpropError('ERR_ARG', `efficientnet: unknown model ${describeValue(name)}; expected one of ${EFFICIENTNET_NAMES.join(', ')}`);
  if (opts === null || typeof opts !== 'object') throw new AdvpropError('ERR_ARG', `efficientnet: options must be an object, got ${describeValue(opts)}`);
  const [w0, d0, r0, p0] = EFFICIENTNET_PARAMS[name as EfficientNetName];
  const width = opts.width === undefined ? w0 : positive(opts.width, 'width', false);
  const depth = opts.depth === undefined ? d0 : positive(opts.depth, 'depth', false);
  const resolution = opts.resolution === undefined ? r0 : positive(opts.resolution, 'resolution', true);
  const dropout = opts.dropout === undefined ? p0 : rate(opts.dropout, 'dropout');
  const dropConnect = opts.dropConnect === undefined ? 0.2 : rate(opts.dropConnect, 'dropConnect');
  const numClasses = opts.numClasses === undefined ? 1000 : positive(opts.numClasses, 'numClasses', true);
  const domains = opts.domains === undefined ? 2 : positive(opts.domains, 'domains', true);
  const inChannels = opts.inChannels === undefined ? 3 : positive(opts.inChannels, 'inChannels', true);
  const divisor = opts.depthDivisor === undefined ? 8 : positive(opts.depthDivisor, 'depthDivisor', true);
  const padding = opts.padding ?? 'same';
  if (padding !== 'same' && padding !== 'symmetric')
    throw new AdvpropError('ERR_ARG', `efficientnet: padding must be 'same' or 'symmetric', got ${describeValue(padding)}`);
  const bnEps = opts.bnEps === undefined ? 1e-3 : positive(opts.bnEps, 'bnEps', false);
  const bnMomentum = opts.bnMomentum === undefined ? 0.99 : rate(opts.bnMomentum, 'bnMomentum');
  const norm = opts.normalize === undefined ? { mean: 0.5, std: 0.5 } : opts.normalize;
  const normalize = norm === null ? null : { mean: perChannel(norm.mean, inChannels, 'mean'), std: perChannel(norm.std, inChannels, 'std') };
  const stages = opts.stages ?? DEFAULT_STAGES;
  if (!Array.isArray(stages) || stages.length === 0) throw new AdvpropError('ERR_ARG', 'efficientnet: stages must be a non-empty array');
  const rf = (f: number): number => roundFilters(f, width, divisor);

  const stemFilters = rf(opts.stemFilters === undefined ? 32 : positive(opts.stemFilters, 'stemFilters', true));
  const headFilters = rf(opts.headFilters === undefined ? 1280 : positive(opts.headFilters, 'headFilters', true));
  const blocks: BlockConfig[] = [];
  stages.forEach((s, si) => {
    for (const k of ['repeats', 'kernel', 'stride', 'expand', 'inFilters', 'outFilters'] as const) positive(s[k], `stages[${si}].${k}`, true);
    const repeats = roundRepeats(s.repeats, depth);
    const inF = rf(s.inFilters);
    const outF = rf(s.outFilters);
    for (let b = 0; b < repeats; b++) {
      const blockIn = b === 0 ? inF : outF;
      const stride = b === 0 ? s.stride : 1;
      const mid = blockIn * s.expand;
      // SE width is a fraction of the block's input (not expanded) width: max(1, int(in · ratio)).
      const se = s.seRatio > 0 ? Math.max(1, Math.floor(blockIn * s.seRatio)) : 0;
      blocks.push({
        stage: si, index: b, inFilters: blockIn, outFilters: outF, midFilters: mid, seFilters: se,
        kernel: s.kernel, stride, expand: s.expand, skip: stride === 1 && blockIn === outF, dropConnect: 0,
      });
    }
  });
  // The reference: drop_rate = drop_connect_rate · idx / num_blocks, idx counted from 0.
  blocks.forEach((b, i) => { b.dropConnect = (dropConnect * i) / blocks.length; });
  return {
    name: `efficientnet-${name}`, numClasses, domains, inChannels, width, depth, resolution, dropout, dropConnect,
    padding, bnEps, bnMomentum, normalize, stemFilters, headFilters, blocks,
  };
}

/** A parameter or buffer of the model: its timm-style name, shape and initialiser. */
export interface TensorSpec {
  name: string;
  shape: number[];
  kind: 'param' | 'buffer';
  /** BN tensors are stacked [domains, C], one row per domain. */
  perDomain?: boolean;
  init: { type: 'normal'; std: number } | { type: 'uniform'; range: number } | { type: 'const'; value: number };
}

const convSpec = (name: string, cout: number, k: number, cinPerGroup: number, fanOut: number): TensorSpec =>
  // TF conv_kernel_initializer: normal(0, sqrt(2 / fan_out)), fan_out = kh · kw · out_filters.
  ({ name, shape: [cout, k, k, cinPerGroup], kind: 'param', init: { type: 'normal', std: Math.sqrt(2 / fanOut) } });

function bnSpecs(name: string, c: number, domains: number): TensorSpec[] {
  return [
    { name: `${name}.weight`, shape: [domains, c], kind: 'param', perDomain: true, init: { type: 'const', value: 1 } },
    { name: `${name}.bias`, shape: [domains, c], kind: 'param', perDomain: true, init: { type: 'const', value: 0 } },
    { name: `${name}.running_mean`, shape: [domains, c], kind: 'buffer', perDomain: true, init: { type: 'const', value: 0 } },
    { name: `${name}.running_var`, shape: [domains, c], kind: 'buffer', perDomain: true, init: { type: 'const', value: 1 } },
  ];
}

/** Names of a block's layers, as timm names them (DepthwiseSeparableConv when expand is 1). */
export function blockLayerNames(b: BlockConfig): { expand: string | null; expandBn: string | null; dw: string; dwBn: string; project: string; projectBn: string } {
  return b.expand === 1
    ? { expand: null, expandBn: null, dw: 'conv_dw', dwBn: 'bn1', project: 'conv_pw', projectBn: 'bn2' }
    : { expand: 'conv_pw', expandBn: 'bn1', dw: 'conv_dw', dwBn: 'bn2', project: 'conv_pwl', projectBn: 'bn3' };
}

/** Every parameter and buffer of the model with its shape (BN ones stacked [domains, C]). */
export function efficientnetTensorSpecs(cfg: EfficientNetConfig): TensorSpec[] {
  const K = cfg.domains;
  const out: TensorSpec[] = [];
  out.push(convSpec('conv_stem.weight', cfg.stemFilters, 3, cfg.inChannels, 9 * cfg.stemFilters), ...bnSpecs('bn1', cfg.stemFilters, K));
  for (const b of cfg.blocks) {
    const p = `blocks.${b.stage}.${b.index}`;
    const n = blockLayerNames(b);
    if (n.expand) out.push(convSpec(`${p}.${n.expand}.weight`, b.midFilters, 1, b.inFilters, b.midFilters), ...bnSpecs(`${p}.${n.expandBn}`, b.midFilters, K));
    // Depthwise: TF's kernel is [kh, kw, C, 1], so its out_filters (last dim) is 1: fan_out = kh · kw.
    out.push(convSpec(`${p}.${n.dw}.weight`, b.midFilters, b.kernel, 1, b.kernel * b.kernel), ...bnSpecs(`${p}.${n.dwBn}`, b.midFilters, K));
    if (b.seFilters > 0) {
      out.push(convSpec(`${p}.se.conv_reduce.weight`, b.seFilters, 1, b.midFilters, b.seFilters));
      out.push({ name: `${p}.se.conv_reduce.bias`, shape: [b.seFilters], kind: 'param', init: { type: 'const', value: 0 } });
      out.push(convSpec(`${p}.se.conv_expand.weight`, b.midFilters, 1, b.seFilters, b.midFilters));
      out.push({ name: `${p}.se.conv_expand.bias`, shape: [b.midFilters], kind: 'param', init: { type: 'const', value: 0 } });
    }
    out.push(convSpec(`${p}.${n.project}.weight`, b.outFilters, 1, b.midFilters, b.outFilters), ...bnSpecs(`${p}.${n.projectBn}`, b.outFilters, K));
  }
  const last = cfg.blocks[cfg.blocks.length - 1].outFilters;
  out.push(convSpec('conv_head.weight', cfg.headFilters, 1, last, cfg.headFilters), ...bnSpecs('bn2', cfg.headFilters, K));
  // TF dense_kernel_initializer: uniform(-1/sqrt(out), 1/sqrt(out)); bias zero.
  out.push({ name: 'classifier.weight', shape: [cfg.numClasses, cfg.headFilters], kind: 'param', init: { type: 'uniform', range: 1 / Math.sqrt(cfg.numClasses) } });
  out.push({ name: 'classifier.bias', shape: [cfg.numClasses], kind: 'param', init: { type: 'const', value: 0 } });
  return out;
}

/** Trainable parameters, counting `domains` BN domains (the published figures use one). */
export function countParameters(cfg: EfficientNetConfig, domains = cfg.domains): number {
  let n = 0;
  for (const s of efficientnetTensorSpecs(cfg)) {
    if (s.kind !== 'param') continue;
    n += s.perDomain ? domains * s.shape[1] : s.shape.reduce((a, b) => a * b, 1);
  }
  return n;
}
