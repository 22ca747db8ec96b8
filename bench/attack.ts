// PGD step, random start, dropout and drop-connect on one device: achieved bandwidth against a
// plain copy measured in the same run. Traffic counts each input read once and each output
// written once (PGD step: xAdv, grad, x read, out written = 4 tensors), so a kernel that makes
// more passes (the L2 step reads its inputs three times) shows it as a lower figure.
//   node --import tsx bench/attack.ts [--device cpu] [--shape 32,224,224,3] [--reps 20]
// --residual instead times the MBConv skip connection at EfficientNet-B0's residual shapes (batch
// 16, AdvProp's 2N at batch 8): dropConnect then add (5 tensor passes when every sample is kept)
// against the fused dropConnectAdd (3 passes), the two alternating call by call.
//   node --import tsx bench/attack.ts --residual [--rate 0.2] [--reps 50]
import { parseArgs } from 'node:util';
import * as ap from '../lib/index.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    shape: { type: 'string', default: '32,224,224,3' },
    reps: { type: 'string', default: '20' },
    residual: { type: 'boolean', default: false },
    rate: { type: 'string', default: '0.2' },
  },
});
const device = values.device!;
const shape = values.shape!.split(',').map(Number);
const reps = Number(values.reps);
const n = shape.reduce((p, s) => p * s, 1);
const B = 4 * n;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Median seconds per call of fn (which returns a tensor to free).
function time(fn: () => ap.Tensor): number {
  for (let i = 0; i < 3; i++) fn().dispose();
  ap.synchronize(device);
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    const out = fn();
    ap.synchronize(device);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
    out.dispose();
  }
  return median(ts);
}

// Median seconds per call of each fn, the fns called in turn so load changes hit them alike.
function timeAlternating(fns: (() => ap.Tensor)[]): number[] {
  for (let i = 0; i < 3; i++) for (const fn of fns) fn().dispose();
  ap.synchronize(device);
  const ts: number[][] = fns.map(() => []);
  for (let i = 0; i < reps; i++) {
    fns.forEach((fn, j) => {
      const t0 = process.hrtime.bigint();
      const out = fn();
      ap.synchronize(device);
      ts[j].push(Number(process.hrtime.bigint() - t0) / 1e9);
      out.dispose();
    });
  }
  return ts.map(median);
}

function residualBench(): void {
  const shapes = [[16, 56, 56, 24], [16, 28, 28, 40], [16, 14, 14, 80], [16, 14, 14, 112], [16, 7, 7, 192]];
  const rate = Number(values.rate), seed = 5, offset = 0;
  console.log(`device ${device}, ${ap.buildInfo().threads} threads, f32, rate ${rate}, median of ${reps} alternating calls`);
  console.log('shape'.padEnd(20) + 'MiB'.padStart(6) + 'kept'.padStart(7) + 'passes'.padStart(10) + 'unfused ms'.padStart(12) +
    'fused ms'.padStart(10) + 'GB/s u/f'.padStart(13) + 'speed-up'.padStart(10) + 'predicted'.padStart(11));
  for (const s of shapes) {
    const [h, r] = [ap.randn(s, { device, seed: 1 }), ap.randn(s, { device, seed: 2 })];
    const mask = ap.kernels.dropConnectMask(ap.ones([s[0], 1], { device }), rate, seed, offset);
    const k = Array.from(mask.toArray()).filter((v) => v !== 0).length / s[0];
    mask.dispose();
    // A dropped sample's h is never read: dropConnect writes its zeros, the fused kernel its r.
    const [pu, pf] = [4 + k, 2 + k];
    const bytes = 4 * h.numel;
    const [tu, tf] = timeAlternating([
      () => {
        const t = ap.kernels.dropConnectMask(h, rate, seed, offset);
        const out = ap.kernels.add(t, r);
        t.dispose();
        return out;
      },
      () => ap.kernels.dropConnectAdd(h, r, rate, seed, offset),
    ]);
    console.log(`[${s.join(', ')}]`.padEnd(20) + (bytes / 2 ** 20).toFixed(2).padStart(6) + k.toFixed(2).padStart(7) +
      `${pu.toFixed(1)}/${pf.toFixed(1)}`.padStart(10) + (tu * 1e3).toFixed(3).padStart(12) + (tf * 1e3).toFixed(3).padStart(10) +
      `${(pu * bytes / tu / 1e9).toFixed(0)}/${(pf * bytes / tf / 1e9).toFixed(0)}`.padStart(13) +
      `${(tu / tf).toFixed(2)}x`.padStart(10) + `${(pu / pf).toFixed(2)}x`.padStart(11));
    ap.dispose([h, r]);
  }
}

if (values.residual) {
  residualBench();
  process.exit(0);
}

const x = ap.rand(shape, { device, seed: 1 });
const xAdv = ap.kernels.pgdRandomStart(x, { eps: 8 / 255, seed: 2 });
const g = ap.randn(shape, { device, seed: 3 });
const epsN = ap.full([shape[0]], 8 / 255, { device });
// A copy that moves the PGD step's bytes (2 tensors read+written = 4 tensors of traffic): the
// fair baseline where one tensor fits in the last-level cache and four do not.
const big = ap.rand([2 * n], { device, seed: 6 });

const rows: { kernel: string; bytes: number; seconds: number }[] = [];
const bench = (kernel: string, bytes: number, fn: () => ap.Tensor) => rows.push({ kernel, bytes, seconds: time(fn) });

bench('copy (clone, baseline)', 2 * B, () => ap.kernels.clone(x));
bench('copy 2x (the bytes of pgdStep)', 4 * B, () => ap.kernels.clone(big));
bench('pgdStep linf', 4 * B, () => ap.kernels.pgdStep(xAdv, g, x, { eps: 8 / 255, alpha: 2 / 255 }));
bench('pgdStep linf, per-sample eps', 4 * B, () => ap.kernels.pgdStep(xAdv, g, x, { eps: epsN, alpha: 2 / 255 }));
bench('pgdStep l2 (3 passes)', 4 * B, () => ap.kernels.pgdStep(xAdv, g, x, { eps: 1, alpha: 0.25, norm: 'l2' }));
bench('pgdRandomStart linf', 2 * B, () => ap.kernels.pgdRandomStart(x, { eps: 8 / 255, seed: 4 }));
bench('pgdRandomStart l2', 2 * B, () => ap.kernels.pgdRandomStart(x, { eps: 1, seed: 4, norm: 'l2' }));
bench('dropout 0.2', 2 * B, () => ap.kernels.dropoutMask(x, 0.2, 5, 0));
bench('dropConnect 0.2', 2 * B, () => ap.kernels.dropConnectMask(x, 0.2, 5, 0));

const copy = rows[0].bytes / rows[0].seconds / 1e9;
console.log(`device ${device}, ${ap.buildInfo().threads} threads, f32 [${shape.join(', ')}] (${(B / 2 ** 20).toFixed(1)} MiB per tensor), median of ${reps}`);
console.log('kernel'.padEnd(32) + 'ms'.padStart(9) + 'GB/s'.padStart(9) + '  vs copy');
for (const r of rows) {
  const gbs = r.bytes / r.seconds / 1e9;
  console.log(r.kernel.padEnd(32) + (r.seconds * 1e3).toFixed(3).padStart(9) + gbs.toFixed(1).padStart(9) + `  ${(100 * gbs / copy).toFixed(0).padStart(4)}%`);
}
ap.dispose([x, xAdv, g, epsN, big]);
