// Global average pooling and channel scale (squeeze-excite) on one device, at EfficientNet-B0
// activation shapes: achieved bandwidth against a device copy of the same activation, same run.
// Traffic counts each input read once and each output written once.
//   node --import tsx bench/pool.ts [--device cpu] [--batch 8] [--reps 20] [--json]
// With --se: squeeze-excite's backward over x at B0's SE shapes (batch 16 unless given), the
// composed ops' (channelScaleBackward dx+ds, globalAvgPoolBackward, add: 7 passes over
// [N,H,W,C]) against squeezeExcite's (channelScaleBackward ds only, channelScaleAdd: 4 passes),
// timed in alternating rounds of the same run.
//   node --import tsx bench/pool.ts --se [--device cpu] [--batch 16] [--reps 10] [--json]
import { parseArgs } from 'node:util';
import * as ap from '../lib/index.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    batch: { type: 'string' },
    reps: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    se: { type: 'boolean', default: false },
  },
});
const device = values.device!;
const N = Number(values.batch ?? (values.se ? 16 : 8));
const reps = Number(values.reps);

// Expanded (pre-squeeze-excite) activations of B0 at 224: stages 1-7, and the head's 1280.
const SHAPES: [number, number, number][] = [[112, 112, 96], [56, 56, 144], [28, 28, 240], [14, 14, 672], [7, 7, 1152], [7, 7, 1280]];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Seconds per call: `reps` back-to-back calls and one synchronize, median of 5 such rounds
// (so launch latency overlaps the previous kernel on a GPU, as it does in training).
function time(fn: () => ap.Tensor | ap.Tensor[]): number {
  const run = () => { const o = fn(); ap.dispose(o); };
  for (let i = 0; i < 3; i++) run();
  ap.synchronize(device);
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) run();
    ap.synchronize(device);
    rounds.push(Number(process.hrtime.bigint() - t0) / 1e9 / reps);
  }
  return median(rounds);
}

function kernels(): void {
  interface Row { shape: string; kernel: string; bytes: number; seconds: number; copySeconds: number; copyBytes: number }
  const rows: Row[] = [];
  for (const [h, w, c] of SHAPES) {
    const shape = [N, h, w, c];
    const big = N * h * w * c * 4, small = N * c * 4;
    ap.tidy(() => {
      const x = ap.randn(shape, { device, seed: 1 }), dy = ap.randn(shape, { device, seed: 2 });
      const s = ap.randn([N, c], { device, seed: 3 }), dp = ap.randn([N, c], { device, seed: 4 });
      const copySeconds = time(() => ap.kernels.clone(x));
      const add = (kernel: string, bytes: number, fn: () => ap.Tensor | ap.Tensor[]) =>
        rows.push({ shape: `[${shape.join(',')}]`, kernel, bytes, seconds: time(fn), copySeconds, copyBytes: 2 * big });
      add('globalAvgPool', big + small, () => ap.kernels.globalAvgPool(x));
      add('globalAvgPoolBackward', small + big, () => ap.kernels.globalAvgPoolBackward(dp, shape));
      add('channelScale', 2 * big + small, () => ap.kernels.channelScale(x, s));
      add('channelScaleBackward dx+ds', 3 * big + 2 * small, () => {
        const g = ap.kernels.channelScaleBackward(x, s, dy);
        return [g.dx!, g.ds!];
      });
      add('residual add', 3 * big, () => ap.kernels.add(x, dy));
    });
  }

  const build = ap.buildInfo();
  if (values.json) {
    console.log(JSON.stringify({ device, batch: N, threads: build.threads, rows }, null, 2));
  } else {
    console.log(`device ${device}, ${build.threads} threads, batch ${N}, f32, median of 5 rounds of ${reps} calls`);
    console.log('shape'.padEnd(20) + 'kernel'.padEnd(28) + 'ms'.padStart(9) + 'GB/s'.padStart(9) + '  copy GB/s  vs copy');
    for (const r of rows) {
      const gbs = r.bytes / r.seconds / 1e9, copy = r.copyBytes / r.copySeconds / 1e9;
      console.log(r.shape.padEnd(20) + r.kernel.padEnd(28) + (r.seconds * 1e3).toFixed(3).padStart(9) + gbs.toFixed(1).padStart(9) +
        copy.toFixed(1).padStart(11) + `${(100 * gbs / copy).toFixed(0)}%`.padStart(9));
    }
  }
}

// B0's squeeze-excite inputs at 224 (the expanded activation after the depthwise conv).
const SE_SHAPES: [number, number, number][] = [[112, 112, 32], [56, 56, 96], [56, 56, 144], [28, 28, 240], [14, 14, 480], [14, 14, 672], [7, 7, 1152]];

// Median seconds per call of each fn, timed in alternating rounds so that load from other jobs
// on a shared machine falls on all of them alike.
function timeTogether(fns: (() => ap.Tensor | ap.Tensor[])[], rounds = 7): number[] {
  const runs = fns.map((fn) => () => { const o = fn(); ap.dispose(o); });
  for (const run of runs) for (let i = 0; i < 3; i++) run();
  ap.synchronize(device);
  const per: number[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    runs.forEach((run, k) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < reps; i++) run();
      ap.synchronize(device);
      per[k].push(Number(process.hrtime.bigint() - t0) / 1e9 / reps);
    });
  }
  return per.map(median);
}

