// Child process of the cross-thread determinism test (process.test.ts): a few AdvProp steps of the
// CLI's default model on fixed data, then a checkpoint to argv[2]. The thread pool is sized when
// the addon loads, so each ADVPROP_NUM_THREADS needs its own process; it prints the size it got.
import { rawAddon as native } from '../../lib/native.js';
import * as ap from '../../lib/index.js';
import { saveCheckpoint } from '../../lib/train/checkpoint.js';
import { Trainer } from '../../lib/train/trainer.js';

ap.manualSeed(9);
const model = ap.models.efficientnet('b0', { width: 0.25, depth: 0.25, numClasses: 10, inChannels: 1, domains: 2, resolution: 28, seed: 4, device: 'cpu' });
const trainer = new Trainer(model, { method: 'advprop', epsilon: 2, lr: 0.02, ema: 0.9, epochs: 1, stepsPerEpoch: 3 });
const n = 16;
for (let s = 0; s < 3; s++) {
  const x = Float32Array.from({ length: n * 28 * 28 }, (_, i) => ((i * 7919 + s * 104729) % 1000) / 1000);
  trainer.step({ x, shape: [n, 28, 28, 1], y: Int32Array.from({ length: n }, (_, i) => (i * 3 + s) % 10) });
}
saveCheckpoint(process.argv[2]!, trainer, { epoch: 1, batch: 0 }, { epochs: 1, stepsPerEpoch: 3 });
trainer.dispose();
console.log(`threads ${native.buildInfo().threads}`);
