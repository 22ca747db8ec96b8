// The trainer's cudaGraph option (lib/train/step_graph.ts): a captured and replayed step must give
// the bits of an eager step — weights, optimizer state, EMA, BN statistics, the reported losses
// and accuracies — through a learning-rate warm-up and the EMA's warm-up decay (both change every
// step), dropout, drop-connect and the PGD random start, and across a batch of another size,
// which runs eagerly and leaves the graph for the following full batches.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { backendStatus } from '../../lib/testing/backends.js';
import { Trainer, type StepResult, type TrainerOptions } from '../../lib/train/trainer.js';
import { expectCode } from '../helpers.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../../lib/io/safetensors.js';
import { TRAIN_DEFAULTS } from '../../lib/train/config.js';
import { trainRun } from '../../lib/train/run.js';

const STAGES: ap.models.StageArgs[] = [
  { repeats: 1, kernel: 3, stride: 2, expand: 2, inFilters: 8, outFilters: 8, seRatio: 0.25 },
  { repeats: 2, kernel: 5, stride: 1, expand: 3, inFilters: 8, outFilters: 12, seRatio: 0.25 },
];

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) out[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  return out;
}

// Batches of 4, then one of 3 (an epoch's last partial batch), 4 again, and another 3: two
// partial batches, but not in consecutive steps, so neither is captured.
const SIZES = [4, 4, 4, 4, 3, 4, 4, 3, 4];
const DATA = SIZES.map((n, i) => {
  const shape = [n, 10, 10, 3];
  return { x: bytes(n * 300, 40 + i), shape, y: Int32Array.from({ length: n }, (_, k) => (k + i) % 3) };
});

interface Outcome { results: StepResult[]; tensors: Float32Array[]; stats: Trainer['cudaGraphStats']; allocs: number[] }

function train(device: string, options: TrainerOptions, floats = false): Outcome {
  ap.manualSeed(7);
  const model = ap.models.efficientnet('b0', {
    width: 1, depth: 1, stages: STAGES, stemFilters: 8, headFilters: 16, numClasses: 3, domains: 2, dropout: 0.2, dropConnect: 0.2, seed: 4, device,
  });
  // warm-up over 2 epochs of 4 steps: the rate changes at every step, as the EMA's decay does.
  const t = new Trainer(model, { lr: 0.05, epsilon: 4, ema: 0.99, epochs: 3, stepsPerEpoch: 4, warmupEpochs: 2, randomStart: true, ...options });
  try {
    // The device allocator's system allocations after each step: a replay makes none.
    const allocs: number[] = [];
    const results = DATA.map((b) => {
      const r = t.step(floats ? { x: Float32Array.from(b.x, (v) => v / 255), shape: b.shape, y: b.y } : b);
      allocs.push(ap.memory().devices[device]!.systemAllocs);
      return r;
    });
    const tensors = [...t.emaSources(), ...t.ema!.tensors(), ...Object.values(t.optimizerState.stateDict())].map((x) => x.toArray() as Float32Array);
    return { results, tensors, stats: t.cudaGraphStats, allocs };
  } finally {
    t.dispose();
    for (const p of model.parameters()) p.dispose();
  }
}

function assertSameRun(a: Outcome, b: Outcome, label: string): void {
  a.results.forEach((r, i) => assert.deepEqual(b.results[i], r, `${label}: step ${i + 1}'s result`));
  a.tensors.forEach((t, i) => assert.deepEqual(b.tensors[i], t, `${label}: state tensor ${i}`));
}

