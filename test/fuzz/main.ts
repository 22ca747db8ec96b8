// `npm run fuzz -- --calls 50000 --seed N [--workers W] [--entry NAME ...] [--case SEED --entry NAME]`:
// a long fuzz run with its figures, or one case replayed in this process to debug it.
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ENTRIES, entryByName, uncoveredExports } from './registry.js';
import { formatSummary, fuzz } from './runner.js';

const { values: v } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' }, seed: { type: 'string', default: '1' }, workers: { type: 'string', default: '2' },
    entry: { type: 'string', multiple: true }, case: { type: 'string' }, 'max-failures': { type: 'string', default: '30' },
  },
});

const missing = uncoveredExports();
if (missing.length) {
  console.error(`fuzz: public exports without a generator entry: ${missing.join(', ')}`);
  process.exit(1);
}

if (v.case !== undefined) {
  // Replays one case in-process, so its stack and output can be seen directly.
  if (v.entry?.length !== 1) throw new Error('--case needs exactly one --entry');
  const { makeContext } = await import('./fixtures.js');
  const { runCase } = await import('./case.js');
  const ctx = makeContext();
  const r = await runCase({ type: 'run', id: 0, entry: v.entry[0]!, seed: Number(v.case) }, ctx);
  console.log(JSON.stringify(r, null, 2));
  rmSync(ctx.root, { recursive: true, force: true });
} else {
  const entries = v.entry ? v.entry.map(entryByName) : ENTRIES;
  const seed = Number(v.seed), calls = Number(v.calls);
  let last = 0;
  const s = await fuzz({
    calls, seed, workers: Number(v.workers), entries,
    onProgress: (d, t) => {
      if (Date.now() - last > 5000) { last = Date.now(); process.stderr.write(`fuzz: ${d}/${t}\n`); }
    },
  });
  console.log(formatSummary(s, { seed, maxFailures: Number(v['max-failures']) }));
  process.exitCode = s.crashes + s.hangs + s.untyped + s.internal + s.harness === 0 ? 0 : 1;
}