interface SeRow { shape: string; oldMs: number; newMs: number; oldBytes: number; newBytes: number; predicted: number; measured: number; parts: Record<string, number> }

function seBackward(): void {
  const out: SeRow[] = [];
  for (const [h, w, c] of SE_SHAPES) {
    const shape = [N, h, w, c];
    const big = N * h * w * c * 4, small = N * c * 4;
    ap.tidy(() => {
      const x = ap.randn(shape, { device, seed: 1 }), dy = ap.randn(shape, { device, seed: 2 });
      const s = ap.rand([N, c], { device, seed: 3 }), dpool = ap.randn([N, c], { device, seed: 4 });
      const b = ap.kernels.scale(dpool, 1 / (h * w));
      const old = () => {
        const g = ap.kernels.channelScaleBackward(x, s, dy);
        const dx2 = ap.kernels.globalAvgPoolBackward(dpool, shape);
        const dx = ap.kernels.add(g.dx!, dx2);
        ap.dispose([g.dx!, dx2]);
        return [dx, g.ds!];
      };
      const fused = () => {
        const ds = ap.kernels.channelScaleBackward(x, s, dy, { ds: true }).ds!;
        return [ap.kernels.channelScaleAdd(dy, s, b), ds];
      };
      const [tOld, tNew, tBwd, tPoolBwd, tAdd, tDs, tScaleAdd] = timeTogether([
        old, fused,
        () => { const g = ap.kernels.channelScaleBackward(x, s, dy); return [g.dx!, g.ds!]; },
        () => ap.kernels.globalAvgPoolBackward(dpool, shape),
        () => ap.kernels.add(x, dy),
        () => ap.kernels.channelScaleBackward(x, s, dy, { ds: true }).ds!,
        () => ap.kernels.channelScaleAdd(dy, s, b),
      ]);
      // Old: dy, x read, dx1 written (s read, ds written); the broadcast written (dpool read);
      // dx1 and the broadcast read, dx written. New: dy, x read (s read, ds written); dy read,
      // dx written (s, b read).
      const oldBytes = 7 * big + 3 * small, newBytes = 4 * big + 4 * small;
      out.push({
        shape: `[${shape.join(',')}]`, oldMs: tOld * 1e3, newMs: tNew * 1e3, oldBytes, newBytes,
        predicted: oldBytes / newBytes, measured: tOld / tNew,
        parts: {
          'channelScaleBackward dx+ds': tBwd * 1e3, globalAvgPoolBackward: tPoolBwd * 1e3, add: tAdd * 1e3,
          'channelScaleBackward ds': tDs * 1e3, channelScaleAdd: tScaleAdd * 1e3,
        },
      });
    });
  }
  const build = ap.buildInfo();
  if (values.json) {
    console.log(JSON.stringify({ device, batch: N, threads: build.threads, reps, rows: out }, null, 2));
    return;
  }
  console.log(`device ${device}, ${build.threads} threads, batch ${N}, f32; median of 7 alternating rounds of ${reps} calls`);
  console.log('squeeze-excite backward over x: old = channelScaleBackward dx+ds, globalAvgPoolBackward, add (7 passes);');
  console.log('new = channelScaleBackward ds only, channelScaleAdd (4 passes). predicted = old bytes / new bytes.');
  console.log('shape'.padEnd(20) + 'old ms'.padStart(9) + 'new ms'.padStart(9) + 'old GB/s'.padStart(10) + 'new GB/s'.padStart(10) +
    'predicted'.padStart(11) + 'measured'.padStart(10));
  let sumOld = 0, sumNew = 0, bytesOld = 0, bytesNew = 0;
  for (const r of out) {
    sumOld += r.oldMs;
    sumNew += r.newMs;
    bytesOld += r.oldBytes;
    bytesNew += r.newBytes;
    console.log(r.shape.padEnd(20) + r.oldMs.toFixed(3).padStart(9) + r.newMs.toFixed(3).padStart(9) +
      (r.oldBytes / r.oldMs / 1e6).toFixed(1).padStart(10) + (r.newBytes / r.newMs / 1e6).toFixed(1).padStart(10) +
      `${r.predicted.toFixed(2)}x`.padStart(11) + `${r.measured.toFixed(2)}x`.padStart(10));
  }
  console.log('sum'.padEnd(20) + sumOld.toFixed(3).padStart(9) + sumNew.toFixed(3).padStart(9) + ''.padStart(20) + `${(bytesOld / bytesNew).toFixed(2)}x`.padStart(11) +
    `${(sumOld / sumNew).toFixed(2)}x`.padStart(10));
  console.log('\nparts (ms): ' + Object.keys(out[0].parts).join(' | '));
  for (const r of out) console.log(r.shape.padEnd(20) + Object.values(r.parts).map((v) => v.toFixed(3)).join('  '));
}

if (values.se) seBackward();
else kernels();
