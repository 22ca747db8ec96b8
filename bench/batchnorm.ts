// The fused multi-domain batch norm (+ SiLU) on AdvProp's 2N batch (segments [[0, N], [1, N]],
// mode 'train'): achieved GB/s of the forward and backward kernels against a plain copy measured
// in the same run. Traffic counts each input read once and each output written once: forward
// reads x and writes y (2 B), backward reads dy and x and writes dx (3 B), plus the [K, C] and
// [S, C] parameter/statistic tensors. Two copy baselines: a clone of x itself (2 B; on a CPU
// whose L3 holds much of x this runs partly from cache, which the BN kernels' 3-4 tensor working
// sets cannot), and a clone of a --copy-mib tensor (default 256 MiB, far past any cache): the
// device's copy bandwidth, which the percentages use. On cpu, bench/torch/batchnorm.py times two PyTorch
// BatchNorm2d + SiLU (one per half, channels_last, same thread count) in the same run.
//   node --import tsx bench/batchnorm.ts [--device cpu] [--n 8] [--reps 20] [--rounds 1] [--act silu|relu|none] [--no-torch] [--python /usr/bin/python3] [--json]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ap from '../lib/index.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    n: { type: 'string', default: '8' },
    reps: { type: 'string', default: '20' },
    'copy-mib': { type: 'string', default: '256' },
    rounds: { type: 'string', default: '1' },
    act: { type: 'string', default: 'silu' },
    'no-torch': { type: 'boolean', default: false },
    python: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const device = values.device!;
const N = Number(values.n);
const reps = Number(values.reps);
const threads = ap.buildInfo().threads;

