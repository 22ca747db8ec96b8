// The main job: `advprop train`. Builds data, model and trainer from a TrainConfig, trains with
// a progress line, logs metrics.jsonl, checkpoints atomically (each epoch, every N steps, and on
// Ctrl-C), resumes exactly (./resume.ts), then evaluates raw and EMA weights and writes report.md
// and plots.
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AdvpropError } from '../errors.js';
import { functionArg, optionsArg } from '../args.js';
import { DataLoader } from '../data/loader.js';
import { limitDataset, datasetSize, type ImageDataset } from '../data/dataset.js';
import { defaultDataDir, openDataset } from '../data/open.js';
import type { TransformSpec } from '../data/transforms.js';
import { decodeDataset } from '../data/materialize.js';
import { defaultResolution, imageEvalTransforms, imageTrainTransforms, type Augment } from '../data/efficientnet_transforms.js';
import { efficientnet } from '../models/efficientnet.js';
import type { Module } from '../nn/index.js';
import { saveModel } from '../io/model.js';
import { manualSeed } from '../random.js';
import { defaultDevice } from '../device.js';
import { Progress } from '../report/progress.js';
import { checkTrainConfig, type TrainConfig } from './config.js';
import { saveCheckpoint } from './checkpoint.js';
import { resumeDir, resumeFile, resumeRun } from './resume.js';
import { domainsFor } from './methods.js';
import { evaluateModel, type EvalResult } from './evaluate.js';
import { writeReport } from './report.js';
import { Trainer } from './trainer.js';
import { autocast } from '../precision.js';
import { allreduceHost, barrier, init as initDist } from '../distributed/world.js';
import { gatherRngStates } from '../distributed/rng.js';

export interface RunResult {
  dir: string;
  steps: number;
  interrupted: boolean;
  /** The signal that stopped an interrupted run; null when it ended by itself or by hooks.signal. */
  signal: 'SIGINT' | 'SIGTERM' | null;
  final: { raw: EvalResult; ema: EvalResult | null } | null;
}

export interface RunHooks {
  /** Called after every step (tests use it to interrupt at a given step). */
  onStep?: (step: number) => void;
  log?: (line: string) => void;
  /** Aborting it stops the run as Ctrl-C does: a checkpoint, then `interrupted: true`. */
  signal?: AbortSignal;
}

function buildModel(c: TrainConfig, train: ImageDataset, device: string, resolution: number | undefined): Module {
  const src = train.source;
  return efficientnet(c.model, {
    numClasses: train.numClasses, inChannels: src.channels, domains: domainsFor(c.method),
    width: c.width, depth: c.depth, bnMomentum: c.bnMomentum, device, seed: c.seed,
    resolution: src.kind === 'array' ? src.height : resolution,
  });
}

const augmentName = (a: TrainConfig['augment']): Augment => (a === true ? 'basic' : a === false ? 'none' : a);

/** Image files: EfficientNet's transforms at `resolution`. In-memory sets keep their own sizes
 * (small images: random crop with padding 2 and flip), with AutoAugment or RandAugment after. */
function augmentations(c: TrainConfig, d: ImageDataset, resolution: number | undefined): TransformSpec[] {
  const augment = augmentName(c.augment);
  if (resolution !== undefined) return imageTrainTransforms(augment, resolution, c.randAugment);
  if (augment === 'none') return [];
  const small = d.source.kind === 'array' && d.source.height <= 64;
  const base: TransformSpec[] = small ? [{ name: 'randomCrop', padding: 2 }, { name: 'hflip' }]
    : [{ name: 'randomResizedCrop', size: 224 }, { name: 'hflip' }];
  if (augment === 'autoaugment') base.push({ name: 'autoAugment' });
  if (augment === 'randaugment') base.push({ name: 'randAugment', n: c.randAugment?.n ?? 2, m: c.randAugment?.m ?? 9 });
  return base;
}

