// Collectives on device tensors (native/dist/nccl_comm.cc): NCCL loaded at run time and reported,
// a world of one copying device tensors, cuda-sim refused across ranks (the simulator has no
// NCCL), and on a machine with a GPU, NCCL and mpirun, the sums and broadcasts themselves (one
// rank per GPU, one rank on a one-GPU machine). Skips say why.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as ap from '../../lib/index.js';
import { availableDevices } from '../../lib/testing/backends.js';

const mpirun = process.env.ADVPROP_MPIRUN || 'mpirun';
const version = spawnSync(mpirun, ['--version'], { encoding: 'utf8' });
const noMpirun = version.error || !/Open MPI/.test(version.stdout) ? `${mpirun} (OpenMPI) not found` : '';
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', ADVPROP_NUM_THREADS: '1' };
const root = process.getuid?.() === 0;

interface RankOut { rank: number; size: number; [k: string]: unknown }

function ranks(n: number, device: string): RankOut[] {
  const r = spawnSync(mpirun, ['-np', String(n), '--oversubscribe', '--bind-to', 'none', ...(root ? ['--allow-run-as-root'] : []),
    process.execPath, '--import', 'tsx', 'test/distributed/nccl_worker.ts', device], { encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(r.status, 0, `mpirun exited with ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RankOut).sort((a, b) => a.rank - b.rank);
}

/** Σ over ranks of (r + 1 + i). */
const sums = (size: number) => Array.from({ length: 5 }, (_, i) => (size * (size + 1)) / 2 + size * i);

describe('dist: NCCL, loaded at run time', () => {
  it('probeNccl says what it found or why not', () => {
    const p = ap.dist.probeNccl();
    if (p.found) assert.match(p.version, /^2\.\d+\.\d+$/);
    else assert.match(p.reason, /ADVPROP_NCCL_LIB/);
  });

  it('a library that is not NCCL is refused, naming the missing function', () => {
    const code = "import('./lib/index.ts').then((ap) => console.log(JSON.stringify(ap.dist.probeNccl())))";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { encoding: 'utf8', env: { ...process.env, ADVPROP_NCCL_LIB: 'libm.so.6' } });
    const p = JSON.parse(r.stdout.trim().split('\n').pop()!) as ap.dist.NcclProbe;
    assert.equal(p.found, false);
    assert.match(p.reason, /libm\.so\.6 lacks ncclGetVersion \(not NCCL\?\)/);
  });

  it('in a world of one, device tensors are copied', function () {
    const device = availableDevices().find((d) => d !== 'cpu');
    if (!device) {
      console.log('      skipped: no device besides the cpu in this build');
      this.skip();
    }
    ap.tidy(() => {
      const t = ap.tensor([1, 2, 3], [3], { device });
      const [r] = ap.dist.allreduce([t], { average: true });
      assert.notEqual(r, t);
      assert.equal(r!.device, t.device);
      assert.deepEqual(Array.from(r!.toArray()), [1, 2, 3]);
      ap.dist.broadcast([t], 0);
      assert.deepEqual(Array.from(t.toArray()), [1, 2, 3]);
    });
  });
});

describe('dist: device tensors under mpirun', function () {
  this.timeout(180_000);
  before(function () {
    if (noMpirun) {
      console.log(`      skipped: ${noMpirun}`);
      this.skip();
    }
  });

  it('cuda-sim tensors are refused across ranks (no NCCL on the simulator); one call, one device', function () {
    if (!availableDevices().some((d) => d.startsWith('cuda-sim'))) {
      console.log('      skipped: this build has no cuda-sim');
      this.skip();
    }
    for (const r of ranks(2, 'cuda-sim')) {
      assert.equal(r.size, 2);
      for (const k of ['sum', 'average', 'broadcast']) assert.equal((r[k] as { code?: string }).code, 'ERR_DEVICE', k);
      assert.match((r.sum as { message: string }).message, /distAllreduce: cuda-sim:0 tensors cannot be reduced across ranks \(the simulator has no NCCL\)/);
      assert.match((r.mixed as { message: string }).message, /tensor 1 is on cpu but tensor 0 is on cuda-sim:0: one device per call/);
    }
  });

  it('advprop train across ranks refuses cuda-sim with ERR_DIST', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'train', '--nproc', '2', '--device', 'cuda-sim', '--max-steps', '1', '--no-progress', '--out', '/tmp/advprop-nccl-refused'],
      { encoding: 'utf8', env, timeout: 120_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ERR_DIST.*the simulator has no NCCL/);
  });

  it('cuda: NCCL sums, averages and broadcasts, one rank per GPU', function () {
    const gpus = ap.devices().filter((d) => d.type === 'cuda' && d.available).length;
    const nccl = ap.dist.probeNccl();
    if (gpus === 0 || !nccl.found) {
      console.log(`      skipped: ${gpus === 0 ? 'no CUDA device' : `NCCL not found (${nccl.reason})`}`);
      this.skip();
    }
    const n = Math.min(gpus, 2);
    const out = ranks(n, 'cuda');
    for (const r of out) {
      assert.deepEqual(r.sum, [...sums(n), ...sums(n)]);
      assert.deepEqual(r.average, sums(n).map((v) => Math.fround(v / n)));
      assert.deepEqual(r.bf16, sums(n));
      assert.deepEqual(r.broadcast, [1, 2, 3, 4, 5]);
    }
  });
});