// EfficientNet-B0 BN layers at 224 (after the stem, an expansion, a late depthwise, the head).
const SHAPES = [
  { name: 'stem 112x112x32', h: 112, w: 112, c: 32 },
  { name: 'expand 56x56x144', h: 56, w: 56, c: 144 },
  { name: 'dw 14x14x480', h: 14, w: 14, c: 480 },
  { name: 'head 7x7x1280', h: 7, w: 7, c: 1280 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Median seconds of fn, which returns the tensors it made (freed after timing each call).
function time(fn: () => ap.Tensor[]): number {
  for (let i = 0; i < 2; i++) ap.dispose(fn());
  ap.synchronize(device);
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    const out = fn();
    ap.synchronize(device);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
    ap.dispose(out);
  }
  return median(ts);
}

interface Torch { fwd: number; fwdBwd: number }
interface Row { name: string; mib: number; copy: number; fwd: number; bwd: number; fwdBytes: number; bwdBytes: number; torch?: Torch }
const segs: [number, number][] = [[0, N], [1, N]];
const act = values.act as 'silu' | 'relu' | 'none';
const opts = { mode: 'train' as const, act };

function copyBaseline(): number {
  const big = ap.zeros([Number(values['copy-mib']) * 2 ** 18], { device });
  const s = time(() => [ap.clone(big)]);
  big.dispose();
  return s;
}

function measureOurs(): Row[] {
  const rows: Row[] = [];
  for (const s of SHAPES) {
    const shape = [2 * N, s.h, s.w, s.c];
    const x = ap.randn(shape, { device, seed: 1 });
    const dy = ap.randn(shape, { device, seed: 2 });
    const params = {
      gamma: ap.ones([2, s.c], { device }), beta: ap.zeros([2, s.c], { device }),
      runningMean: ap.zeros([2, s.c], { device }), runningVar: ap.ones([2, s.c], { device }),
    };
    const saved = ap.kernels.multiBatchNorm(x, params, segs, opts);
    const B = 4 * x.numel;
    const kc = 4 * 2 * s.c, sc = 4 * 2 * s.c;  // a [K, C] or [S, C] f32 tensor
    rows.push({
      name: s.name, mib: B / 2 ** 20,
      copy: time(() => [ap.clone(x)]),
      fwd: time(() => { const r = ap.kernels.multiBatchNorm(x, params, segs, opts); return [r.y, r.mean, r.invstd]; }),
      bwd: time(() => { const r = ap.kernels.multiBatchNormBackward(dy, x, params, saved.mean, saved.invstd, segs, opts); return [r.dx, r.dgamma, r.dbeta]; }),
      // x, gamma, beta and the running stats read; y, mean, invstd and the running stats written.
      fwdBytes: 2 * B + 2 * kc + 2 * 2 * kc + 2 * sc,
      // dy, x, gamma, beta, mean, invstd read; dx, dgamma, dbeta written.
      bwdBytes: 3 * B + 4 * kc + 2 * sc,
    });
    ap.dispose([x, dy, saved.y, saved.mean, saved.invstd, ...Object.values(params)]);
  }
  return rows;
}

let torchNote = '';
const pythons = values.python ? [values.python] : ['/usr/bin/python3', 'python3'];
const python = values['no-torch'] || device !== 'cpu' || act !== 'silu' ? undefined
  : pythons.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
if (values['no-torch']) torchNote = 'skipped (--no-torch)';
else if (device !== 'cpu') torchNote = 'skipped (the PyTorch comparison runs on cpu only)';
else if (act !== 'silu') torchNote = 'skipped (the PyTorch script times BN + SiLU)';
else if (!python) torchNote = `skipped (no python with torch, tried ${pythons.join(', ')})`;

function measureTorch(): Torch[] | undefined {
  if (!python || torchNote) return undefined;
  const r = spawnSync(python, [fileURLToPath(new URL('./torch/batchnorm.py', import.meta.url)), '--threads', String(threads), '--reps', String(reps)], {
    input: JSON.stringify(SHAPES.map((s) => ({ n2: 2 * N, h: s.h, w: s.w, c: s.c }))), encoding: 'utf8', maxBuffer: 1 << 26,
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' },
  });
  if (r.status !== 0) {
    torchNote = `failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    return undefined;
  }
  const res = JSON.parse(r.stdout) as { version: string; threads: number; note: string; shapes: Torch[] };
  torchInfo = `PyTorch ${res.version}, ${res.threads} threads, ${res.note}`;
  return res.shapes;
}
let torchInfo = '';

// --rounds: ours and PyTorch alternate, and each figure is the fastest of its per-round medians,
// so that a burst of outside load on a shared machine hits one round rather than the result.
const rounds = Number(values.rounds);
let copySeconds = Infinity;
let rows: Row[] = [];
let torch: Torch[] | undefined;
for (let round = 0; round < rounds; round++) {
  copySeconds = Math.min(copySeconds, copyBaseline());
  const ours = measureOurs();
  rows = round === 0 ? ours : rows.map((r, i) => ({ ...r, copy: Math.min(r.copy, ours[i].copy), fwd: Math.min(r.fwd, ours[i].fwd), bwd: Math.min(r.bwd, ours[i].bwd) }));
  const t = measureTorch();
  if (t) torch = torch ? torch.map((o, i) => ({ fwd: Math.min(o.fwd, t[i].fwd), fwdBwd: Math.min(o.fwdBwd, t[i].fwdBwd) })) : t;
}
if (torch) torch.forEach((t, i) => { rows[i].torch = t; });
if (!torchNote) torchNote = torchInfo;
const copyBytes = 2 * 4 * Number(values['copy-mib']) * 2 ** 18;
const copyGBs = copyBytes / copySeconds / 1e9;

if (values.json) {
  console.log(JSON.stringify({ device, N, threads, reps, torch: torchNote, copy: { bytes: copyBytes, seconds: copySeconds }, rows }, null, 2));
} else {
  const gbs = (bytes: number, s: number) => bytes / s / 1e9;
  console.log(`device ${device}, ${threads} threads, batch 2N = ${2 * N} f32 NHWC, segments [[0, ${N}], [1, ${N}]], train + ${act}, median of ${reps}, fastest of ${rounds} round(s)`);
  console.log(`torch: ${torchNote}`);
  console.log(`device copy bandwidth: clone of ${values['copy-mib']} MiB, ${(copySeconds * 1e3).toFixed(2)} ms, ${copyGBs.toFixed(1)} GB/s (read + write); %cp below is against it`);
  console.log('layer'.padEnd(20) + 'MiB'.padStart(6) + 'x-copy GB/s'.padStart(12) + 'fwd ms'.padStart(9) + 'GB/s'.padStart(7) + '  %cp' +
    'bwd ms'.padStart(9) + 'GB/s'.padStart(7) + '  %cp' + 'f+b ms'.padStart(9) + 'torch f+b'.padStart(11) + ' ours/pt' + 'torch fwd'.padStart(11));
  for (const r of rows) {
    const xcp = gbs(2 * r.mib * 2 ** 20, r.copy), cp = copyGBs, f = gbs(r.fwdBytes, r.fwd), b = gbs(r.bwdBytes, r.bwd);
    const fb = r.fwd + r.bwd;
    console.log(r.name.padEnd(20) + r.mib.toFixed(1).padStart(6) + xcp.toFixed(1).padStart(12) +
      (r.fwd * 1e3).toFixed(2).padStart(9) + f.toFixed(1).padStart(7) + `${(100 * f / cp).toFixed(0)}%`.padStart(5) +
      (r.bwd * 1e3).toFixed(2).padStart(9) + b.toFixed(1).padStart(7) + `${(100 * b / cp).toFixed(0)}%`.padStart(5) +
      (fb * 1e3).toFixed(2).padStart(9) + (r.torch ? (r.torch.fwdBwd * 1e3).toFixed(2) : '-').padStart(11) +
      (r.torch ? `${(fb / r.torch.fwdBwd).toFixed(2)}x` : "-").padStart(7) + (r.torch ? (r.torch.fwd * 1e3).toFixed(2) : '-').padStart(11));
  }
}
