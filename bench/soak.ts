// The long soak: each of the three ways a training loop is written runs 2,000 steps in a fresh
// process, RSS sampled after a full GC every 200 steps. Prints the growth between step 200 and the
// last step (the target: at most 20 MB) and the least-squares slope.
//   npm run bench:soak [-- --steps 2000 --every 200 --loops sync,readme,trainRun]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '2000' }, every: { type: 'string', default: '200' }, loops: { type: 'string', default: 'sync,readme,trainRun' } } });
const loops = fileURLToPath(new URL('../test/soak/loops.ts', import.meta.url));
interface Sample { step: number; rssMB: number; handles: number; slots: number }

for (const kind of values.loops!.split(',')) {
  const out = mkdtempSync(join(tmpdir(), 'advprop-soak-'));
  const t0 = Date.now();
  const text = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', loops, kind, values.steps!, values.every!, out],
    { encoding: 'utf8', env: { ...process.env, ADVPROP_DEVICE: process.env.ADVPROP_DEVICE ?? 'cpu' }, maxBuffer: 1 << 22 });
  rmSync(out, { recursive: true, force: true });
  const s = JSON.parse(text.trim().split('\n').pop()!) as Sample[];
  const first = s[0]!, last = s[s.length - 1]!;
  const n = s.length, mx = s.reduce((a, v) => a + v.step, 0) / n, my = s.reduce((a, v) => a + v.rssMB, 0) / n;
  const slope = s.reduce((a, v) => a + (v.step - mx) * (v.rssMB - my), 0) / s.reduce((a, v) => a + (v.step - mx) ** 2, 0);
  console.log(`${kind}: RSS ${first.rssMB.toFixed(1)} MB at step ${first.step} -> ${last.rssMB.toFixed(1)} MB at step ${last.step} ` +
    `(${(last.rssMB - first.rssMB).toFixed(1)} MB; slope ${(slope * 1024).toFixed(1)} KB/step; max ${Math.max(...s.map((v) => v.rssMB)).toFixed(1)} MB); ` +
    `handles ${last.handles}, table ${first.slots} -> ${last.slots} slots; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
