// Global average pooling and channel scale (squeeze-excite) on one device, at EfficientNet-B0
// activation shapes: achieved bandwidth against a device copy of the same activation, same run.
// Traffic counts each input read once and each output written once.
//   node --import tsx bench/pool.ts [--device cpu] [--batch 8] [--reps 20] [--json]
import { parseArgs } from 'node:util';
import * as ap from '../lib/index.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    batch: { type: 'string', default: '8' },
    reps: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});
const device = values.device!;
const N = Number(values.batch);
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
