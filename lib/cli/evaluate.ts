// `advprop eval` and `advprop attack`: load a run's checkpoint, rebuild its model, and measure.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultDevice } from '../device.js';
import { AdvpropError } from '../errors.js';
import { datasetSize } from '../data/dataset.js';
import { openDataset } from '../data/open.js';
import { efficientnet } from '../models/efficientnet.js';
import { fileTensor, record } from '../io/safetensors.js';
import { saveModel } from '../io/model.js';
import type { Tensor } from '../tensor.js';
import { readCheckpoint } from '../train/checkpoint.js';
import { evaluateModel, type EvalResult } from '../train/evaluate.js';
import { domainsFor, type Method } from '../train/methods.js';
import { reportMarkdown } from '../train/report.js';
import { ExponentialMovingAverage } from '../optim/index.js';
import type { Module } from '../nn/index.js';
import { num, numList, oneOf, UsageError } from './args.js';
import { exportRunOnnx } from './export_onnx.js';

export const EVAL_USAGE = `usage: advprop eval --run DIR | --checkpoint FILE [options]

Clean top-1, top-1 under PGD, and under 9 common corruptions × 5 severities, for the raw and the
EMA weights of a training run.

  --run DIR            a run folder (uses DIR/last.safetensors)
  --checkpoint FILE    a checkpoint file
  --data DIR           test data (default: the run's data)
  --limit N            first N test images (default 1000)
  --epsilons LIST      PGD radii in pixel units (default 1,2,4)
  --no-corruptions     skip the corruption benchmark
  --device D           (default: the best available)
  -h, --help`;

export const ATTACK_USAGE = `usage: advprop attack --run DIR | --checkpoint FILE [options]

Accuracy of a run's model (raw weights, clean BN) under PGD.

  --epsilon E          radius in pixel units of 255 (default 4)
  --steps N            iterations (default ε + 1, 1 for ε = 1)
  --limit N            first N test images (default 1000)
  --data DIR, --device D
  -h, --help`;

export const EXPORT_USAGE = `usage: advprop export --run DIR | --checkpoint FILE --out FILE [--format safetensors|onnx] [options]

Writes a run's model: as safetensors under timm's tf_efficientnet names (default), or as an ONNX
inference graph (opset 17) of the clean BN domain that takes float images in [0, 1] and
normalises them itself.

  --ema                the EMA weights and statistics instead of the raw ones
  --format F           safetensors (default) or onnx
safetensors:
  --strip-aux          only the clean BN domain (what inference uses)
  --layout L           4-D weights as ohwi (ours, default) or oihw (PyTorch / timm)
onnx:
  --layout L           input images as nhwc (default) or nchw
  --resolution R       N, HxW or dynamic (default: the run's image size, else the model's)
  --fold-bn            fold each BN into the convolution before it
  --dtype D            weights as f32 (default) or f16 (widened to f32 in the graph)
  -h, --help`;

export interface Loaded { model: Module; ema: Module | null; config: Record<string, unknown>; file: string }

function checkpointPath(run?: string, file?: string): string {
  const path = file ?? (run ? join(run, 'last.safetensors') : undefined);
  if (!path) throw new UsageError('give --run DIR or --checkpoint FILE');
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`checkpoint ${path} does not exist`);
  return path;
}

// Everything the model is built and loaded from comes from the file: a part that does not fit
// is the file's ERR_FORMAT, named, not a bad argument of ours.
export function loadRun(file: string, device: string): Loaded {
  try {
    return buildRun(file, device);
  } catch (e) {
    if (e instanceof AdvpropError && ['ERR_SHAPE', 'ERR_ARG', 'ERR_DTYPE'].includes(e.code))
      throw new AdvpropError('ERR_FORMAT', `checkpoint ${file}: ${e.message}`, { cause: e });
    throw e;
  }
}

function buildRun(file: string, device: string): Loaded {
  const { meta, contents } = readCheckpoint(file);
  const c = meta.config;
  const build = (): Module => efficientnet(String(c.model), {
    numClasses: Number(c.numClasses ?? 10), inChannels: Number(c.inChannels ?? 1), domains: domainsFor(c.method as Method),
    width: c.width as number | undefined, depth: c.depth as number | undefined,
    bnMomentum: c.bnMomentum as number | undefined, device,
  });
  const section = (prefix: string): Record<string, Tensor> => {
    const out = record<Tensor>(); // names come from the file: no prototype for __proto__ to reach
    for (const [k, t] of contents.tensors) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = fileTensor(file, k, t.data, t.shape, { dtype: t.dtype, device });
    return out;
  };
  const model = build();
  const sd = section('model.');
  model.loadStateDict(sd);
  for (const t of Object.values(sd)) t.dispose();
  let ema: Module | null = null;
  const emaSd = section('ema.');
  if (Object.keys(emaSd).length) {
    // The EMA averaged the parameters then the buffers of a model of this architecture.
    ema = build();
    const raw = model.stateDict();
    ema.loadStateDict(raw);
    for (const t of Object.values(raw)) t.dispose();
    const targets = [...ema.parameters(), ...ema.namedBuffers().map(([, t]) => t)];
    const avg = new ExponentialMovingAverage(targets);
    avg.loadStateDict(emaSd);
    avg.copyTo(targets);
    avg.dispose();
  }
  for (const t of Object.values(emaSd)) t.dispose();
  return { model, ema, config: c, file };
}

