// The fuzz harness in CI: a fixed-seed set of calls with generated bad arguments to every public
// export, each in a worker process with a time limit. Every call must succeed or throw a coded
// AdvpropError (the CLI: a usage error); a crash, a hang, an untyped error or ERR_INTERNAL fails.
// `npm run fuzz -- --calls 50000 --seed N` runs longer; `--entry NAME --case SEED` replays a case.
import assert from 'node:assert/strict';
import { ENTRIES, EXEMPT, SELF_TEST_ENTRIES, publicFunctions, uncoveredExports } from './fuzz/registry.js';
import { formatSummary, fuzz, schedule } from './fuzz/runner.js';

const SEED = 13;
const CALLS = 4000;

describe('fuzz: generated bad arguments to every public export', function () {
  this.timeout(180_000);

  it('every public function and class of lib/index.ts has a generator entry or a reviewed exemption', () => {
    assert.deepEqual(uncoveredExports(), [], 'add an entry in test/fuzz/entries/ (or, with a reason, to EXEMPT in test/fuzz/registry.ts)');
    const all = publicFunctions();
    for (const name of Object.keys(EXEMPT)) assert.ok(all.includes(name), `EXEMPT names '${name}', which is not a public export`);
    // The enumeration itself must see the namespaces, or the check above would pass vacuously.
    for (const name of ['add', 'kernels.conv2d', 'io.loadSafetensors', 'train.Trainer', 'data.DataLoader']) assert.ok(all.includes(name), name);
  });

  it('the schedule reaches every entry in a CI-sized run', () => {
    const plan = new Set(schedule(ENTRIES, CALLS, SEED).map((e) => e.name));
    assert.deepEqual(ENTRIES.filter((e) => !plan.has(e.name)).map((e) => e.name), []);
  });

  it('the harness records crashes, hangs, untyped errors and late rejections as failures', async () => {
    const s = await fuzz({ calls: SELF_TEST_ENTRIES.length, seed: 1, workers: 2, entries: SELF_TEST_ENTRIES });
    const kinds = Object.fromEntries(s.failures.map((f) => [f.entry, f.kind]));
    assert.deepEqual(kinds, { 'selftest.untyped': 'untyped', 'selftest.abort': 'crash', 'selftest.hang': 'hang', 'selftest.late': 'untyped' }, formatSummary(s, { seed: 1 }));
    assert.equal(s.ok, 1);
    assert.deepEqual(s.coded, { ERR_ARG: 1 });
  });

  it('the same seed gives the same outcome for every call, however the calls fall on the workers', async () => {
    const a = await fuzz({ calls: 600, seed: SEED + 1, workers: 2, entries: ENTRIES });
    const b = await fuzz({ calls: 600, seed: SEED + 1, workers: 1, entries: ENTRIES });
    const differ = a.outcomes.flatMap((o, i) => (o === b.outcomes[i] ? [] : [`call ${i}: ${o} / ${b.outcomes[i]}`]));
    assert.deepEqual(differ, []);
  });

  it(`${CALLS} calls (seed ${SEED}): no crash, hang, untyped error or ERR_INTERNAL`, async () => {
    const s = await fuzz({ calls: CALLS, seed: SEED, workers: 2, entries: ENTRIES });
    const report = formatSummary(s, { seed: SEED });
    console.log(report.split('\n').map((l) => `      ${l}`).join('\n'));
    assert.equal(s.calls, CALLS, report);
    assert.equal(s.crashes + s.hangs + s.untyped + s.internal + s.harness, 0, report);
    // Both outcomes must be common, or the generators have stopped making valid or invalid calls.
    const coded = Object.values(s.coded).reduce((a, b) => a + b, 0);
    assert.ok(s.ok > CALLS / 5 && coded > CALLS / 5, report);
  });
});
