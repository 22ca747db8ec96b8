// Resuming a run: where it writes, which option changes it refuses, and where it stops.
import { strict as assert } from 'node:assert';
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRAIN_DEFAULTS, type TrainConfig } from '../../lib/train/config.js';
import { readCheckpointMeta } from '../../lib/train/checkpoint.js';
import { configDifferences } from '../../lib/train/resume.js';
import { trainRun } from '../../lib/train/run.js';
import { expectCodeAsync } from '../helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'advprop-resume-'));
// 3 steps per epoch; every step logged so that repeated or lost steps show in metrics.jsonl.
const small: TrainConfig = {
  ...TRAIN_DEFAULTS, limit: 48, batchSize: 16, epochs: 2, evalLimit: 4, evalEpsilons: [1], progress: false, workers: 0,
  device: 'cpu', lr: 0.02, logEvery: 1,
};
const quiet = { log: () => undefined };
/** Hooks that stop the run as Ctrl-C does after `step`, skipping the (slow) final evaluation. */
function stopAt(step: number) {
  const ac = new AbortController();
  return { ...quiet, signal: ac.signal, onStep: (s: number) => { if (s >= step) ac.abort(); } };
}
const metrics = (dir: string): { type: string; step: number }[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

describe('train: resuming a run', function () {
  this.timeout(300000);
  let run = '';

  before(async () => {
    run = tmp();
    const r = await trainRun({ ...small, out: run }, stopAt(2));
    assert.ok(r.interrupted && r.steps === 2);
  });

  it('--resume DIR without --out continues in DIR, its metrics without repeats', async () => {
    // As a kill after step 3's metrics line but before its checkpoint leaves them, the last line cut short.
    appendFileSync(join(run, 'metrics.jsonl'), '{"type":"step","step":3,"loss":1}\n{"type":"final","step":3}\n{"type":"st');
    const cwd = tmp(), home = process.cwd();
    process.chdir(cwd);
    try {
      await trainRun({ ...small, resume: run }, stopAt(4));
    } finally {
      process.chdir(home);
    }
    assert.equal(readCheckpointMeta(join(run, 'last.safetensors')).step, 4);
    assert.ok(!existsSync(join(cwd, 'runs')), 'the resumed run wrote into ./runs');
    const lines = metrics(run);
    assert.deepEqual(lines.map((l) => `${l.type} ${l.step}`), ['step 1', 'step 2', 'step 3', 'eval 3', 'step 4']);
    assert.ok(!lines.some((l) => 'loss' in l && (l as { loss: number }).loss === 1), 'the stale step 3 line stayed');
  });

  it('options that change the math are refused, each named, and nothing in the run is touched', async () => {
    const ckpt = join(run, 'last.safetensors');
    const before = readFileSync(ckpt), beforeMetrics = readFileSync(join(run, 'metrics.jsonl'));
    const e = await expectCodeAsync(() => trainRun({ ...small, resume: run, lr: 0.05, seed: 1, limit: 64, epsilon: 2, maxSteps: 6 }, quiet), 'ERR_ARG');
    for (const part of ['--lr: 0.02 in the checkpoint, 0.05 now', '--seed', '--limit', '--epsilon', 'training images', '--allow-config-change'])
      assert.ok(e.message.includes(part), `'${part}' missing from: ${e.message}`);
    assert.ok(!e.message.includes('--max-steps'), e.message);
    assert.deepEqual(readFileSync(ckpt), before);
    assert.deepEqual(readFileSync(join(run, 'metrics.jsonl')), beforeMetrics);
  });

  it('every math-changing option is compared; device, workers and evaluation options are not', () => {
    const saved = JSON.parse(JSON.stringify({ ...small, data: '/d', numClasses: 10, inChannels: 1, trainImages: 48, stepsPerEpoch: 3, parameters: 100 }));
    const changes: [keyof TrainConfig | string, unknown, string][] = [
      ['model', 'b1', '--model'], ['width', 0.5, '--width'], ['depth', undefined, '--depth'], ['bnMomentum', 0.99, '--bn-momentum'],
      ['method', 'vanilla', '--method'], ['epsilon', 2, '--epsilon'], ['attackSteps', 3, '--attack-steps'], ['epochs', 3, '--epochs'],
      ['batchSize', 8, '--batch-size'], ['lr', undefined, '--lr'], ['optimizer', 'sgd', '--optimizer'], ['schedule', 'cosine', '--schedule'],
      ['warmupEpochs', 1, '--warmup-epochs'], ['weightDecay', 0, '--weight-decay'], ['labelSmoothing', 0, '--label-smoothing'],
      ['ema', false, '--ema'], ['seed', 7, '--seed'], ['data', '/e', '--data'], ['limit', 40, '--limit'], ['augment', false, '--no-augment'],
      ['numClasses', 3, 'classes'], ['trainImages', 40, 'training images'], ['stepsPerEpoch', 2, 'steps per epoch'], ['parameters', 7, 'model parameters'],
      ['precision', 'bf16', '--precision'],
    ];
    for (const [key, value, label] of changes) {
      const d = configDifferences(saved, { ...saved, [key]: value });
      assert.equal(d.length, 1, `${key}: ${d.join('; ')}`);
      assert.ok(d[0]!.startsWith(label), d[0]);
    }
    const same = { ...saved, device: 'cuda', workers: 4, maxSteps: 9, evalLimit: 9, evalEpsilons: [4], out: '/x', name: 'n', logEvery: 5, checkpointEvery: 2, progress: true, stripAux: true };
    assert.deepEqual(configDifferences(saved, same), []);
  });

  it('--allow-config-change continues with the changed options', async () => {
    const out = tmp();
    await trainRun({ ...small, resume: run, out, lr: 0.05, allowConfigChange: true }, stopAt(5));
    const meta = readCheckpointMeta(join(out, 'last.safetensors'));
    assert.equal(meta.step, 5);
    assert.equal(meta.config.lr, 0.05);
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).lr, 0.05);
  });

  it('a run resumed at its --max-steps takes no further step', async () => {
    const out = tmp();
    // Stopped as it starts (skipping the final evaluation): any step it takes happens before.
    const ac = new AbortController();
    await trainRun({ ...small, resume: run, out, maxSteps: 4 }, { signal: ac.signal, log: (l) => { if (l.startsWith('resumed')) ac.abort(); } });
    assert.equal(readCheckpointMeta(join(out, 'last.safetensors')).step, 4);
    assert.deepEqual(metrics(out).filter((l) => l.type === 'step'), []);
  });

  it('a checkpoint beyond a shortened run is refused even with --allow-config-change', async () => {
    // The checkpoint is at step 4: epoch 1, batch 1 of 3.
    const e = await expectCodeAsync(() => trainRun({ ...small, resume: run, out: tmp(), epochs: 1, allowConfigChange: true }, quiet), 'ERR_ARG');
    assert.match(e.message, /epoch 1/);
  });
});
