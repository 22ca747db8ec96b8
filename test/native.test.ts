// The addon itself: what the build contains, and cuda-sim's own self-tests (barriers, shared
// memory, warp shuffles and votes, atomics, launch rejections, deadlock detection).
import assert from 'node:assert/strict';
import { rawAddon as native } from '../lib/native.js';
import { backendStatus } from '../lib/testing/backends.js';

describe('native addon', () => {
  it('reports its build and the package version', async () => {
    const info = native.buildInfo();
    const { default: pkg } = await import('../package.json', { with: { type: 'json' } });
    assert.equal(info.version, pkg.version);
    assert.equal(info.napiVersion, 8);
    assert.ok(info.threads >= 1);
    if (info.cuda) assert.match(info.cudaArchs, /^\d+(;\d+)*$/);
  });

  it('lists every device type, each available or with a reason', () => {
    const types = native.devices().map((d) => d.type);
    for (const t of ['cpu', 'cuda', 'cuda-sim'] as const) assert.ok(types.includes(t), `missing ${t}`);
    for (const d of native.devices()) assert.ok(d.available || d.reason.length > 0, `${d.device} unavailable without a reason`);
  });
});

describe('cuda-sim self-tests', () => {
  const sim = backendStatus().find((b) => b.backend === 'cuda-sim')!;
  if (!sim.available) {
    it.skip(`cuda-sim: skipped (${sim.reason})`);
    return;
  }
  const results = native.simSelfTest();
  it('runs the whole self-test list', () => {
    const names = results.map((r) => r.name).join(' ');
    assert.ok(results.length >= 10, `only ${results.length} self-tests`);
    for (const topic of ['__syncthreads', 'without barriers', 'transpose', 'shuffle', 'vote', 'launch limits'])
      assert.ok(names.toLowerCase().includes(topic), `no self-test mentions '${topic}': ${names}`);
  });
  for (const r of results) {
    it(r.name, () => assert.ok(r.passed, r.detail));
  }
});