for (const b of backendStatus().filter((s) => s.backend !== 'cpu')) {
  describe(`Trainer cudaGraph [${b.backend}]`, () => {
    if (!b.available) {
      it.skip(`${b.backend}: skipped (${b.reason})`);
      return;
    }
    const device = b.device!;

    for (const method of ['advprop', 'vanilla'] as const) {
      it(`${method}: 9 steps with partial batches give the eager steps' bits (1 eager warm-up, 1 capture, eager partial batches)`, () => {
        const eager = train(device, { method });
        const graphed = train(device, { method, cudaGraph: true });
        assertSameRun(eager, graphed, method);
        // Step 1 eager (new key), step 2 captured and replayed, 3-4 replayed, the partial batches
        // (5 and 8) eager, 6, 7 and 9 replayed with the graph of the full batch.
        assert.deepEqual(graphed.stats, { captures: 1, replays: 6, eagerSteps: 3 });
        assert.notDeepEqual(eager.results[1]!.lr, eager.results[2]!.lr, 'the rate changes between replays');
        // Steps 6 and 7 replay after an eager partial batch: no allocation from the system.
        assert.equal(graphed.allocs[6]! - graphed.allocs[4]!, 0, 'system allocations in replayed steps');
      });
    }

    it('float batches (a Tensor input path) and a random-target attack, which falls back to eager steps', () => {
      assertSameRun(train(device, {}, true), train(device, { cudaGraph: true }, true), 'float input');
      const random = train(device, { attackTarget: 'random', cudaGraph: true });
      assert.deepEqual(random.stats, { captures: 0, replays: 0, eagerSteps: 0 });
      assertSameRun(train(device, { attackTarget: 'random' }), random, 'random target');
    });

    it('advprop train --cuda-graph: the run folder holds the eager run\'s weights, optimizer state and EMA, bit for bit', async function () {
      this.timeout(600000);
      // 40 images in batches of 16: two steps per epoch (the loader drops the partial batch).
      const common = { limit: 40, batchSize: 16, epochs: 2, evalLimit: 16, evalEpsilons: [1], progress: false, workers: 0, lr: 0.02 };
      const eager = mkdtempSync(join(tmpdir(), 'advprop-graph-')), graphed = mkdtempSync(join(tmpdir(), 'advprop-graph-'));
      await trainRun({ ...TRAIN_DEFAULTS, ...common, device, out: eager }, { log: () => undefined });
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'train', '--device', device, '--cuda-graph', '--limit', '40',
        '--batch-size', '16', '--epochs', '2', '--eval-limit', '16', '--eval-epsilons', '1', '--no-progress', '--workers', '0', '--lr', '0.02', '--out', graphed],
      { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      // Step 1 eager, step 2 captured and replayed, the second epoch's replayed.
      assert.match(r.stdout + r.stderr, /--cuda-graph: 1 capture, 3 replayed steps, 1 eager/);
      const a = readSafetensors(join(eager, 'last.safetensors')).tensors, b = readSafetensors(join(graphed, 'last.safetensors')).tensors;
      assert.deepEqual([...b.keys()], [...a.keys()]);
      for (const [k, t] of a) assert.deepEqual(b.get(k)!.data, t.data, `${k} differs with --cuda-graph`);
    });

    it('fp16 steps run eagerly and say why', () => {
      const model = ap.models.efficientnet('b0', { width: 1, depth: 1, stages: STAGES.slice(0, 1), stemFilters: 8, headFilters: 16, numClasses: 3, domains: 2, seed: 4, device });
      const t = new Trainer(model, { precision: 'fp16', cudaGraph: true });
      try {
        assert.match(t.cudaGraphFallback ?? '', /fp16/);
        t.step(DATA[0]!);
        t.step(DATA[1]!);
        assert.deepEqual(t.cudaGraphStats, { captures: 0, replays: 0, eagerSteps: 0 });
      } finally {
        t.dispose();
      }
    });
  });
}

describe('Trainer cudaGraph [cpu]', () => {
  it('a cpu model is refused with ERR_DEVICE, and a non-boolean option with ERR_ARG', () => {
    const model = ap.models.efficientnet('b0', { width: 1, depth: 1, stages: STAGES.slice(0, 1), stemFilters: 8, headFilters: 16, numClasses: 3, domains: 2, seed: 4, device: 'cpu' });
    expectCode(() => new Trainer(model, { cudaGraph: true }), 'ERR_DEVICE', /cudaGraph needs a cuda or cuda-sim device/);
    expectCode(() => new Trainer(model, { cudaGraph: 'yes' as unknown as boolean }), 'ERR_ARG', /cudaGraph/);
    const t = new Trainer(model, {});
    assert.equal(t.cudaGraphStats, null);
    assert.equal(t.cudaGraphFallback, null);
    t.dispose();
  });
});
