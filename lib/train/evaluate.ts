// The evaluation of a trained model: clean top-1, top-1 under PGD at chosen radii (through the
// clean BN with running statistics, as a deployed model would be attacked), and top-1 under the
// common corruptions at five severities with their mean.
import { noGrad } from '../autograd/mode.js';
import { pgd } from '../attack/pgd.js';
import { prepareBatch, unitFloats } from '../data/batch.js';
import { checkDataset, datasetSize, type ImageDataset } from '../data/dataset.js';
import { CORRUPTIONS, corrupt } from '../eval/corruptions.js';
import type { Module } from '../nn/index.js';
import { checkModule } from '../nn/module.js';
import { AdvpropError } from '../errors.js';
import { defaultDevice, describeValue } from '../device.js';
import { LIMITS, boolArg, functionArg, intArg, optionsArg } from '../args.js';
import { accuracy } from '../ops/cross_entropy.js';
import type { Tensor } from '../tensor.js';
import { imageBatchTensor } from './images.js';
import { tidy } from '../memory.js';

export interface EvalOptions {
  limit?: number; // first N test images; default all
  batchSize?: number; // default 100
  epsilons?: readonly number[]; // PGD radii in pixel units; default none
  attackSteps?: number; // default ε + 1 (1 for ε = 1)
  corruptions?: boolean; // default false
  seed?: number; // corruption noise seed; default 0
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface EvalResult {
  count: number;
  clean: number;
  pgd: Record<string, number>; // key: ε
  corruptions: Record<string, number[]>; // key: corruption name, one accuracy per severity 1..5
  corruptionMean: number | null;
}

// The images stay bytes until they reach the device (a quarter of the host memory); the
// corruptions, which work on [0, 1] values on the host, widen them first.
interface HostBatch { x: Uint8Array; shape: [number, number, number, number]; y: Int32Array }

function hostBatches(d: ImageDataset, limit: number, batchSize: number): HostBatch[] {
  const out: HostBatch[] = [];
  for (let s = 0; s < limit; s += batchSize) {
    const indices = Int32Array.from({ length: Math.min(batchSize, limit - s) }, (_, i) => s + i);
    const b = prepareBatch(d, [], 0, { epoch: 0, indices }, 'uint8');
    out.push({ x: b.x as Uint8Array, shape: b.shape, y: indices.map((i) => d.labels[i]!) });
  }
  return out;
}

export function evaluateModel(model: Module, dataset: ImageDataset, options?: EvalOptions): EvalResult {
  const op = 'evaluateModel';
  checkModule(model, op);
  checkDataset(dataset, op);
  const opts = optionsArg(options, op);
  const limit = Math.min(opts.limit === undefined ? Infinity : intArg(opts.limit, op, 'limit', 1, Number.MAX_SAFE_INTEGER), datasetSize(dataset));
  const batchSize = intArg(opts.batchSize ?? 100, op, 'batchSize', 1, LIMITS.batch);
  if (opts.epsilons !== undefined && (!Array.isArray(opts.epsilons) || opts.epsilons.some((e) => !(typeof e === 'number' && e >= 0 && e <= 255))))
    throw new AdvpropError('ERR_ARG', `${op}: epsilons must be an array of numbers in [0, 255] (pixel units), got ${describeValue(opts.epsilons)}`);
  if (opts.attackSteps !== undefined) intArg(opts.attackSteps, op, 'attackSteps', 0, LIMITS.attackSteps);
  if (opts.corruptions !== undefined) boolArg(opts.corruptions, op, 'corruptions');
  if (opts.seed !== undefined) intArg(opts.seed, op, 'seed', 0, 2 ** 32 - 1);
  if (opts.onProgress !== undefined) functionArg(opts.onProgress, op, 'onProgress');
  const batches = hostBatches(dataset, limit, batchSize);
  const device = model.parameters()[0]?.device;
  const eps = opts.epsilons ?? [];
  const corr = opts.corruptions ? CORRUPTIONS : [];
  const total = batches.length * (1 + eps.length + corr.length * 5);
  let done = 0;
  const tick = (what: string): void => { done++; opts.onProgress?.(done, total, what); };
  const wasTraining = model.training;
  model.eval();
  const top1 = (x: Float32Array | Uint8Array, b: HostBatch, what: string, attack?: number): number => {
    const correct = tidy(() => {
      let input: Tensor = imageBatchTensor(x, b.shape, device ?? defaultDevice());
      if (attack !== undefined) input = pgd(model, input, b.y, { epsilon: attack, steps: opts.attackSteps, domain: 0, bnMode: 'eval' });
      return noGrad(() => accuracy(model.forward(input), b.y).correct);
    });
    tick(what);
    return correct;
  };
  try {
    const sum = (f: (b: HostBatch, i: number) => number): number => batches.reduce((a, b, i) => a + f(b, i), 0) / limit;
    const clean = sum((b) => top1(b.x, b, 'clean'));
    const pgdAcc: Record<string, number> = {};
    for (const e of eps) pgdAcc[String(e)] = sum((b) => top1(b.x, b, `pgd ε=${e}`, e));
    const corruptions: Record<string, number[]> = {};
    for (const name of corr) {
      corruptions[name] = [1, 2, 3, 4, 5].map((sev) =>
        sum((b, i) => top1(corrupt(unitFloats(b.x), b.shape, name, sev, (opts.seed ?? 0) + i), b, `${name} s${sev}`)));
    }
    const all = Object.values(corruptions).flat();
    return { count: limit, clean, pgd: pgdAcc, corruptions, corruptionMean: all.length ? all.reduce((a, b) => a + b, 0) / all.length : null };
  } finally {
    model.train(wasTraining);
  }
}