// A missing --data folder is a bad option (exit 2); a run's own data gone missing is not.
function dataOption(dir: string | undefined): string | undefined {
  if (dir !== undefined && !existsSync(dir)) throw new UsageError(`--data: folder ${dir} does not exist`);
  return dir;
}

function printTable(config: Record<string, unknown>, raw: EvalResult, ema: EvalResult | null): void {
  console.log(reportMarkdown(config, { raw, ema }).split('\n').filter((l) => !l.startsWith('![')).join('\n'));
}

export async function runEval(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args, strict: true,
    options: {
      run: { type: 'string' }, checkpoint: { type: 'string' }, data: { type: 'string' }, limit: { type: 'string' },
      epsilons: { type: 'string' }, 'no-corruptions': { type: 'boolean' }, device: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { console.log(EVAL_USAGE); return 0; }
  const file = checkpointPath(v.run, v.checkpoint);
  const device = v.device ?? defaultDevice();
  const run = loadRun(file, device);
  const test = openDataset(dataOption(v.data) ?? String(run.config.data), 'test');
  const opts = { limit: num(v.limit, '--limit', true) ?? 1000, epsilons: numList(v.epsilons, '--epsilons') ?? [1, 2, 4], corruptions: !v['no-corruptions'] };
  const raw = evaluateModel(run.model, test, opts);
  const ema = run.ema ? evaluateModel(run.ema, test, opts) : null;
  printTable({ ...run.config }, raw, ema);
  return 0;
}

export async function runAttack(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args, strict: true,
    options: {
      run: { type: 'string' }, checkpoint: { type: 'string' }, data: { type: 'string' }, limit: { type: 'string' },
      epsilon: { type: 'string' }, steps: { type: 'string' }, device: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { console.log(ATTACK_USAGE); return 0; }
  const file = checkpointPath(v.run, v.checkpoint);
  const run = loadRun(file, v.device ?? defaultDevice());
  const eps = num(v.epsilon, '--epsilon') ?? 4;
  if (!(eps >= 0)) throw new UsageError(`--epsilon must be ≥ 0, got ${eps}`);
  const test = openDataset(dataOption(v.data) ?? String(run.config.data), 'test');
  const limit = Math.min(num(v.limit, '--limit', true) ?? 1000, datasetSize(test));
  const r = evaluateModel(run.model, test, { limit, epsilons: [eps], attackSteps: num(v.steps, '--steps', true) });
  console.log(`clean top-1 ${(100 * r.clean).toFixed(2)}%, PGD ε=${eps}/255 top-1 ${(100 * r.pgd[String(eps)]!).toFixed(2)}% on ${limit} images`);
  return 0;
}

export async function runExport(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args, strict: true,
    options: {
      run: { type: 'string' }, checkpoint: { type: 'string' }, out: { type: 'string' }, ema: { type: 'boolean' },
      'strip-aux': { type: 'boolean' }, layout: { type: 'string' }, format: { type: 'string' }, 'fold-bn': { type: 'boolean' },
      dtype: { type: 'string' }, resolution: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { console.log(EXPORT_USAGE); return 0; }
  if (!v.out) throw new UsageError('--out FILE is required');
  const format = oneOf(v.format, '--format', ['safetensors', 'onnx'] as const) ?? 'safetensors';
  // Each format's options, refused with the other: a flag that would be ignored is a mistake.
  const only = format === 'onnx' ? ['strip-aux'] : ['fold-bn', 'dtype', 'resolution'];
  for (const k of only) if (v[k as keyof typeof v] !== undefined) throw new UsageError(`--${k} applies to --format ${format === 'onnx' ? 'safetensors' : 'onnx'} only`);
  const layout = v.layout ?? 'ohwi';
  if (format === 'safetensors' && layout !== 'ohwi' && layout !== 'oihw') throw new UsageError(`--layout: expected ohwi or oihw, got '${layout}'`);
  const run = loadRun(checkpointPath(v.run, v.checkpoint), 'cpu');
  const model = v.ema ? run.ema : run.model;
  if (!model) throw new UsageError('--ema: this run kept no EMA (trained with --ema off)');
  if (format === 'onnx') {
    const flags = { out: v.out, layout: v.layout, dtype: v.dtype, resolution: v.resolution, foldBn: v['fold-bn'] ?? false, weights: v.ema ? 'EMA' : 'raw' };
    console.log(exportRunOnnx(model, run.config, flags));
    return 0;
  }
  saveModel(v.out, model, { auxiliary: !v['strip-aux'], layout: layout as 'ohwi' | 'oihw' });
  console.log(`wrote ${v.out} (${v.ema ? 'EMA' : 'raw'} weights, ${v['strip-aux'] ? 'clean BN only' : 'every BN domain'}, ${layout})`);
  return 0;
}