export async function trainRun(config: TrainConfig, options?: RunHooks): Promise<RunResult> {
  const c = checkTrainConfig(config);
  const hooks = optionsArg(options, 'trainRun', 'hooks');
  for (const k of ['onStep', 'log'] as const) if (hooks[k] !== undefined) functionArg(hooks[k], 'trainRun', `hooks.${k}`);
  if (hooks.signal !== undefined && !(hooks.signal instanceof AbortSignal))
    throw new AdvpropError('ERR_ARG', 'trainRun: hooks.signal must be an AbortSignal');
  // A process of an mpirun/srun job joins it here (a world of one otherwise); rank 0 alone writes
  // the run folder and logs, and evaluates.
  const world = initDist();
  const lead = world.rank === 0;
  const log = lead ? hooks.log ?? ((l: string) => console.error(l)) : () => undefined;
  // Absolute, so that the checkpoint's config names the same folder from any working directory.
  const dataDir = resolve(c.data ?? defaultDataDir());
  if (c.data && !existsSync(c.data)) throw new AdvpropError('ERR_ARG', `--data: folder ${c.data} does not exist`);
  const name = c.name ?? `${c.method}-${c.model}-eps${c.epsilon}-seed${c.seed}`;
  const resumeFrom = c.resume === undefined ? null : resumeFile(c.resume);
  // A resumed run carries on in its own folder unless told otherwise.
  const dir = resolve(c.out ?? (c.resume !== undefined ? resumeDir(c.resume) : join('runs', name)));
  if (lead) mkdirSync(dir, { recursive: true });
  let device = c.device ?? defaultDevice();
  if (world.size > 1) {
    // cuda ranks reduce through NCCL, one GPU per rank: the rank's local index picks it.
    if (device.startsWith('cuda-sim'))
      throw new AdvpropError('ERR_DIST', `data-parallel training across ${world.size} ranks runs on cpu or cuda (the simulator has no NCCL); got --device ${device}`);
    if (device === 'cuda') device = `cuda:${world.localRank}`;
  }
  manualSeed(c.seed);

  const train = limitDataset(openDataset(dataDir, 'train'), c.limit);
  const testFiles = openDataset(dataDir, 'test');
  const topLabel = testFiles.labels.reduce((a, b) => Math.max(a, b), -1);
  if (topLabel >= train.numClasses)
    throw new AdvpropError('ERR_FORMAT', `${testFiles.name}: evaluation label ${topLabel}, but the training set ${train.name} has ${train.numClasses} classes`);
  const files = train.source.kind !== 'array';
  if (!files && c.resolution !== undefined)
    throw new AdvpropError('ERR_ARG', `--resolution applies to folders of image files; ${train.name} holds images of one size`);
  const resolution = files ? c.resolution ?? defaultResolution(c.model) : undefined;
  const strict = c.strict ?? false;
  // Decoded once (centre crop at the resolution) for every epoch's evaluation.
  const test = testFiles.source.kind !== 'array'
    ? await decodeDataset(testFiles, imageEvalTransforms(resolution ?? defaultResolution(c.model)), { limit: c.evalLimit, workers: c.workers, strict })
    : testFiles;
  const model = buildModel(c, train, device, resolution);
  const loader = new DataLoader(train, {
    // Bytes from the workers, normalised on the model's device (Trainer.step): the same values as
    // the f32 batches, a quarter of the bytes through the worker hand-off and the upload.
    batchSize: c.batchSize, seed: c.seed, transforms: augmentations(c, train, resolution), workers: c.workers, prefetch: c.prefetch, strict, output: 'uint8',
    shard: { rank: world.rank, size: world.size },
  });
  const bnSync = world.size > 1 ? c.bnSync ?? 'none' : 'none';
  const stepsPerEpoch = loader.length;
  const trainer = new Trainer(model, {
    method: c.method, epsilon: c.epsilon, attackSteps: c.attackSteps, lr: c.lr, optimizer: c.optimizer, schedule: c.schedule,
    warmupEpochs: c.warmupEpochs, weightDecay: c.weightDecay, labelSmoothing: c.labelSmoothing, ema: c.ema,
    epochs: c.epochs, stepsPerEpoch, precision: c.precision, bnSync, cudaGraph: c.cudaGraph,
  });
  const precision = trainer.options.precision;
  const randAugment = c.augment === 'randaugment' ? { n: c.randAugment?.n ?? 2, m: c.randAugment?.m ?? 9 } : undefined;
  const record = { ...c, data: dataDir, device, precision, name, randAugment, resolution, numClasses: train.numClasses, inChannels: train.source.channels, stepsPerEpoch, trainImages: datasetSize(train), testImages: datasetSize(testFiles), parameters: model.numParameters(), worldSize: world.size, bnSync, globalBatchSize: loader.globalBatchSize };
  // Rank 0's own work (a checkpoint, an evaluation) may outlast the collectives' deadline
  // (ADVPROP_DIST_TIMEOUT): the others wait for it here without one, instead of in the next step's
  // collectives. Rank 0 arrives last and keeps the deadline, so a rank that hung meanwhile is still
  // caught; a rank 0 that dies meanwhile is mpirun's to notice.
  const waitForLead = (): void => { if (world.size > 1) barrier(lead ? undefined : { timeoutSeconds: 0 }); };
  const metrics = join(dir, 'metrics.jsonl');
  let start = { epoch: 0, batch: 0 };
  if (resumeFrom) {
    start = resumeRun(resumeFrom, c, record, trainer, dir, log, lead);
  } else if (lead) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(record, null, 2) + '\n');
    writeFileSync(metrics, '');
  }
  // Every rank holds the same weights, optimizer and EMA after every step: rank 0's copy is the
  // run's, with every rank's random-number state.
  const ckpt = (at: { epoch: number; batch: number }): void => {
    const rankRng = world.size > 1 ? gatherRngStates() : undefined;
    if (lead) saveCheckpoint(join(dir, 'last.safetensors'), trainer, at, record, rankRng);
    waitForLead();
  };
  const emit = (obj: Record<string, unknown>): void => { if (lead) appendFileSync(metrics, JSON.stringify(obj) + '\n'); };

  // SIGTERM is what schedulers (Slurm, Kubernetes) send before they kill a job: it gets the same
  // checkpoint as Ctrl-C.
  let stop = false;
  let stopSignal: 'SIGINT' | 'SIGTERM' | null = null;
  const onSigint = (): void => { stop = true; stopSignal ??= 'SIGINT'; };
  const onSigterm = (): void => { stop = true; stopSignal ??= 'SIGTERM'; };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  hooks.signal?.addEventListener('abort', onSigint);
  if (hooks.signal?.aborted) stop = true;
  const totalSteps = Math.min(c.maxSteps ?? Infinity, c.epochs * stepsPerEpoch);
  const progress = c.progress && lead ? new Progress({ total: totalSteps, label: `${c.method} ${c.model}` }) : null;
  let interrupted = false;
  // A run resumed at its end or at --max-steps takes no further step; its folder still gets the
  // checkpoint (with this run's config) that --resume and eval read.
  if (trainer.stepCount >= totalSteps || start.epoch >= c.epochs) ckpt(start);
  try {
    outer: for (let epoch = start.epoch; epoch < c.epochs && trainer.stepCount < totalSteps; epoch++) {
      for await (const [batch, after] of withNext(loader.epoch(epoch, epoch === start.epoch ? start.batch : 0))) {
        const r = trainer.step({ x: batch.x, shape: batch.shape, y: batch.y }, { next: after && { x: after.x, shape: after.shape, y: after.y } });
        const next = batch.index + 1 < stepsPerEpoch ? { epoch, batch: batch.index + 1 } : { epoch: epoch + 1, batch: 0 };
        if (r.step % c.logEvery === 0 || r.step === 1) emit({ type: 'step', ...r, time: Date.now() });
        progress?.update(Math.min(r.step, totalSteps), {
          epoch: `${epoch + 1}/${c.epochs}`, loss: r.loss,
          ...(r.cleanAcc !== null ? { 'clean acc': r.cleanAcc } : {}), ...(r.advAcc !== null ? { 'adv acc': r.advAcc } : {}),
        });
        hooks.onStep?.(r.step);
        // Batches prepared in-process resolve as microtasks, which never let a signal handler
        // run; one macrotask turn per step lets Ctrl-C through.
        await new Promise((resolve) => setImmediate(resolve));
        if (c.checkpointEvery > 0 && r.step % c.checkpointEvery === 0) ckpt(next);
        // A signal may reach some ranks only: all stop at the same step, or the rest would wait
        // in the next step's collectives for ever.
        if (world.size > 1) {
          const any = Float64Array.of(stop ? 1 : 0);
          allreduceHost(any);
          stop = any[0]! > 0;
        }
        if (stop || r.step >= totalSteps) {
          ckpt(next);
          break outer;
        }
      }
      ckpt({ epoch: epoch + 1, batch: 0 });
      if (lead) {
        const ev = autocast(precision, () => evaluateModel(model, test, { limit: c.evalLimit }));
        emit({ type: 'eval', step: trainer.stepCount, epoch: epoch + 1, clean: ev.clean, time: Date.now() });
      }
      waitForLead();
    }
    interrupted = stop; // also when it came during the last evaluation, after the last checkpoint
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    hooks.signal?.removeEventListener('abort', onSigint);
    progress?.done();
    loader.close();
  }
  const graphs = trainer.cudaGraphStats;
  if (graphs) log(`--cuda-graph: ${graphs.captures} capture${graphs.captures === 1 ? '' : 's'}, ${graphs.replays} replayed steps, ${graphs.eagerSteps} eager${trainer.cudaGraphFallback ? ` (every step eager: ${trainer.cudaGraphFallback})` : ''}`);
  if (loader.skipped > 0) log(`${loader.skipped} training image${loader.skipped === 1 ? '' : 's'} could not be decoded and ${loader.skipped === 1 ? 'was' : 'were'} left out (--strict stops instead)`);
  if (!lead) {
    // The other ranks' copies equal rank 0's, which evaluates and writes the results.
    trainer.dispose();
    model.dispose();
    return { dir, steps: trainer.stepCount, interrupted, signal: interrupted ? stopSignal : null, final: null };
  }
  if (interrupted) {
    log(`interrupted: checkpoint written to ${join(dir, 'last.safetensors')}; continue with --resume ${dir}`);
    trainer.dispose();
    model.dispose();
    return { dir, steps: trainer.stepCount, interrupted, signal: stopSignal, final: null };
  }
  const final = finalEvaluation(c, dir, model, trainer, test, log);
  emit({ type: 'final', step: trainer.stepCount, raw: final.raw, ema: final.ema, time: Date.now() });
  writeReport(dir, record, final, metrics);
  trainer.dispose();
  model.dispose();
  log(`done: ${dir}/report.md`);
  return { dir, steps: trainer.stepCount, interrupted, signal: null, final };
}

