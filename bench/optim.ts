// Fused optimizer updates on an EfficientNet-B0-sized parameter list: achieved bandwidth against
// a plain copy of one tensor of the same total size, in the same run. Traffic counts each input
// read once and each output written once (RMSProp: p, g, ms, mom in, p, ms, mom out = 7 × 4 B per
// element; SGD with momentum 5; EMA 3). "per-tensor calls" runs the same update as one call per
// tensor, to show what fusing the launches saves.
//   node --import tsx bench/optim.ts [--device cpu] [--reps 30]
import { parseArgs } from 'node:util';
import * as ap from '../lib/index.js';
import { native } from '../lib/native.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    reps: { type: 'string', default: '30' },
  },
});
const device = values.device!;
const reps = Number(values.reps);

// EfficientNet-B0's trainable tensors: stem, 16 MBConv blocks (expand, depthwise, squeeze-excite,
// project, each convolution followed by a BN with gamma and beta), head and classifier.
function b0Shapes(): number[][] {
  const shapes: number[][] = [];
  const bn = (c: number) => shapes.push([c], [c]);
  shapes.push([32, 3, 3, 3]);
  bn(32);
  const stages = [[1, 3, 16, 1], [6, 3, 24, 2], [6, 5, 40, 2], [6, 3, 80, 3], [6, 5, 112, 3], [6, 5, 192, 4], [6, 3, 320, 1]];
  let cin = 32;
  for (const [e, k, cout, repeats] of stages) {
    for (let r = 0; r < repeats; r++) {
      const mid = cin * e;
      if (e !== 1) {
        shapes.push([mid, 1, 1, cin]);
        bn(mid);
      }
      shapes.push([mid, k, k, 1]);
      bn(mid);
      const se = Math.max(1, Math.floor(cin / 4));
      shapes.push([se, 1, 1, mid], [se], [mid, 1, 1, se], [mid]);
      shapes.push([cout, 1, 1, mid]);
      bn(cout);
      cin = cout;
    }
  }
  shapes.push([1280, 1, 1, 320]);
  bn(1280);
  shapes.push([1000, 1280], [1000]);
  return shapes;
}

const shapes = b0Shapes();
const total = shapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
const make = (v: number | null, seed: number): ap.Tensor[] =>
  shapes.map((s, i) => (v === null ? ap.randn(s, { device, seed, offset: i * 1e7 }) : ap.full(s, v, { device })));
const params = make(null, 1), grads = make(null, 2), ms = make(1, 0), mom = make(0, 0), bufs = make(0, 0), emas = make(null, 3);
const isBN = shapes.map((s) => s.length === 1);
const decay = isBN.map((bnOrBias) => !bnOrBias);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
function time(fn: () => void): number {
  for (let i = 0; i < 3; i++) fn();
  native.synchronize(device);
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    native.synchronize(device);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return median(ts);
}

const B = 4 * total;
const big = ap.randn([total], { device, seed: 4 });
const rows: { kernel: string; bytes: number; seconds: number }[] = [];
const bench = (kernel: string, bytes: number, fn: () => void) => rows.push({ kernel, bytes, seconds: time(fn) });
const rms = { lr: 1e-4, rho: 0.9, momentum: 0.9, eps: 1e-3, weightDecay: 1e-5, decay };
bench('copy (clone of one tensor, same bytes)', 2 * B, () => native.dispose(native.clone(big._handle('bench'))));
bench('rmspropUpdate (fused)', 7 * B, () => ap.kernels.rmspropUpdate(params, grads, ms, mom, rms));
bench('sgdUpdate momentum (fused)', 5 * B, () => ap.kernels.sgdUpdate(params, grads, bufs, { lr: 1e-4, momentum: 0.9, weightDecay: 1e-5, decay }));
bench('sgdUpdate Nesterov (fused)', 5 * B, () => ap.kernels.sgdUpdate(params, grads, bufs, { lr: 1e-4, momentum: 0.9, nesterov: true }));
bench('emaUpdate (fused)', 3 * B, () => ap.kernels.emaUpdate(emas, params, 0.9999));
bench('rmspropUpdate, per-tensor calls', 7 * B, () => {
  for (let i = 0; i < shapes.length; i++)
    ap.kernels.rmspropUpdate([params[i]], [grads[i]], [ms[i]], [mom[i]], { ...rms, decay: [decay[i]] });
});

const copyGBs = rows[0].bytes / rows[0].seconds / 1e9;
console.log(`device ${device}, ${native.buildInfo().threads} threads, ${shapes.length} tensors, ${total} f32 parameters ` +
  `(${(B / 2 ** 20).toFixed(1)} MiB per list), median of ${reps}`);
console.log('kernel'.padEnd(40) + 'ms'.padStart(9) + 'GB/s'.padStart(9) + '  vs copy');
for (const r of rows) {
  const gbs = r.bytes / r.seconds / 1e9;
  console.log(r.kernel.padEnd(40) + (r.seconds * 1e3).toFixed(3).padStart(9) + gbs.toFixed(1).padStart(9) +
    `  ${(100 * gbs / copyGBs).toFixed(0).padStart(4)}%`);
}
