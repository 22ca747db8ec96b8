// The model `advprop predict` runs: a training run (its folder or checkpoint, loaded as `advprop
// eval` loads it) or a weights file under timm's tf_efficientnet names (ours, or a published
// AdvProp file such as tf_efficientnet_b0.ap_in1k's), whose architecture, layout, class count and
// input channels are read from the tensors themselves. Along with it: the input resolution, the
// evaluation crop and the class names.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AdvpropError } from '../errors.js';
import { openDataset } from '../data/open.js';
import { IMAGENET_CLASSES } from '../data/imagenet_classes.js';
import { efficientnet } from '../models/efficientnet.js';
import {
  EFFICIENTNET_NAMES, EFFICIENTNET_PARAMS, efficientnetConfig, efficientnetTensorSpecs, type EfficientNetName,
} from '../models/efficientnet_config.js';
import { readSafetensors, type HostTensor } from '../io/safetensors.js';
import { loadModel } from '../io/model.js';
import { StateDictError, type Module } from '../nn/module.js';
import { UsageError } from './args.js';
import { loadRun } from './evaluate.js';

export interface PredictModelOptions {
  device: string;
  arch?: EfficientNetName;
  width?: number;
  depth?: number;
  ema?: boolean;
  /** Warnings (a run whose data folder is gone) go here. */
  warn: (line: string) => void;
}

export interface PredictModel {
  model: Module;
  numClasses: number;
  inChannels: number;
  /** The side the images are brought to (the training images' size, or the architecture's). */
  resolution: number;
  /** EfficientNet's crop padding: 32 for ImageNet-style models; 0 for runs on small images, which
   * were trained and evaluated on whole images. */
  cropPadding: number;
  classNames: readonly string[] | null;
  /** What was loaded, for the table's header. */
  description: string;
}

const AUX = /(^|\.)aux\d+\./;

function isCheckpoint(t: { metadata: Record<string, string> }): boolean {
  return t.metadata.advprop !== undefined;
}

/** A run folder, a checkpoint file, or a weights file. */
export function loadPredictModel(path: string, opts: PredictModelOptions): PredictModel {
  if (!existsSync(path)) throw new UsageError(`--model: ${path} does not exist`);
  if (statSync(path).isDirectory()) {
    const ckpt = join(path, 'last.safetensors');
    if (!existsSync(ckpt)) throw new UsageError(`--model: ${path} is a folder without last.safetensors (not a run folder)`);
    return fromRun(ckpt, opts);
  }
  const file = readSafetensors(path);
  if (isCheckpoint(file)) return fromRun(path, opts);
  return fromWeights(path, file.tensors, opts);
}

function fromRun(file: string, opts: PredictModelOptions): PredictModel {
  for (const [flag, v] of [['--arch', opts.arch], ['--width', opts.width], ['--depth', opts.depth]] as const)
    if (v !== undefined) throw new UsageError(`${flag} is for weights files; a run's checkpoint names its own architecture`);
  const run = loadRun(file, opts.device);
  let model = run.model;
  if (opts.ema) {
    if (!run.ema) {
      run.model.dispose();
      throw new UsageError('--ema: this run kept no EMA (trained with --ema off)');
    }
    model = run.ema;
    run.model.dispose();
  } else {
    run.ema?.dispose();
  }
  const c = run.config;
  const numClasses = Number(c.numClasses ?? 10), inChannels = Number(c.inChannels ?? 1);
  const name = String(c.model);
  // The run's data says what the images were: their size and class names. A run moved without its
  // data still predicts, at the architecture's resolution, and says so.
  let resolution = EFFICIENTNET_PARAMS[name as EfficientNetName]?.[2] ?? 224;
  let cropPadding = 32;
  let classNames: readonly string[] | null = null;
  try {
    const test = openDataset(String(c.data), 'test', { channels: inChannels });
    if (test.source.kind === 'array') {
      resolution = test.source.height;
      cropPadding = 0;
    }
    if (test.classNames?.length === numClasses) classNames = test.classNames;
  } catch (e) {
    opts.warn(`advprop predict: the run's data (${String(c.data)}) cannot be opened (${(e as Error).message.split('\n')[0]}); using resolution ${resolution}`);
  }
  if (!classNames && numClasses === 1000) classNames = IMAGENET_CLASSES;
  return {
    model, numClasses, inChannels, resolution, cropPadding, classNames,
    description: `run ${file} (${name}, ${opts.ema ? 'EMA' : 'raw'} weights, ${numClasses} classes)`,
  };
}

type Shapes = Map<string, number[]>;

/** The 4-D weights' layout: a 1×1 convolution is [O, I, 1, 1] in PyTorch's OIHW and [O, 1, 1, I] in ours. */
function layoutOf(file: string, tensors: Map<string, HostTensor>): 'oihw' | 'ohwi' {
  const head = tensors.get('conv_head.weight')?.shape;
  if (!head || head.length !== 4) throw new AdvpropError('ERR_FORMAT', `--model ${file}: no 4-D conv_head.weight; not an EfficientNet under timm's tf_efficientnet names`);
  return head[1] === 1 && head[2] === 1 && head[3] !== 1 ? 'ohwi' : 'oihw';
}

