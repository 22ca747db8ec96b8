// The addon itself: what the build contains, and cuda-sim's own self-tests (barriers, shared
// memory, warp shuffles and votes, atomics, launch rejections, deadlock detection).
import assert from 'node:assert/strict';
import { rawAddon as native, type BinaryOpName, UNARY_OP_NAMES } from '../lib/native.js';
import type { BatchNormAct, BatchNormMode } from '../lib/ops/multi_batch_norm.js';
import type { AttackNorm } from '../lib/kernels/attack.js';
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

// Each record must name every member of its TypeScript union and nothing else (tsc checks that:
// `npm run typecheck`, or the union is made from the listed array); the test checks that the addon's lists hold exactly the same names, so a
// name added on one side only fails here.
const TS_NAMES = {
  binary: { add: 1, sub: 1, mul: 1, div: 1 } satisfies Record<BinaryOpName, 1>,
  unary: Object.fromEntries(UNARY_OP_NAMES.map((n) => [n, 1])),  // UnaryOpName is made from this list
  batchNormMode: { train: 1, 'train-frozen': 1, eval: 1 } satisfies Record<BatchNormMode, 1>,
  batchNormAct: { none: 1, silu: 1, relu: 1 } satisfies Record<BatchNormAct, 1>,
  attackNorm: { linf: 1, l2: 1 } satisfies Record<AttackNorm, 1>,
};

describe('op names', () => {
  it('the TypeScript name unions equal the addon\'s lists', () => {
    const fromAddon: Record<string, string[]> = { ...native.opNames() };
    assert.deepEqual(Object.keys(fromAddon).sort(), Object.keys(TS_NAMES).sort());
    for (const [kind, record] of Object.entries(TS_NAMES))
      assert.deepEqual([...fromAddon[kind]].sort(), Object.keys(record).sort(), kind);
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
