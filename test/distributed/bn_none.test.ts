// Issue 17, item 6: `--bn-sync none` against a per-shard reference. Under mpirun, 2 ranks × 16
// run the Trainer with bnSync 'none'; alone, test/distributed/none_worker.ts's reference does the
// same 4 AdvProp steps by hand on the 1-rank batch of 32: each half (one rank's shard) attacked
// and normalised with its own batch statistics, its gradients taken on its own, then the two
// gradients averaged, the two halves' running statistics averaged (each half updating them from
// the same starting values, as each rank does), and one RMSProp step.
//
// Tolerance: none, bit for bit. Each rank computes its half with the same kernels, on the same
// data (the shard of rank r is the r-th half of the 1-rank batch, augmentation keyed by sample
// index) and one thread each, as the reference does; the ranks' mean is MPI's sum of two f32
// values (addition commutes, so the order of the two does not matter) divided by 2, and the
// reference's is the same sum times 0.5, exactly the same. With more ranks the sum's grouping
// would make this a tolerance; with two it is exact.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mpirunFlags, node, runOk, whyNot } from './jobs.js';

const WORKER = 'test/distributed/none_worker.ts';
type State = Record<string, number[]>;
const load = (f: string): State => (JSON.parse(readFileSync(f, 'utf8')) as { state: State }).state;

/** The names of the tensors whose values differ at all. */
function differing(a: State, b: State): string[] {
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  return Object.keys(a).filter((k) => a[k]!.some((v, i) => !Object.is(v, b[k]![i])));
}

describe('dist: --bn-sync none against a per-shard reference', function () {
  this.timeout(300_000);
  let dir = '';
  before(function () {
    if (whyNot) {
      console.log(`      skipped: ${whyNot}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'advprop-none-'));
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('2 ranks × 16 end with the reference\'s weights and running statistics, identical on both ranks', () => {
    runOk(process.execPath, [...node(WORKER).slice(1), 'reference', join(dir, 'ref'), '16', '2', '4']);
    runOk('mpirun', ['-np', '2', ...mpirunFlags, ...node(WORKER), 'ranks', join(dir, 'two'), '16', '2', '4']);
    const ref = load(join(dir, 'ref.json')), r0 = load(join(dir, 'two.rank0.json')), r1 = load(join(dir, 'two.rank1.json'));
    // "Running statistics identical on every rank after every step" (issue 17, item 3).
    assert.deepEqual(differing(r0, r1), [], 'the ranks disagree');
    assert.deepEqual(differing(ref, r0), [], 'the ranks differ from the per-shard reference');
    // The steps did move the weights and the statistics.
    const stats = Object.keys(ref).filter((k) => /running_(mean|var)$/.test(k));
    assert.ok(stats.length > 0 && stats.every((k) => ref[k]!.some((v) => v !== 0 && v !== 1)), 'running statistics never updated');
  });
});