function finalEvaluation(c: TrainConfig, dir: string, model: Module, trainer: Trainer, test: ImageDataset, log: (l: string) => void) {
  const evalOpts = { limit: c.evalLimit, epsilons: c.evalEpsilons, corruptions: true, seed: c.seed };
  // The evaluation's length is known once it starts, so the progress line is made on first call.
  const withProgress = (label: string) => {
    let p: Progress | null = null;
    return {
      ...evalOpts,
      onProgress: (d: number, t: number, what: string) => {
        if (c.progress) (p ??= new Progress({ total: t, label })).update(d, { at: what });
      },
      done: () => p?.done(),
    };
  };
  const a = withProgress('eval raw');
  // Evaluated in the precision it was trained in, as it would be deployed.
  const precision = trainer.options.precision;
  const raw = autocast(precision, () => evaluateModel(model, test, a));
  a.done();
  // The exported weights: every BN domain, or with --strip-aux only the clean one inference uses.
  saveModel(join(dir, 'model.safetensors'), model, { auxiliary: !c.stripAux });
  let ema: EvalResult | null = null;
  if (trainer.ema) {
    const backup = model.stateDict();
    try {
      trainer.copyEmaTo(model);
      const b = withProgress('eval EMA');
      ema = autocast(precision, () => evaluateModel(model, test, b));
      b.done();
      saveModel(join(dir, 'model-ema.safetensors'), model, { auxiliary: !c.stripAux });
    } finally {
      model.loadStateDict(backup);
      for (const t of Object.values(backup)) t.dispose();
    }
  }
  log(`clean top-1: raw ${(100 * raw.clean).toFixed(2)}%${ema ? `, EMA ${(100 * ema.clean).toFixed(2)}%` : ''}`);
  return { raw, ema };
}

// Each item with the one after it (undefined for the last), so a step can start the next batch's
// upload while its own kernels run (Trainer.step's `next`). Breaking out closes the source.
async function* withNext<T>(source: AsyncIterable<T>): AsyncGenerator<[T, T | undefined]> {
  const it = source[Symbol.asyncIterator]();
  try {
    let cur = await it.next();
    while (!cur.done) {
      const nxt = await it.next();
      yield [cur.value, nxt.done ? undefined : nxt.value];
      cur = nxt;
    }
  } finally {
    await it.return?.();
  }
}
