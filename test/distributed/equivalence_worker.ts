// One process of test/distributed/mpi.test.ts: a few AdvProp steps of the train CLI's tiny EfficientNet
// on the bundled Fashion-MNIST, reading its shard of every global batch, then rank 0 writes the
// weights, BN statistics and EMA as JSON. Run alone (a world of one) or under mpirun.
// argv: OUT_JSON PER_RANK_BATCH STEPS BN_SYNC
import { writeFileSync } from 'node:fs';
import * as ap from '../../lib/index.js';
import { tinyModel, trainedState } from './tiny_model.js';

const [out, batchArg, stepsArg, bnSync] = process.argv.slice(2);
const batchSize = Number(batchArg), steps = Number(stepsArg);
const w = ap.dist.init();
ap.manualSeed(3);
const train = ap.data.limitDataset(ap.data.openDataset('data/fashion-mnist', 'train'), 512);
// Dropout and drop-connect on (0.2 each): their draws are keyed by the global sample index, so 2
// ranks draw what 1 rank with the global batch draws (with draws per rank instead the weights end
// 0.2 apart). The random start stays off, as in the CLI: its exact keying is pinned by
// test/ops/sample_map.test.ts, while over 10 steps PGD's sign() turns the reduction-order
// differences into 1e-3 ones.
const model = tinyModel(0.2);
const loader = new ap.data.DataLoader(train, {
  batchSize, seed: 7, workers: 0, transforms: [{ name: 'randomCrop', padding: 2 }, { name: 'hflip' }], shard: { rank: w.rank, size: w.size },
});
const trainer = new ap.train.Trainer(model, {
  method: 'advprop', optimizer: 'rmsprop', schedule: 'constant', epochs: 1, stepsPerEpoch: loader.length, precision: 'fp32',
  ema: 0.9, bnSync: bnSync as 'none' | 'domain', attackSteps: 1, epsilon: 1,
});
const losses: number[] = [];
for await (const b of loader.epoch(0)) {
  if (b.index >= steps) break;
  losses.push(trainer.step({ x: b.x, shape: b.shape, y: b.y }).loss);
}
loader.close();
if (w.rank === 0) {
  const { state, ema } = trainedState(model, trainer);
  writeFileSync(out!, JSON.stringify({ world: w.size, lr: trainer.currentLr(), losses, state, ema }));
}
