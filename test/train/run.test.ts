import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../../lib/io/safetensors.js';
import { TRAIN_DEFAULTS, type TrainConfig } from '../../lib/train/config.js';
import { readCheckpointMeta } from '../../lib/train/checkpoint.js';
import { trainRun } from '../../lib/train/run.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'advprop-run-'));
const CLI = ['--import', 'tsx', 'lib/cli/main.ts'];
const small: Partial<TrainConfig> = {
  limit: 96, batchSize: 16, epochs: 2, evalLimit: 16, evalEpsilons: [1], progress: false, workers: 0, device: 'cpu', lr: 0.02,
};
const quiet = { log: () => undefined };

function tensorsOf(file: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, t] of readSafetensors(file).tensors) out.set(k, [...t.data]);
  return out;
}

describe('train: runs, checkpoints and the CLI', function () {
  this.timeout(600000);

  it('an interrupted and resumed run ends with the same weights, bit for bit', async () => {
    const straight = tmp(), split = tmp();
    await trainRun({ ...TRAIN_DEFAULTS, ...small, out: straight, maxSteps: 8 }, quiet);
    await trainRun({ ...TRAIN_DEFAULTS, ...small, out: split, maxSteps: 4 }, quiet); // stops mid-epoch (6 steps per epoch)
    const mid = readCheckpointMeta(join(split, 'last.safetensors'));
    assert.deepEqual([mid.step, mid.epoch, mid.batch], [4, 0, 4]);
    await trainRun({ ...TRAIN_DEFAULTS, ...small, out: split, maxSteps: 8, resume: split }, quiet);
    const a = tensorsOf(join(straight, 'last.safetensors')), b = tensorsOf(join(split, 'last.safetensors'));
    assert.deepEqual([...a.keys()], [...b.keys()]);
    assert.ok([...a.keys()].some((k) => k.startsWith('optim.')) && [...a.keys()].some((k) => k.startsWith('ema.')));
    for (const [k, v] of a) assert.deepEqual(b.get(k), v, `${k} differs after resume`);
    for (const f of ['config.json', 'metrics.jsonl', 'report.md', 'loss.png', 'accuracy.png']) assert.ok(existsSync(join(straight, f)), `${f} missing`);
    const lines = readFileSync(join(straight, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.some((l) => l.type === 'step') && lines.some((l) => l.type === 'final'));
  });

  for (const [sig, exitCode] of [['SIGINT', 130], ['SIGTERM', 143]] as const) it(`${sig} writes a checkpoint and exits with ${exitCode}, and --resume continues`, async () => {
    const out = tmp();
    const child = spawn(process.execPath, [...CLI, 'train', '--limit', '4096', '--batch-size', '16', '--epochs', '1',
      '--no-progress', '--workers', '0', '--device', 'cpu', '--log-every', '1', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += String(d); });
    // Interrupt once training is under way (the first metrics line is written after step 1).
    const metrics = join(out, 'metrics.jsonl');
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"step"')) { clearInterval(poll); resolve(); }
      }, 20);
    });
    child.kill(sig);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, exitCode, err);
    assert.match(err, /interrupted: checkpoint written/);
    const meta = readCheckpointMeta(join(out, 'last.safetensors'));
    assert.ok(meta.step >= 1 && meta.step < 256, `step ${meta.step}`);
    const resumed = spawnSync(process.execPath, [...CLI, 'train', '--limit', '4096', '--batch-size', '16', '--epochs', '1', '--no-progress',
      '--workers', '0', '--device', 'cpu', '--out', out, '--resume', out, '--max-steps', String(meta.step + 2), '--eval-limit', '16', '--eval-epsilons', '1'],
    { encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`resumed from .* at step ${meta.step}`));
    assert.equal(readCheckpointMeta(join(out, 'last.safetensors')).step, meta.step + 2);
  });

  it('a short AdvProp run on 1,024 Fashion-MNIST images beats chance (10%) clearly', async () => {
    const r = await trainRun({ ...TRAIN_DEFAULTS, ...small, lr: undefined, limit: 1024, batchSize: 32, epochs: 3, evalLimit: 500, data: undefined, out: tmp() }, quiet);
    assert.ok(r.final!.raw.clean >= 0.3, `clean top-1 ${r.final!.raw.clean} after ${r.steps} steps`);
    assert.ok(r.final!.raw.pgd['1']! <= r.final!.raw.clean, 'PGD made the model more accurate');
  });

  it('exports the model with or without the auxiliary BN, and eval/attack read a run', async () => {
    const out = tmp();
    await trainRun({ ...TRAIN_DEFAULTS, ...small, out, maxSteps: 2, stripAux: true }, quiet);
    const keys = (f: string): string[] => [...readSafetensors(f).tensors.keys()];
    for (const f of ['model.safetensors', 'model-ema.safetensors']) {
      const k = keys(join(out, f));
      assert.ok(k.includes('conv_stem.weight') && k.includes('bn1.running_var'), f);
      assert.ok(!k.some((n) => n.includes('aux')), `${f} kept auxiliary BN keys`);
    }
    const full = join(out, 'full.safetensors');
    const r = spawnSync(process.execPath, [...CLI, 'export', '--run', out, '--out', full, '--layout', 'oihw'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(keys(full).some((n) => n.startsWith('bn1.aux1.')), 'export without --strip-aux lost the auxiliary BN');
    const ev = spawnSync(process.execPath, [...CLI, 'eval', '--run', out, '--limit', '20', '--epsilons', '1', '--no-corruptions', '--device', 'cpu'], { encoding: 'utf8' });
    assert.equal(ev.status, 0, ev.stderr);
    assert.match(ev.stdout, /\| clean \| [0-9.]+% \| [0-9.]+% \|/);
    const at = spawnSync(process.execPath, [...CLI, 'attack', '--run', out, '--limit', '20', '--epsilon', '2', '--device', 'cpu'], { encoding: 'utf8' });
    assert.equal(at.status, 0, at.stderr);
    assert.match(at.stdout, /PGD ε=2\/255 top-1/);
  });

  it('bad options give one line and exit code 2', () => {
    const cases: [string[], RegExp][] = [
      [['train', '--model', 'b99'], /--model: expected one of b0/],
      [['train', '--epsilon=-1'], /--epsilon must be a number in \[0, 255\]/],
      [['train', '--data', '/nonexistent/folder'], /does not exist/],
      [['train', '--limit', '10', '--batch-size', '64'], /smaller than one batch/],
      [['train', '--epochs', 'many'], /--epochs: expected an integer/],
      [['train', '--bogus'], /Unknown option '--bogus'/],
      [['eval', '--run', '/nonexistent'], /does not exist/],
    ];
    for (const [args, re] of cases) {
      const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(lines[0]!, re);
    }
    const help = spawnSync(process.execPath, [...CLI, 'train', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--epsilon E/);
  });
});
