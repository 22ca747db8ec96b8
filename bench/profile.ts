// Profiling for bench/step.ts: wraps every entry of the guarded addon (`addon`, lib/native.ts) with
// a timer while a Profiler is started, so the library itself carries no profiling code and costs
// nothing when not profiling. Times are wall time per addon call: on cpu the kernels are
// synchronous, so that is the kernel time plus the N-API crossing; on cuda each call is followed
// by a synchronize (which serialises host and device: the sum is then an upper bound per family).
// The families are bench/families.ts's, the rows of bench/roofline.ts (toJson writes a file that
// `npm run bench -- --roofline --measured FILE` puts beside them).
import { performance } from 'node:perf_hooks';
import { addon, type NativeTensor } from '../lib/native.js';
import * as ap from '../lib/index.js';
import { family } from './families.js';

type Fn = (...args: unknown[]) => unknown;
export interface FamilyRow { family: string; calls: number; ms: number }
export interface ProfileTable { wallMs: number; rows: FamilyRow[]; addonMs: number; calls: number }

// Calls that are bookkeeping, not work, and would distort the timings or recurse.
const SKIP = new Set(['synchronize', 'buildInfo', 'devices', 'memoryStats', 'emptyCache', 'simSelfTest', 'NativeTensor']);

export class Profiler {
  private saved = new Map<string, Fn>();
  private acc = new Map<string, FamilyRow>();
  constructor(private readonly device: string) {}

  start(): void {
    const b = addon as unknown as Record<string, Fn>;
    const sync = this.device === 'cpu' ? null : () => (this.saved.get('synchronize') ?? b.synchronize)(this.device);
    for (const [name, fn] of Object.entries(b)) {
      if (typeof fn !== 'function' || SKIP.has(name)) continue;
      this.saved.set(name, fn);
      b[name] = (...args: unknown[]) => {
        const t0 = performance.now();
        const r = fn(...args);
        sync?.();
        const dt = performance.now() - t0;
        const f = family(name, args);
        const row = this.acc.get(f) ?? { family: f, calls: 0, ms: 0 };
        row.calls++;
        row.ms += dt;
        this.acc.set(f, row);
        return r;
      };
    }
  }

  stop(): void {
    const b = addon as unknown as Record<string, Fn>;
    for (const [name, fn] of this.saved) b[name] = fn;
    this.saved.clear();
  }

  table(wallMs: number): ProfileTable {
    const rows = [...this.acc.values()].sort((x, y) => y.ms - x.ms);
    return { wallMs, rows, addonMs: rows.reduce((s, r) => s + r.ms, 0), calls: rows.reduce((s, r) => s + r.calls, 0) };
  }

  static format(t: ProfileTable): string {
    const lines = [`${'family'.padEnd(28)}${'calls'.padStart(7)}${'ms'.padStart(10)}${'% step'.padStart(8)}${'µs/call'.padStart(10)}`];
    const line = (name: string, calls: number | '', ms: number) =>
      `${name.padEnd(28)}${String(calls).padStart(7)}${ms.toFixed(2).padStart(10)}${((100 * ms) / t.wallMs).toFixed(1).padStart(8)}` +
      `${calls ? ((1000 * ms) / calls).toFixed(1).padStart(10) : ''}`;
    for (const r of t.rows) lines.push(line(r.family, r.calls, r.ms));
    lines.push(line('JS outside addon calls', '', t.wallMs - t.addonMs));
    lines.push(line('step (wall, profiled)', t.calls, t.wallMs));
    return lines.join('\n');
  }
}

/** The --profile-json file: per method, the profiled step's wall time and ms per family. */
export function profileJson(meta: Record<string, unknown>, profiles: readonly { method: string; table: ProfileTable }[]): string {
  const methods = Object.fromEntries(profiles.map((p) => [p.method, {
    wallMs: p.table.wallMs, families: Object.fromEntries(p.table.rows.map((r) => [r.family, { calls: r.calls, ms: r.ms }])),
  }]));
  return JSON.stringify({ ...meta, methods }, null, 1);
}

/** µs per call of: a [1] + [1] add through ap.kernels (checks, wrap, dispose included), the same
 * through the raw addon binding, and an empty JS function, each the median of 5 runs of 2000. */
export function callOverhead(device: string): { kernelUs: number; rawUs: number; jsUs: number } {
  const a = ap.ones([1], { device });
  const h = a._handle('bench', 'a');
  const b = addon;
  let sink = 0;
  const empty = (x: number) => x + 1;
  const med = (fn: () => void): number => {
    const ts: number[] = [];
    for (let r = 0; r < 6; r++) {
      const t0 = performance.now();
      for (let i = 0; i < 2000; i++) fn();
      if (device !== 'cpu') b.synchronize(device);
      ts.push(((performance.now() - t0) * 1000) / 2000);
    }
    ts.shift(); // warm-up
    ts.sort((x, y) => x - y);
    return ts[2]!;
  };
  const kernelUs = med(() => ap.kernels.binary('add', a, a).dispose());
  const rawUs = med(() => b.dispose(b.binary('add', h, h)));
  const jsUs = med(() => { sink = empty(sink); });
  a.dispose();
  return { kernelUs, rawUs, jsUs };
}
