// Issue 17, item 6: a 2-rank `advprop train` writes one run folder, from rank 0 alone, and a
// 2-rank run resumes exactly. Each rank runs in its own empty working directory and rank 1 is given
// its own --out: anything rank 1 wrote (a run folder, a default runs/ folder, a stray file) would
// show there.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ap from '../../lib/index.js';
import { mpirunFlags, runOk, whyNot } from './jobs.js';

const CLI = resolve('lib/cli/main.ts');
// Ranks run outside the repository: tsx and the data by absolute path.
const RANK = [process.execPath, '--import', import.meta.resolve('tsx'), CLI];
// 40 images, 4 per rank: 5 steps per epoch, so a 6-step run crosses an epoch's end (evaluation,
// checkpoint). The CLI's model keeps its dropout and drop-connect, which draw random numbers.
const TRAIN = ['train', '--device', 'cpu', '--data', resolve(ap.data.defaultDataDir()), '--batch-size', '4', '--limit', '40',
  '--epochs', '2', '--log-every', '1', '--eval-limit', '16', '--eval-epsilons', '1', '--no-progress'];

/** 2 ranks, each in its own working directory, each with its own --out. */
function twoRanks(cwd: [string, string], out: [string, string], extra: string[]): void {
  runOk('mpirun', ['-np', '1', ...mpirunFlags, '-wdir', cwd[0], ...RANK, ...TRAIN, ...extra, '--out', out[0], ':',
    '-np', '1', '-wdir', cwd[1], ...RANK, ...TRAIN, ...extra, '--out', out[1]], { ADVPROP_DIST_TIMEOUT: '60' });
}

function tensors(file: string): Map<string, Uint8Array> {
  const f = ap.io.readSafetensors(file);
  return new Map([...f.tensors].map(([k, t]) => [k, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

describe('dist: the run folder of a 2-rank advprop train', function () {
  this.timeout(300_000);
  let dir = '';
  const sub = (...p: string[]): string => join(dir, ...p);
  before(function () {
    if (whyNot) {
      console.log(`      skipped: ${whyNot}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'advprop-run-'));
    for (const d of ['cwd0', 'cwd1']) mkdirSync(sub(d));
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('only rank 0 writes: its folder is complete, rank 1 leaves no file anywhere', () => {
    twoRanks([sub('cwd0'), sub('cwd1')], [sub('full'), sub('full-rank1')], ['--max-steps', '6']);
    const files = readdirSync(sub('full')).sort();
    for (const f of ['config.json', 'metrics.jsonl', 'last.safetensors', 'model.safetensors', 'model-ema.safetensors', 'report.md'])
      assert.ok(files.includes(f), `${f} missing from ${files.join(', ')}`);
    assert.ok(!existsSync(sub('full-rank1')), `rank 1 created its --out folder: ${existsSync(sub('full-rank1')) ? readdirSync(sub('full-rank1')).join(', ') : ''}`);
    assert.deepEqual(readdirSync(sub('cwd1')), [], 'rank 1 wrote into its working directory');
    assert.deepEqual(readdirSync(sub('cwd0')), [], 'rank 0 wrote into its working directory');
    // No temporary file left beside the checkpoint (they are renamed into place).
    assert.deepEqual(files.filter((f) => /tmp/.test(f)), []);
  });

  it('resumes exactly: 3 steps, then 3 more from the checkpoint, give the 6-step run bit for bit', () => {
    const cwd: [string, string] = [sub('cwd0'), sub('cwd1')];
    twoRanks(cwd, [sub('half'), sub('half-rank1')], ['--max-steps', '3']);
    const meta = ap.train.readCheckpointMeta(sub('half', 'last.safetensors'));
    assert.equal(meta.step, 3);
    assert.equal(meta.rankRng?.length, 2, 'the checkpoint holds both ranks\' random-number states');
    twoRanks(cwd, [sub('half'), sub('half-rank1')], ['--max-steps', '6', '--resume', sub('half')]);
    if (!existsSync(sub('full', 'last.safetensors'))) twoRanks(cwd, [sub('full'), sub('full-rank1')], ['--max-steps', '6']);
    const a = tensors(sub('full', 'last.safetensors')), b = tensors(sub('half', 'last.safetensors'));
    assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
    const differ = [...a].filter(([k, v]) => Buffer.compare(Buffer.from(v), Buffer.from(b.get(k)!)) !== 0).map(([k]) => k);
    assert.deepEqual(differ, [], `tensors that differ after the resume: ${differ.slice(0, 5).join(', ')}`);
    assert.equal(ap.train.readCheckpointMeta(sub('half', 'last.safetensors')).step, 6);
    assert.ok(!existsSync(sub('half-rank1')));
  });
});