/** The shapes of the weights (not BN, whose row count depends on the domains) in our OHWI layout. */
function weightShapes(tensors: Map<string, HostTensor>, layout: 'oihw' | 'ohwi'): Shapes {
  const out: Shapes = new Map();
  for (const [k, t] of tensors) {
    if (!k.endsWith('.weight') || t.shape.length < 2 || AUX.test(k)) continue;
    const s = t.shape;
    out.set(k, s.length === 4 && layout === 'oihw' ? [s[0]!, s[2]!, s[3]!, s[1]!] : s.slice());
  }
  return out;
}

function specShapes(arch: EfficientNetName, numClasses: number, inChannels: number, width?: number, depth?: number): Shapes {
  let cfg;
  try {
    cfg = efficientnetConfig(arch, { numClasses, inChannels, domains: 1, width, depth });
  } catch {
    return new Map(); // sizes beyond our limits at this width: not this architecture
  }
  return new Map(efficientnetTensorSpecs(cfg).filter((s) => s.name.endsWith('.weight') && !s.perDomain).map((s) => [s.name, s.shape]));
}

function sameShapes(a: Shapes, b: Shapes): boolean {
  if (a.size !== b.size) return false;
  for (const [k, s] of a) {
    const t = b.get(k);
    if (!t || t.length !== s.length || t.some((d, i) => d !== s[i])) return false;
  }
  return true;
}

function fromWeights(file: string, tensors: Map<string, HostTensor>, opts: PredictModelOptions): PredictModel {
  if (opts.ema) throw new UsageError('--ema is for run folders; a weights file holds one set of weights');
  const classifier = tensors.get('classifier.weight')?.shape, stem = tensors.get('conv_stem.weight')?.shape;
  if (!classifier || classifier.length !== 2 || !stem || stem.length !== 4)
    throw new AdvpropError('ERR_FORMAT', `--model ${file}: no 2-D classifier.weight and 4-D conv_stem.weight; not an EfficientNet under timm's tf_efficientnet names`);
  const layout = layoutOf(file, tensors);
  const numClasses = classifier[0]!, inChannels = layout === 'oihw' ? stem[1]! : stem[3]!;
  if (inChannels !== 1 && inChannels !== 3)
    throw new AdvpropError('ERR_FORMAT', `--model ${file}: conv_stem.weight [${stem.join(', ')}] takes ${inChannels} input channels; images have 1 or 3`);
  const have = weightShapes(tensors, layout);
  let arch = opts.arch;
  if (arch === undefined) {
    // Each architecture differs from the others in its block count or its channel counts.
    arch = EFFICIENTNET_NAMES.find((a) => sameShapes(specShapes(a, numClasses, inChannels, opts.width, opts.depth), have));
    if (arch === undefined) {
      const blocks = new Set([...tensors.keys()].map((k) => /^blocks\.(\d+\.\d+)\./.exec(k)?.[1]).filter(Boolean)).size;
      throw new AdvpropError('ERR_FORMAT', `--model ${file}: its weights (stem ${have.get('conv_stem.weight')?.[0]} channels, ${blocks} blocks) fit none of ${EFFICIENTNET_NAMES.join(', ')}${opts.width === undefined && opts.depth === undefined ? ' at their own width and depth' : ''}; give --arch (and --width/--depth for a scaled model)`);
    }
  }
  const model = efficientnet(arch, { numClasses, inChannels, domains: 1, width: opts.width, depth: opts.depth, device: opts.device });
  try {
    const report = loadModel(file, model, { layout, strict: false });
    const unexpected = report.unexpected.filter((k) => !AUX.test(k));
    const problems = [...report.missing.map((k) => `missing ${k}`), ...unexpected.map((k) => `unexpected ${k}`)];
    if (problems.length) throw new StateDictError('ERR_ARG', `${problems.length} problem(s): ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; ...' : ''}`, report);
  } catch (e) {
    model.dispose();
    if (e instanceof StateDictError) {
      const msg = `${file} does not fit efficientnet-${arch}${opts.width || opts.depth ? ` (width ${opts.width ?? 'default'}, depth ${opts.depth ?? 'default'})` : ''}: ${e.message.replace(/^loadModel: [^:]*: /, '')}`;
      if (opts.arch !== undefined || opts.width !== undefined || opts.depth !== undefined) throw new UsageError(`--arch ${arch}: ${msg}`);
      throw new AdvpropError('ERR_FORMAT', `--model ${msg}`, { cause: e });
    }
    throw e;
  }
  return {
    model, numClasses, inChannels, resolution: EFFICIENTNET_PARAMS[arch][2], cropPadding: 32,
    classNames: numClasses === 1000 ? IMAGENET_CLASSES : null,
    description: `${file} (efficientnet-${arch}, ${layout.toUpperCase()}, ${numClasses} classes)`,
  };
}
