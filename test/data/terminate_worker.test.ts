// A loader closed while its workers are inside a native call (a JPEG decode, an augmentation):
// the workers end and the process lives. Before the addon swallowed N-API's failures during a
// worker's termination, node-addon-api threw out of its C callback and aborted the process.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./terminate_worker_child.cjs', import.meta.url));

describe('data: workers terminated inside native calls', function () {
  // No tensor, no device: CI's second pass (ADVPROP_DEVICE=cuda-sim) would repeat the same 14 s.
  before(function () {
    const device = process.env.ADVPROP_DEVICE;
    if (device && device !== 'cpu') {
      console.log(`    - skipped under ADVPROP_DEVICE=${device}: these tests use no device and run in the cpu pass`);
      this.skip();
    }
  });
  for (const entry of ['jpegDecode', 'imageAugment']) {
    it(`40 workers looping on ${entry}, each terminated mid-loop: the process exits normally`, function () {
      this.timeout(120000);
      const r = spawnSync(process.execPath, [script, entry, '40'], { encoding: 'utf8', timeout: 100000 });
      assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /terminated 40/);
    });
  }
});
