// The EfficientNet family as plain data: the TensorFlow reference's scaling rules turned into a
// list of blocks with their channel counts, so parameter counts and FLOPs of B7 or L2 can be
// computed without allocating a single weight.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { LIMITS, intArg, numArg, objectArg, optionsArg } from '../args.js';

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
  numArg(filters, 'roundFilters', 'filters', 0);
  numArg(width, 'roundFilters', 'width', 0);
  numArg(divisor, 'roundFilters', 'divisor', 0, Infinity, { min: true });
  const scaled = filters * width;
  let out = Math.max(divisor, Math.floor((scaled + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * scaled) out += divisor;
  return out;
}

/** round_repeats: ceil(depth · repeats). */
export function roundRepeats(repeats: number, depth: number): number {
  numArg(repeats, 'roundRepeats', 'repeats', 0);
  numArg(depth, 'roundRepeats', 'depth', 0);
  return Math.ceil(depth * repeats);
}

const OP = 'efficientnet';

/** A size option: a positive integer no larger than `max` (checked before anything is sized by it). */
function size(v: unknown, what: string, max: number): number {
  return intArg(v, OP, what, 1, max);
}

function positive(v: unknown, what: string, max: number): number {
  return numArg(v, OP, what, 0, max, { min: true });
}

function rate(v: unknown, what: string): number {
  return numArg(v, OP, what, 0, 1, { max: true });
}

function perChannel(v: unknown, c: number, what: string): number[] {
  const arr = typeof v === 'number' ? new Array<number>(c).fill(v) : Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<number>) : null;
  if (!arr || arr.length !== c || arr.some((x) => typeof x !== 'number' || !Number.isFinite(x)) || (what === 'std' && arr.some((x) => x === 0)))
    throw new AdvpropError('ERR_ARG', `efficientnet: normalize.${what} must be a number or ${c} finite numbers${what === 'std' ? ' (non-zero)' : ''}, got ${describeValue(v)}`);
  return arr;
}

