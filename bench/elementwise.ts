// Elementwise and reduction kernels on one device: achieved memory bandwidth against a plain
// copy of the same number of bytes. Traffic counts bytes read plus bytes written.
//   node --import tsx bench/elementwise.ts [--device cpu] [--n 16777216] [--reps 30]
import { parseArgs } from 'node:util';
import { rawAddon as native, type NativeTensor } from '../lib/native.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    n: { type: 'string', default: String(1 << 24) },
    reps: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const device = values.device!;
const n = Number(values.n);
const reps = Number(values.reps);
const C = 128; // per-channel cases use [n / C, C]; n must be a multiple of C

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Times fn (which returns a tensor to free) and returns the median seconds per call.
function time(fn: () => NativeTensor): number {
  for (let i = 0; i < 3; i++) native.dispose(fn());
  native.synchronize(device);
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    const out = fn();
    native.synchronize(device);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
    native.dispose(out);
  }
  return median(ts);
}

const x = native.normal([n / C, C], 'f32', device, 1, 0, 0, 1);
const y = native.normal([n / C, C], 'f32', device, 1, 1, 0, 1);
const ch = native.normal([C], 'f32', device, 1, 2, 0, 1);
const big = native.normal([n * 3], 'f32', device, 1, 3, 0, 1);

interface Row { kernel: string; bytes: number; seconds: number }
const rows: Row[] = [];
const bench = (kernel: string, bytes: number, fn: () => NativeTensor) => rows.push({ kernel, bytes, seconds: time(fn) });

const B = 4 * n;
bench('copy 1x (memcpy baseline, 2 B traffic)', 2 * B, () => native.clone(x));
bench('copy 3x (memcpy of add\'s bytes)', 6 * B, () => native.clone(big));
bench('add same shape', 3 * B, () => native.binary('add', x, y));
bench('mul per-channel [C]', 2 * B, () => native.binary('mul', x, ch));
bench('scale', 2 * B, () => native.unary('scale', x, 0.5));
bench('silu', 2 * B, () => native.unary('silu', x, 0));
bench('sigmoid', 2 * B, () => native.unary('sigmoid', x, 0));
bench('relu', 2 * B, () => native.unary('relu', x, 0));
bench('silu backward', 3 * B, () => native.unaryBackward('silu', x, y, 0));
bench('sum all', B, () => native.sum(x, [], false, false));
bench('sum over rows (per-channel)', B, () => native.sum(x, [0], false, false));
bench('randn fill', B, () => native.normal([n], 'f32', device, 9, 0, 0, 1));

const memcpyGBs = rows[0].bytes / rows[0].seconds / 1e9;
const build = native.buildInfo();
if (values.json) {
  console.log(JSON.stringify({ device, n, threads: build.threads, rows }, null, 2));
} else {
  console.log(`device ${device}, ${build.threads} threads, n = ${n} f32 (${(B / 2 ** 20).toFixed(0)} MiB per tensor), median of ${reps}`);
  console.log('kernel'.padEnd(40) + 'ms'.padStart(9) + 'GB/s'.padStart(9) + '  vs memcpy');
  for (const r of rows) {
    const gbs = r.bytes / r.seconds / 1e9;
    console.log(r.kernel.padEnd(40) + (r.seconds * 1e3).toFixed(3).padStart(9) + gbs.toFixed(1).padStart(9) +
      `  ${(100 * gbs / memcpyGBs).toFixed(0).padStart(4)}%`);
  }
}
for (const t of [x, y, ch, big]) native.dispose(t);
