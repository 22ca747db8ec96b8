// Issue 17, item 5: a rank that dies, hangs or fails ends every rank of a 2-rank `advprop train`
// within 60 s, non-zero, with a message naming the rank; none is left behind; the last
// checkpoint stays intact. Faults come from outside, as they do in a real job: SIGKILL (a rank
// that dies), SIGSTOP (a rank that hangs: it holds its place in the job and never answers), and
// a bad argument given to rank 1 alone (a rank whose JavaScript throws).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ap from '../../lib/index.js';
import { CLI, alive, killJob, mpirunFlags, node, rankPids, startJob, stepsLogged, waitFor, whyNot, type Ended, type Job } from './jobs.js';

// A run that would take far longer than the test: it is always ended by the fault.
const TRAIN = ['train', '--device', 'cpu', '--batch-size', '4', '--limit', '256', '--epochs', '50', '--max-steps', '100000',
  '--log-every', '1', '--eval-limit', '16', '--no-progress'];

const LIMIT_MS = 60_000;

/** The job's end, or a failure (with every rank killed) when it outlives the 60 s. */
async function endWithin(job: Job, from: number): Promise<Ended & { seconds: number }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), LIMIT_MS + 30_000 - (Date.now() - from)); });
  const r = await Promise.race([job.done, late]);
  clearTimeout(timer);
  if (!r) {
    killJob(job);
    assert.fail(`the job was still running ${(LIMIT_MS + 30_000) / 1000} s after the fault\n${job.output()}`);
  }
  const seconds = (r.at - from) / 1000;
  console.log(`      ended ${seconds.toFixed(1)} s after the fault, exit ${r.code}`);
  assert.ok(seconds < LIMIT_MS / 1000, `the job took ${seconds} s to end after the fault\n${r.output}`);
  assert.notEqual(r.code, 0, `mpirun exited with 0 after a fault\n${r.output}`);
  return { ...r, seconds };
}

describe('dist: faults in a 2-rank job end it within 60 s', function () {
  this.timeout(240_000);
  let dir = '';
  let job: Job | null = null;
  before(function () {
    if (whyNot || process.platform !== 'linux') {
      console.log(`      skipped: ${whyNot || 'the ranks are found through /proc (Linux only)'}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'advprop-faults-'));
  });
  afterEach(() => { if (job) killJob(job); job = null; });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('a rank killed (SIGKILL) ends the job, mpirun names it, and the last checkpoint still loads', async () => {
    const out = join(dir, 'killed');
    // ADVPROP_DIST_TIMEOUT=0: no deadline, so this is mpirun's death detection alone.
    job = startJob(['-np', '2', ...mpirunFlags, ...node(CLI), ...TRAIN, '--checkpoint-every', '1', '--out', out], { ADVPROP_DIST_TIMEOUT: '0' });
    await waitFor('3 steps and a checkpoint', () => stepsLogged(out) >= 3 && existsSync(join(out, 'last.safetensors')), 120_000, job);
    const pids = rankPids(job.tag);
    assert.equal(pids.size, 2, `ranks found: ${[...pids]}`);
    process.kill(pids.get(1)!, 'SIGKILL');
    const killed = Date.now();
    const r = await endWithin(job, killed);
    assert.match(r.output, /rank 1 with PID \d+ .*exited on signal 9/, r.output);
    await waitFor('rank 0 gone', () => !alive(pids.get(0)!), LIMIT_MS - (r.at - killed));
    // Checkpoints are written to a temporary file and renamed: the last one is whole, and
    // verifies (checksums, schema) with both ranks' random-number states.
    const meta = ap.train.readCheckpointMeta(join(out, 'last.safetensors'));
    assert.ok(meta.step >= 3, `checkpoint at step ${meta.step}`);
    assert.equal(meta.rankRng?.length, 2);
  });

  it('a rank that hangs (SIGSTOP) is timed out by the others: the job ends, naming the rank and the collective', async () => {
    const out = join(dir, 'hung');
    job = startJob(['-np', '2', ...mpirunFlags, ...node(CLI), ...TRAIN, '--out', out], { ADVPROP_DIST_TIMEOUT: '5' });
    await waitFor('2 steps', () => stepsLogged(out) >= 2, 120_000, job);
    const pids = rankPids(job.tag);
    assert.equal(pids.size, 2, `ranks found: ${[...pids]}`);
    process.kill(pids.get(1)!, 'SIGSTOP');
    const stopped = Date.now();
    const r = await endWithin(job, stopped);
    assert.match(r.output, /advprop: rank 0 of 2: dist\w+ \(MPI_\w+\) has not completed after 5\.0 s \(ADVPROP_DIST_TIMEOUT\): another rank is hung or dead; aborting the job/, r.output);
    // mpirun may exit while the stopped rank is still being killed (SIGCONT, SIGTERM, SIGKILL).
    await waitFor('every rank gone', () => [...pids.values()].every((p) => !alive(p)), LIMIT_MS - (r.at - stopped));
    console.log(`      every rank gone ${((Date.now() - stopped) / 1000).toFixed(1)} s after the fault`);
  });

  it('a rank that throws aborts the job (MPI_Abort) instead of leaving the other in a collective', async () => {
    // MPMD: the same command on both ranks, but rank 1 reads a data folder that does not exist,
    // which trainRun finds after joining the job.
    const bad = join(dir, 'no-such-data');
    const start = Date.now();
    job = startJob(['-np', '1', ...mpirunFlags, ...node(CLI), ...TRAIN, '--out', join(dir, 'threw'), ':',
      '-np', '1', ...node(CLI), ...TRAIN, '--out', join(dir, 'threw'), '--data', bad], { ADVPROP_DIST_TIMEOUT: '0' });
    await waitFor('rank 1 failing', () => /aborting the job/.test(job!.output()), 120_000, job);
    const failedAt = Date.now();
    const r = await endWithin(job, failedAt);
    assert.match(r.output, new RegExp(`advprop: ERR_ARG: --data: folder ${bad} does not exist`), r.output);
    assert.match(r.output, /advprop: rank 1 of 2 failed; aborting the job/, r.output);
    console.log(`      (${((failedAt - start) / 1000).toFixed(1)} s from the start to rank 1's failure)`);
  });
});

describe('dist: the collectives\' deadline, without mpirun', () => {
  it('barrier takes a deadline of its own: a number of seconds >= 0', () => {
    ap.dist.init();
    ap.dist.barrier({ timeoutSeconds: 0 }); // a world of one: nothing to wait for
    ap.dist.barrier();
    assert.throws(() => ap.dist.barrier({ timeoutSeconds: -1 }), { code: 'ERR_ARG', message: /timeoutSeconds/ });
    assert.throws(() => ap.dist.barrier({ timeoutSeconds: Number.NaN }), { code: 'ERR_ARG' });
  });

  it('a launched process with a malformed ADVPROP_DIST_TIMEOUT fails with ERR_ARG naming it, before MPI starts', () => {
    const code = "import('./lib/index.ts').then((ap) => { try { ap.dist.init(); console.log('no error'); } catch (e) { console.log(e.code + ' ' + e.message); } })";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      encoding: 'utf8', env: { ...process.env, OMPI_COMM_WORLD_SIZE: '2', ADVPROP_DIST_TIMEOUT: '30s' },
    });
    assert.match(r.stdout, /^ERR_ARG ADVPROP_DIST_TIMEOUT must be a number of seconds >= 0 \(0: no deadline\), got '30s'/, r.stdout + r.stderr);
  });
});
