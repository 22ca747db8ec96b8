// The run as a scheduler sees it: exit codes, kill -9 at random moments, and results that do not
// depend on the number of threads. Each check runs real `advprop` processes on a tiny config.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../../lib/io/safetensors.js';
import { TRAIN_DEFAULTS, type TrainConfig } from '../../lib/train/config.js';
import { readCheckpointMeta } from '../../lib/train/checkpoint.js';
import { trainRun } from '../../lib/train/run.js';
import { rewrite } from '../io/raw_safetensors.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'advprop-proc-'));
const CLI = ['--import', 'tsx', 'lib/cli/main.ts'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Proc { child: ChildProcess; exited: Promise<number | null>; stderr: () => string }
function start(args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  child.stderr!.on('data', (d) => { err += String(d); });
  child.stdout!.on('data', (d) => { err += String(d); });
  return { child, exited: new Promise((r) => child.on('exit', (code) => r(code))), stderr: () => err };
}

/** Every tensor of two safetensors files, compared byte for byte. */
function assertSameTensors(a: string, b: string): void {
  const x = readSafetensors(a).tensors, y = readSafetensors(b).tensors;
  assert.deepEqual([...y.keys()].sort(), [...x.keys()].sort());
  for (const [k, t] of x) {
    const u = y.get(k)!;
    assert.ok(Buffer.from(t.data.buffer).equals(Buffer.from(u.data.buffer)), `${k} differs`);
  }
}

// The same run in-process and through the CLI: 6 steps an epoch.
const config = (o: Partial<TrainConfig>): TrainConfig => ({
  ...TRAIN_DEFAULTS, limit: 48, batchSize: 8, epochs: 2, lr: 0.02, evalLimit: 2, evalEpsilons: [1], progress: false, workers: 0, device: 'cpu', ...o,
});
const cliArgs = ['--limit', '48', '--batch-size', '8', '--epochs', '2', '--lr', '0.02', '--eval-limit', '2', '--eval-epsilons', '1',
  '--no-progress', '--workers', '0', '--device', 'cpu'];
function stopAt(step: number) {
  const ac = new AbortController();
  return { log: () => undefined, signal: ac.signal, onStep: (s: number) => { if (s >= step) ac.abort(); } };
}

describe('train: the run as a scheduler sees it', function () {
  this.timeout(600000);

  it('exit codes: 1 for a corrupt checkpoint or a failed write, 2 for options that differ from the checkpoint', async () => {
    const run = tmp();
    await trainRun(config({ out: run }), stopAt(1));
    const corrupt = tmp();
    rewrite(join(run, 'last.safetensors'), join(corrupt, 'last.safetensors'), (f) => { f.entries = f.entries.filter((e) => e.name !== 'model.bn1.aux1.weight'); });
    const blocked = tmp();
    mkdirSync(join(blocked, 'last.safetensors')); // a checkpoint that cannot be written
    const cases: [string[], number, RegExp][] = [
      [['--resume', corrupt], 1, /^advprop: ERR_FORMAT: checkpoint .*last\.safetensors: .*'model\.bn1\.aux1\.weight'/],
      [['--out', blocked, '--max-steps', '1'], 1, /^advprop: ERR_IO: .*cannot write .*last\.safetensors/],
      [['--resume', run, '--seed', '3'], 2, /^advprop: ERR_ARG: --resume .*--seed: 0 in the checkpoint, 3 now/],
    ];
    const procs = cases.map(([args]) => start([...CLI, 'train', ...cliArgs, ...args]));
    for (let i = 0; i < cases.length; i++) {
      const [args, code, re] = cases[i]!;
      const status = await procs[i]!.exited;
      const lines = procs[i]!.stderr().trim().split('\n');
      assert.equal(status, code, `${args.join(' ')}: exit ${status}\n${procs[i]!.stderr()}`);
      assert.equal(lines.length, 1, procs[i]!.stderr());
      assert.match(lines[0]!, re);
    }
  });

  it('kill -9 at random moments of --checkpoint-every 1: every checkpoint left loads and resumes, and the run ends as an uninterrupted one', async () => {
    const ref = tmp(), out = tmp();
    await trainRun(config({ out: ref }), stopAt(12));
    const ckpt = join(out, 'last.safetensors');
    const inode = (): number => (existsSync(ckpt) ? statSync(ckpt).ino : 0);
    const log: string[] = [];
    let lastStep = 0;
    for (let round = 0; ; round++) {
      const p = start([...CLI, 'train', ...cliArgs, '--checkpoint-every', '1', '--out', out, ...(round ? ['--resume', out] : [])]);
      let done = false;
      void p.exited.then(() => { done = true; });
      if (round < 4) {
        // Kill at a random moment once this process has replaced the checkpoint at least once
        // (each write renames a new file over it): during a step, a write or an evaluation.
        const before = inode();
        while (!done && inode() === before) await sleep(5);
        if (!done) {
          const delay = Math.floor(Math.random() * 150);
          await sleep(delay);
          p.child.kill('SIGKILL');
          const status = await p.exited;
          assert.ok(status === null || status === 0, `round ${round}: exit ${status}\n${p.stderr()}`);
          const meta = readCheckpointMeta(ckpt); // verified: checksums and schema
          log.push(`round ${round}: SIGKILL ${delay} ms after a new checkpoint, exit ${status}, left step ${meta.step}`);
          assert.ok(meta.step >= Math.max(lastStep, 1), log.join('\n'));
          lastStep = meta.step;
          if (status !== 0) continue;
        }
      }
      const status = await p.exited;
      assert.equal(status, 0, `${log.join('\n')}\n${p.stderr()}`);
      break;
    }
    assert.ok(log.length >= 2, `only ${log.length} kill(s) landed before the run ended:\n${log.join('\n')}`);
    assert.equal(readCheckpointMeta(ckpt).step, 12, log.join('\n'));
    assertSameTensors(join(ref, 'last.safetensors'), ckpt);
    assert.deepEqual(readdirSync(out).filter((n) => n.endsWith('.tmp')), [], log.join('\n'));
  });

  it('1, 2 and 3 threads give byte-identical AdvProp steps', async () => {
    const dir = tmp();
    const procs = [1, 2, 3].map((n) => start(['--import', 'tsx', 'test/train/determinism-child.ts', join(dir, `t${n}.safetensors`)],
      { ...process.env, ADVPROP_NUM_THREADS: String(n) }));
    for (let i = 0; i < 3; i++) {
      assert.equal(await procs[i]!.exited, 0, procs[i]!.stderr());
      assert.match(procs[i]!.stderr(), new RegExp(`threads ${i + 1}\\b`));
    }
    assertSameTensors(join(dir, 't1.safetensors'), join(dir, 't2.safetensors'));
    assertSameTensors(join(dir, 't1.safetensors'), join(dir, 't3.safetensors'));
  });
});
