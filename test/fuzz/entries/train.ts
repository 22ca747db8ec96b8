// ap.train (the Trainer, schedules, checkpoints, evaluation, the whole run) and ap.attack.
import { join } from 'node:path';
import * as ap from '../../../lib/index.js';
import { entry, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';
import { SIDE, tinyModel } from '../fixtures.js';

const METHODS = ['advprop', 'vanilla', 'madry', 'mixed-single-bn', 'adv-finetune'] as const;

function trainerOptions(g: Gen): ap.train.TrainerOptions {
  return g.opts({
    method: g.str(g.r.pick(METHODS)), epsilon: g.num(1), attackSteps: g.size(1), attackStepSize: g.num(1), attackNorm: g.str('linf' as const),
    randomStart: g.bool(false), attackBnMode: g.str('train-frozen' as const), attackTarget: g.str(g.r.pick(['true', 'random'] as const)),
    cleanWeight: g.num(1), advWeight: g.num(1), optimizer: g.str(g.r.pick(['rmsprop', 'sgd'] as const)), lr: g.num(0.01), momentum: g.num(0.9),
    schedule: g.str(g.r.pick(['exponential', 'cosine', 'constant'] as const)), warmupEpochs: g.num(1), weightDecay: g.num(1e-5),
    labelSmoothing: g.num(0.1), precision: g.str(g.r.pick(ap.PRECISIONS)), ema: g.r.chance(0.3) ? false : g.num(0.99), finetuneFraction: g.num(0.5), epochs: g.size(2), stepsPerEpoch: g.size(4),
  });
}

function trainer(g: Gen): ap.train.Trainer {
  const t = new ap.train.Trainer(tinyModel(g), { epochs: 2, stepsPerEpoch: 4, lr: 0.01 });
  return g.own(t, (x) => x.dispose());
}

/** A batch for the tiny model: a tensor or a Float32Array with its shape, and labels. */
function batch(g: Gen): ap.train.StepInput {
  const n = 2;
  const asArray = g.r.chance(0.4);
  const x = asArray ? new Float32Array(n * SIDE * SIDE) : g.tensor([n, SIDE, SIDE, 1], { lo: 0, hi: 1 });
  const input = { x, y: g.labels(n, 10) as Int32Array, ...(asArray ? { shape: g.shape([n, SIDE, SIDE, 1]) } : {}) };
  if (g.mutate()) (input as Record<string, unknown>)[g.r.pick(['x', 'y', 'shape'])] = g.wrongType();
  return g.mutate() ? g.wrongType() as ap.train.StepInput : input;
}

export function trainConfig(g: Gen): ap.train.TrainConfig {
  return g.opts({
    ...ap.train.TRAIN_DEFAULTS, data: g.path(g.ctx.dataDir), out: g.outPath(join(g.ctx.tmp, `run-${g.r.u32()}`)),
    model: g.str('b0'), width: g.num(0.1), depth: g.num(0.1), method: g.str(g.r.pick(METHODS)), epsilon: g.num(1), epochs: g.size(1),
    batchSize: g.size(4), maxSteps: g.size(2), limit: g.size(8), evalLimit: g.size(4), evalEpsilons: g.r.chance(0.8) ? [] : [g.num(1)],
    workers: g.size(0), progress: false, logEvery: g.size(1), checkpointEvery: g.size(0), seed: g.num(0), device: g.deviceName(),
    schedule: g.str('cosine' as const), optimizer: g.str('sgd' as const), ema: g.r.chance(0.5) ? false : g.num(0.9), lr: g.num(0.01),
    attackSteps: g.size(1), bnMomentum: g.num(0.9), labelSmoothing: g.num(0.1), warmupEpochs: g.num(1), weightDecay: g.num(0),
  });
}

const dataset = (g: Gen): ap.data.ImageDataset => {
  const d = ap.data.openDataset(g.ctx.dataDir, 'test');
  if (!g.mutate()) return d;
  return g.r.pick<unknown>([null, {}, { ...d, labels: null }, { ...d, source: { ...d.source, height: -1 } }, { ...d, numClasses: 0 }, 'data']) as ap.data.ImageDataset;
};

export const trainEntries: Entry[] = [
  entry('train.Trainer', (g) => { const m = g.r.chance(0.85) ? tinyModel(g, { domains: g.r.pick([1, 2]) }) : g.wrongType() as ap.nn.Module; return () => new ap.train.Trainer(m, trainerOptions(g)); }, { weight: 2 }),
  entry('train.GradScaler', (g) => {
    const o = g.opts({ initScale: g.num(1024), growthFactor: g.num(2), backoffFactor: g.num(0.5), growthInterval: g.size(10) });
    const gs = [g.tensor([3]), g.tensor([2, 2])];
    return () => {
      const s = new ap.train.GradScaler(o);
      const { grads } = s.unscale(gs);
      for (const t of grads) t.dispose();
      s.update(g.bool(true));
      s.loadState(g.r.chance(0.7) ? s.state() : g.wrongType());
    };
  }),
  entry('train.Trainer#step', (g) => {
    const o: ap.train.TrainerOptions = {
      epochs: 2, stepsPerEpoch: 4, lr: 0.01, method: g.r.pick(METHODS), optimizer: g.r.pick(['sgd', 'rmsprop'] as const), ema: g.r.pick([false, 0.9]),
      attackTarget: g.r.pick(['true', 'random'] as const), randomStart: g.r.chance(0.5), attackNorm: g.r.pick(['linf', 'l2'] as const),
    };
    const t = g.own(new ap.train.Trainer(tinyModel(g), o), (x) => x.dispose());
    const b = g.r.chance(0.1) ? undefined : batch(g);
    const next = g.r.chance(0.7) ? undefined : g.r.chance(0.8) ? { next: batch(g) } : g.wrongType() as { next: ap.train.StepInput };
    return () => t.step(b as ap.train.StepInput, next);
  }, { weight: 3, timeoutMs: 20_000 }),
  entry('train.BatchUploader', (g) => { const d = g.r.chance(0.8) ? g.device : g.wrongType() as string; return () => g.own(new ap.train.BatchUploader(d), (u) => u.dispose()); }),
  ...(['upload', 'prefetch'] as const).map((m) => entry(`train.BatchUploader#${m}`, (g) => {
    const u = g.own(new ap.train.BatchUploader(g.device), (x) => x.dispose());
    const shape = g.shape([2, SIDE, SIDE, 3]);
    const x = g.r.chance(0.8) ? new Uint8Array(2 * SIDE * SIDE * 3 + (g.mutate() ? 1 : 0)) : g.wrongType() as Uint8Array;
    if (g.r.chance(0.1)) u.dispose();
    return () => { const out = u[m](x, shape); if (out) out.dispose(); };
  })),
  entry('train.Trainer#copyEmaTo', (g) => { const t = trainer(g); const m = g.r.chance(0.6) ? tinyModel(g) : g.wrongType() as ap.nn.Module; return () => t.copyEmaTo(m); }),
  entry('train.Trainer#currentLr', (g) => { const t = trainer(g); return () => t.currentLr(); }),
  entry('train.Trainer#epochAt', (g) => { const t = trainer(g); return () => t.epochAt(g.num(3)); }),
  entry('train.decayMask', (g) => { const m = g.r.chance(0.7) ? tinyModel(g) : g.wrongType() as ap.nn.Module; return () => ap.train.decayMask(m); }),
  entry('train.stepPlan', (g) => () => ap.train.stepPlan(g.str(g.r.pick(METHODS)), g.num(1), g.num(2))),
  entry('train.domainsFor', (g) => () => ap.train.domainsFor(g.str('advprop' as const))),
  entry('train.learningRate', (g) => () => ap.train.learningRate(g.opts({
    schedule: g.str(g.r.pick(['exponential', 'cosine', 'constant'] as const)), baseLr: g.num(0.1), epochs: g.size(10), warmupEpochs: g.num(1),
    decayRate: g.num(0.97), decayEpochs: g.num(2.4), minLr: g.num(0),
  }), g.num(3))),
  entry('train.scaledLr', (g) => () => ap.train.scaledLr(g.size(64), g.r.chance(0.5) ? undefined : g.num(0.016))),
  entry('train.warmupEpochs', (g) => () => ap.train.warmupEpochs(g.opts({ baseLr: 0.1, epochs: g.size(10), warmupEpochs: g.num(2) }))),
  entry('train.checkTrainConfig', (g) => () => ap.train.checkTrainConfig(trainConfig(g))),
  entry('train.saveCheckpoint', (g) => {
    const t = g.r.chance(0.8) ? trainer(g) : g.wrongType() as ap.train.Trainer;
    const at = g.opts({ epoch: g.size(0), batch: g.size(1) });
    return () => ap.train.saveCheckpoint(g.outPath(join(g.ctx.tmp, `ck-${g.r.u32()}.safetensors`)), t, at, g.r.chance(0.5) ? undefined : g.opts({ lr: 1 }));
  }),
  entry('train.loadCheckpoint', (g) => {
    const t = trainer(g);
    const file = join(g.ctx.tmp, `ck-${g.r.u32()}.safetensors`);
    ap.train.saveCheckpoint(file, t, { epoch: 0, batch: 1 });
    const t2 = g.r.chance(0.8) ? trainer(g) : g.wrongType() as ap.train.Trainer;
    return () => ap.train.loadCheckpoint(g.path(file), t2);
  }),
  entry('train.readCheckpointMeta', (g) => () => ap.train.readCheckpointMeta(g.path(g.ctx.stFile))),
  entry('train.evaluateModel', (g) => {
    const m = g.r.chance(0.85) ? tinyModel(g) : g.wrongType() as ap.nn.Module;
    const o = g.r.chance(0.2) ? undefined : g.opts({
      limit: g.size(4), batchSize: g.size(2), epsilons: g.r.chance(0.7) ? [] : [g.num(1)], attackSteps: g.size(1),
      corruptions: g.r.chance(0.9) ? false : g.bool(true), seed: g.num(0), onProgress: g.fn(() => undefined),
    });
    return () => ap.train.evaluateModel(m, dataset(g), o);
  }, { timeoutMs: 30_000 }),
  entry('train.trainRun', (g) => { const c = trainConfig(g); return () => ap.train.trainRun(c, g.r.chance(0.7) ? { log: () => undefined } : g.opts({ log: g.fn(() => undefined), onStep: g.fn(() => undefined) })); }, { weight: 0.5, timeoutMs: 60_000 }),
  // ap.attack.
  entry('attack.pgd', (g) => {
    const m = g.r.chance(0.85) ? tinyModel(g) : g.wrongType() as ap.models.EfficientNet;
    const x = g.tensor([2, SIDE, SIDE, 1], { lo: 0, hi: 1 });
    return () => ap.attack.pgd(m, x, g.labels(2, 10), g.opts({
      epsilon: g.num(2), steps: g.size(2), stepSize: g.num(1), norm: g.str(g.r.pick(['linf', 'l2'] as const)), randomStart: g.bool(true),
      domain: g.size(1), bnMode: g.str(g.r.pick(['train-frozen', 'eval'] as const)), target: g.str(g.r.pick(['true', 'random'] as const)), min: g.num(0), max: g.num(1),
    }));
  }, { weight: 2 }),
  entry('attack.fgsm', (g) => {
    const m = g.r.chance(0.85) ? tinyModel(g) : g.wrongType() as ap.models.EfficientNet;
    const x = g.tensor([2, SIDE, SIDE, 1], { lo: 0, hi: 1 });
    return () => ap.attack.fgsm(m, x, g.labels(2, 10), g.opts({ epsilon: g.num(4), domain: g.size(0), norm: g.str('linf' as const) }));
  }),
  entry('attack.defaultSteps', (g) => () => ap.attack.defaultSteps(g.num(4))),
];
