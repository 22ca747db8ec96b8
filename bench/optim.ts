// Fused optimizer updates on an EfficientNet-B0-sized parameter list: achieved bandwidth against
// a plain copy moving the same number of bytes, timed alternately with each update in the same run. Traffic counts each input
// read once and each output written once (RMSProp: p, g, ms, mom in, p, ms, mom out = 7 × 4 B per
// element; SGD with momentum 5; EMA 3). "per-tensor calls" runs the same update as one call per
// tensor, to show what fusing the launches saves.
//   node --import tsx bench/optim.ts [--device cpu] [--reps 30]
import { parseArgs } from 'node:util';
import * as ap from '../lib/index.js';
import { rawAddon as native } from '../lib/native.js';

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
// Median seconds of fn and of ref, timed alternately so that both see the same machine load.
function timePair(fn: () => void, ref: () => void): [number, number] {
  for (let i = 0; i < 3; i++) {
    fn();
    ref();
  }
  native.synchronize(device);
  const ts: number[] = [], rs: number[] = [];
  const once = (f: () => void) => {
    const t0 = process.hrtime.bigint();
    f();
    native.synchronize(device);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  for (let i = 0; i < reps; i++) {
    ts.push(once(fn));
    rs.push(once(ref));
  }
  return [median(ts), median(rs)];
}

const B = 4 * total;
// The copy that moves as many bytes as the update (streams/2 lists' worth of floats, the same
// footprint; a list is 20 MiB, a server's L3 cache 32 MiB or more). On the cpu it is a parallel
// memcpy into an existing tensor (emaUpdate with decay 0), because a clone's fresh output pays
// page faults there; on CUDA a clone, whose output comes from the caching allocator.
const copies = new Map<number, [ap.Tensor, ap.Tensor]>();
const copyOf = (streams: number) => {
  if (!copies.has(streams)) {
    const n = Math.round((total * streams) / 2);
    copies.set(streams, [ap.randn([n], { device, seed: 4 }), ap.zeros([n], { device })]);
  }
  const [src, dst] = copies.get(streams)!;
  if (device === 'cpu') return () => ap.kernels.emaUpdate([dst], [src], 0);
  return () => native.dispose(native.clone(src._handle('bench')));
};
interface Row { kernel: string; bytes: number; seconds: number; copySeconds: number }
const rows: Row[] = [];
const bench = (kernel: string, streams: number, fn: () => void) => {
  const [seconds, copySeconds] = timePair(fn, copyOf(streams));
  rows.push({ kernel, bytes: streams * B, seconds, copySeconds });
};
const rms = { lr: 1e-4, rho: 0.9, momentum: 0.9, eps: 1e-3, weightDecay: 1e-5, decay };
bench('rmspropUpdate (fused)', 7, () => ap.kernels.rmspropUpdate(params, grads, ms, mom, rms));
bench('sgdUpdate momentum (fused)', 5, () => ap.kernels.sgdUpdate(params, grads, bufs, { lr: 1e-4, momentum: 0.9, weightDecay: 1e-5, decay }));
bench('sgdUpdate Nesterov (fused)', 5, () => ap.kernels.sgdUpdate(params, grads, bufs, { lr: 1e-4, momentum: 0.9, nesterov: true }));
bench('emaUpdate (fused)', 3, () => ap.kernels.emaUpdate(emas, params, 0.9999));
bench('rmspropUpdate, per-tensor calls', 7, () => {
  for (let i = 0; i < shapes.length; i++)
    ap.kernels.rmspropUpdate([params[i]], [grads[i]], [ms[i]], [mom[i]], { ...rms, decay: [decay[i]] });
});

console.log(`device ${device}, ${native.buildInfo().threads} threads, ${shapes.length} tensors, ${total} f32 parameters ` +
  `(${(B / 2 ** 20).toFixed(1)} MiB per list), median of ${reps}`);
console.log('kernel'.padEnd(34) + 'ms'.padStart(9) + 'GB/s'.padStart(9) + 'copy GB/s'.padStart(11) + '  vs copy');
for (const r of rows) {
  const gbs = r.bytes / r.seconds / 1e9, copy = r.bytes / r.copySeconds / 1e9;
  console.log(r.kernel.padEnd(34) + (r.seconds * 1e3).toFixed(3).padStart(9) + gbs.toFixed(1).padStart(9) +
    copy.toFixed(1).padStart(11) + `  ${(100 * gbs / copy).toFixed(0).padStart(6)}%`);
}
