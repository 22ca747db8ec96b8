// Runs one training loop for a number of steps and prints, as one JSON line, the resident set
// size and the addon's handle counts sampled every `every` steps (after a full GC, when
// --expose-gc is given, so that V8's own heap sawtooth does not hide or fake a trend).
// Used by test/soak.test.ts (short, in CI) and bench/soak.ts (long, with figures).
//   node --expose-gc --import tsx test/soak/loops.ts <sync|readme|trainRun> <steps> <every>
import * as ap from '../../lib/index.js';
import { rawAddon as native } from '../../lib/native.js';

interface Sample { step: number; rssMB: number; handles: number; slots: number; tensors: number }

const STAGES: ap.models.StageArgs[] = [
  { repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 8, outFilters: 8, seRatio: 0.25 },
  { repeats: 1, kernel: 3, stride: 2, expand: 4, inFilters: 8, outFilters: 12, seRatio: 0.25 },
];
const tinyModel = (): ap.models.EfficientNet => ap.models.efficientnet('b0', {
  width: 1, depth: 1, stages: STAGES, stemFilters: 8, headFilters: 16, numClasses: 10, inChannels: 1, domains: 2, seed: 3,
});

const samples: Sample[] = [];
function sample(step: number): void {
  (globalThis as { gc?: () => void }).gc?.();
  const h = native.handleStats?.() ?? { live: -1, slots: -1 };
  samples.push({ step, rssMB: process.memoryUsage().rss / 2 ** 20, handles: h.live, slots: h.slots, tensors: ap.memory().numTensors });
}

async function main(): Promise<void> {
  const [kind, stepsArg, everyArg] = process.argv.slice(2);
  const steps = Number(stepsArg), every = Number(everyArg);
  if (kind === 'sync') {
    // (a) A synchronous loop of Trainer.step that never lets the event loop turn.
    const trainer = new ap.train.Trainer(tinyModel(), { method: 'advprop', epsilon: 1, lr: 0.01, ema: 0.9 });
    const n = 8;
    const x = Float32Array.from({ length: n * 12 * 12 }, (_, i) => ((i * 7919) % 256) / 255);
    const y = Int32Array.from({ length: n }, (_, i) => i % 10);
    for (let s = 1; s <= steps; s++) {
      trainer.step({ x, shape: [n, 12, 12, 1], y });
      if (s % every === 0) sample(s);
    }
  } else if (kind === 'readme') {
    // (b) README.md's custom loop: for await over the DataLoader, Trainer.step on each batch.
    const trainer = new ap.train.Trainer(tinyModel(), { method: 'advprop', epsilon: 1, epochs: 1000, stepsPerEpoch: 100 });
    const data = ap.data.openDataset(ap.data.defaultDataDir(), 'train');
    const loader = new ap.data.DataLoader(data, { batchSize: 8, seed: 0, transforms: [{ name: 'randomCrop', padding: 2 }, { name: 'hflip' }] });
    let s = 0;
    for (let epoch = 0; s < steps; epoch++) {
      for await (const b of loader.epoch(epoch)) {
        trainer.step({ x: b.x, shape: b.shape, y: b.y });
        if (++s % every === 0) sample(s);
        if (s >= steps) break;
      }
    }
    loader.close();
  } else if (kind === 'trainRun') {
    // (c) The `advprop train` job as a function.
    const out = process.argv[5];
    if (!out) throw new Error('trainRun needs a run folder as its 4th argument');
    await ap.train.trainRun({ ...ap.train.TRAIN_DEFAULTS, maxSteps: steps, batchSize: 8, out, evalLimit: 8, evalEpsilons: [], epochs: 1000, progress: false },
      { onStep: (s) => { if (s % every === 0) sample(s); }, log: () => {} });
  } else {
    throw new Error(`unknown loop ${kind}`);
  }
  process.stdout.write(JSON.stringify(samples) + '\n');
}

await main();