export function efficientnetConfig(name: EfficientNetName | string, opts: EfficientNetOptions = {}): EfficientNetConfig {
  if (typeof name !== 'string' || !(EFFICIENTNET_NAMES as readonly string[]).includes(name))
    throw new AdvpropError('ERR_ARG', `efficientnet: unknown model ${describeValue(name)}; expected one of ${EFFICIENTNET_NAMES.join(', ')}`);
  opts = optionsArg(opts, OP);
  const [w0, d0, r0, p0] = EFFICIENTNET_PARAMS[name as EfficientNetName];
  const C = LIMITS.channels;
  const width = opts.width === undefined ? w0 : positive(opts.width, 'width', LIMITS.multiplier);
  const depth = opts.depth === undefined ? d0 : positive(opts.depth, 'depth', LIMITS.multiplier);
  const resolution = opts.resolution === undefined ? r0 : size(opts.resolution, 'resolution', LIMITS.imageSide);
  const dropout = opts.dropout === undefined ? p0 : rate(opts.dropout, 'dropout');
  const dropConnect = opts.dropConnect === undefined ? 0.2 : rate(opts.dropConnect, 'dropConnect');
  const numClasses = opts.numClasses === undefined ? 1000 : size(opts.numClasses, 'numClasses', C);
  const domains = opts.domains === undefined ? 2 : size(opts.domains, 'domains', LIMITS.domains);
  const inChannels = opts.inChannels === undefined ? 3 : size(opts.inChannels, 'inChannels', C);
  const divisor = opts.depthDivisor === undefined ? 8 : size(opts.depthDivisor, 'depthDivisor', C);
  const padding = opts.padding ?? 'same';
  if (padding !== 'same' && padding !== 'symmetric')
    throw new AdvpropError('ERR_ARG', `efficientnet: padding must be 'same' or 'symmetric', got ${describeValue(padding)}`);
  const bnEps = opts.bnEps === undefined ? 1e-3 : positive(opts.bnEps, 'bnEps', Infinity);
  const bnMomentum = opts.bnMomentum === undefined ? 0.99 : rate(opts.bnMomentum, 'bnMomentum');
  const norm = opts.normalize === undefined ? { mean: 0.5, std: 0.5 } : opts.normalize;
  if (norm !== null) objectArg(norm, OP, 'normalize', '{ mean, std } or null');
  const normalize = norm === null ? null : { mean: perChannel(norm.mean, inChannels, 'mean'), std: perChannel(norm.std, inChannels, 'std') };
  const stages = opts.stages ?? DEFAULT_STAGES;
  if (!Array.isArray(stages) || stages.length === 0) throw new AdvpropError('ERR_ARG', 'efficientnet: stages must be a non-empty array');
  const rf = (f: number): number => roundFilters(f, width, divisor);
  // Scaled sizes are bounded too: width and the divisor multiply every channel count.
  const filters = (f: number, what: string): number => {
    const n = rf(f);
    if (n > C) throw new AdvpropError('ERR_ARG', `efficientnet: ${what} ${f} scaled by width ${width} (divisor ${divisor}) gives ${n} channels; at most ${C} are supported`);
    return n;
  };

  const stemFilters = filters(opts.stemFilters === undefined ? 32 : size(opts.stemFilters, 'stemFilters', C), 'stemFilters');
  const headFilters = filters(opts.headFilters === undefined ? 1280 : size(opts.headFilters, 'headFilters', C), 'headFilters');
  const blocks: BlockConfig[] = [];
  let total = 0;
  stages.forEach((s: StageArgs, si) => {
    objectArg(s, OP, `stages[${si}]`, 'a stage object');
    for (const k of ['repeats', 'inFilters', 'outFilters', 'expand'] as const) size(s[k], `stages[${si}].${k}`, k === 'repeats' ? LIMITS.blocks : C);
    for (const k of ['kernel', 'stride'] as const) size(s[k], `stages[${si}].${k}`, LIMITS.kernel);
    if (s.seRatio !== undefined) numArg(s.seRatio, OP, `stages[${si}].seRatio`, 0, 1);
    const repeats = roundRepeats(s.repeats, depth);
    total += repeats;
    if (total > LIMITS.blocks)
      throw new AdvpropError('ERR_ARG', `efficientnet: depth ${depth} makes more than ${LIMITS.blocks} blocks (stage ${si} alone has ${repeats})`);
    if (filters(s.inFilters, `stages[${si}].inFilters`) * s.expand > C || filters(s.outFilters, `stages[${si}].outFilters`) * s.expand > C)
      throw new AdvpropError('ERR_ARG', `efficientnet: stages[${si}] expands to more than ${C} channels`);
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

/**
 * Checks a config made by hand (or edited) before anything is sized by it: the fields
 * efficientnetConfig() would have produced, with the same bounds.
 */
export function checkConfig(cfg: unknown, op: string): EfficientNetConfig {
  const c = objectArg<EfficientNetConfig>(cfg, op, 'config', 'an EfficientNetConfig (from efficientnetConfig())');
  const C = LIMITS.channels;
  for (const k of ['numClasses', 'inChannels', 'stemFilters', 'headFilters'] as const) intArg(c[k], op, `config.${k}`, 1, C);
  intArg(c.domains, op, 'config.domains', 1, LIMITS.domains);
  if (c.padding !== 'same' && c.padding !== 'symmetric') throw new AdvpropError('ERR_ARG', `${op}: config.padding must be 'same' or 'symmetric', got ${describeValue(c.padding)}`);
  numArg(c.bnEps, op, 'config.bnEps', 0, Infinity, { min: true });
  numArg(c.bnMomentum, op, 'config.bnMomentum', 0, 1);
  numArg(c.dropout, op, 'config.dropout', 0, 1, { max: true });
  if (c.normalize !== null) {
    objectArg(c.normalize, op, 'config.normalize', '{ mean, std } or null');
    perChannel(c.normalize.mean, c.inChannels, 'mean');
    perChannel(c.normalize.std, c.inChannels, 'std');
  }
  if (!Array.isArray(c.blocks) || c.blocks.length === 0 || c.blocks.length > LIMITS.blocks)
    throw new AdvpropError('ERR_ARG', `${op}: config.blocks must be an array of 1 to ${LIMITS.blocks} blocks, got ${describeValue(c.blocks)}`);
  c.blocks.forEach((b, i) => {
    objectArg(b, op, `config.blocks[${i}]`, 'a block object');
    for (const k of ['inFilters', 'outFilters', 'midFilters', 'expand'] as const) intArg(b[k], op, `config.blocks[${i}].${k}`, 1, C);
    intArg(b.seFilters, op, `config.blocks[${i}].seFilters`, 0, C);
    for (const k of ['kernel', 'stride'] as const) intArg(b[k], op, `config.blocks[${i}].${k}`, 1, LIMITS.kernel);
    for (const k of ['stage', 'index'] as const) intArg(b[k], op, `config.blocks[${i}].${k}`, 0, LIMITS.blocks);
    numArg(b.dropConnect, op, `config.blocks[${i}].dropConnect`, 0, 1, { max: true });
  });
  return c;
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
  objectArg(b, 'blockLayerNames', 'block', 'a block of config.blocks');
  return b.expand === 1
    ? { expand: null, expandBn: null, dw: 'conv_dw', dwBn: 'bn1', project: 'conv_pw', projectBn: 'bn2' }
    : { expand: 'conv_pw', expandBn: 'bn1', dw: 'conv_dw', dwBn: 'bn2', project: 'conv_pwl', projectBn: 'bn3' };
}

/** Every parameter and buffer of the model with its shape (BN ones stacked [domains, C]). */
export function efficientnetTensorSpecs(config: EfficientNetConfig): TensorSpec[] {
  const cfg = checkConfig(config, 'efficientnetTensorSpecs');
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
export function countParameters(cfg: EfficientNetConfig, domains?: number): number {
  const specs = efficientnetTensorSpecs(cfg);
  const k = domains === undefined ? cfg.domains : intArg(domains, 'countParameters', 'domains', 1, LIMITS.domains);
  let n = 0;
  for (const s of specs) {
    if (s.kind !== 'param') continue;
    n += s.perDomain ? k * s.shape[1] : s.shape.reduce((a, b) => a * b, 1);
  }
  return n;
}
