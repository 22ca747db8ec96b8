// One rank of test/distributed/overlap.test.ts: AdvProp steps of a small EfficientNet on the
// bundled Fashion-MNIST with the gradient all-reduce overlapped with the backward or after it;
// rank 0 writes the weights, the EMA, the losses, the bucket counts and the mean step time.
// argv: OUT_JSON PER_RANK_BATCH STEPS BN_SYNC OVERLAP(on|off) BUCKET_BYTES [STOP_AT_STEP]
// STOP_AT_STEP: rank 1 stops itself (SIGSTOP) before that step, a rank that hangs while rank 0
// is inside the step's overlapped all-reduce.
import { writeFileSync } from 'node:fs';
import * as ap from '../../lib/index.js';
import { tinyModel, trainedState } from './tiny_model.js';

const [out, batchArg, stepsArg, bnSync, overlap, bucketArg, stopArg] = process.argv.slice(2);
const batchSize = Number(batchArg), steps = Number(stepsArg), stopAt = stopArg ? Number(stopArg) : -1;
const w = ap.dist.init();
ap.manualSeed(3);
const train = ap.data.limitDataset(ap.data.openDataset('data/fashion-mnist', 'train'), 1024);
const model = tinyModel(0.2);
const loader = new ap.data.DataLoader(train, { batchSize, seed: 7, workers: 0, shard: { rank: w.rank, size: w.size } });
const trainer = new ap.train.Trainer(model, {
  method: 'advprop', optimizer: 'rmsprop', schedule: 'constant', epochs: 1, stepsPerEpoch: loader.length, precision: 'fp32',
  ema: 0.9, bnSync: bnSync as 'none' | 'domain', attackSteps: 1, epsilon: 1, overlapGrads: overlap === 'on', bucketBytes: Number(bucketArg),
});
const losses: number[] = [];
const times: number[] = [];
for await (const b of loader.epoch(0)) {
  if (b.index >= steps) break;
  if (b.index === stopAt && w.rank === 1) process.kill(process.pid, 'SIGSTOP');
  const t0 = performance.now();
  losses.push(trainer.step({ x: b.x, shape: b.shape, y: b.y }).loss);
  times.push(performance.now() - t0);
}
loader.close();
if (w.rank === 0) {
  const { state, ema } = trainedState(model, trainer);
  // The first step pays for allocation and planning: the mean is over the others.
  const rest = times.slice(1);
  const stepMs = rest.reduce((a, b) => a + b, 0) / Math.max(1, rest.length);
  writeFileSync(out!, JSON.stringify({ world: w.size, commThread: w.commThread, losses, state, ema, stats: trainer.overlapStats, stepMs }));
}
