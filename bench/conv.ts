// Every distinct convolution shape of EfficientNet-B0 at 224×224: forward, input gradient and
// weight gradient through the raw kernels, median ms and GFLOP/s (2·MACs) per layer, and the sum
// over the network (each distinct shape times how often it occurs). When `python3 -c 'import torch'`
// works, bench/torch/conv.py times the same layers in PyTorch (channels_last, on the same device,
// same thread count on cpu) in the same run and the table gains torch ms and our/torch ratios. On
// cuda the torch columns are cuDNN fp32 with TF32 off, and the network sums are repeated against
// cuDNN with TF32 on (our kernels are fp32 throughout).
//   node --import tsx bench/conv.ts [--device cpu|cuda] [--batch 8] [--reps 20] [--rounds 1] [--quick] [--json] [--no-torch]
//     [--python python3] [--filter REGEX]
// --filter keeps the layers whose name matches (e.g. 'depthwise|stem'); the sums cover those only.
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as ap from '../lib/index.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    batch: { type: 'string' },
    reps: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    python: { type: 'string' },
    filter: { type: 'string' },
  },
});
const device = values.device!;
const batch = Number(values.batch ?? (values.quick ? 2 : 8));
const reps = Number(values.reps ?? (values.quick ? 3 : 20));
const rounds = Math.max(1, Number(values.rounds));
const size = 224;

export type Kind = 'stem' | 'depthwise' | 'expand' | 'project' | 'se-reduce' | 'se-expand' | 'head';
export interface Layer {
  name: string; kind: Kind; n: number; h: number; w: number; cin: number; cout: number;
  k: number; stride: number; groups: number; bias: boolean; count: number;
}

/** The conv layers of EfficientNet-B0, identical shapes merged (count = multiplicity). */
export function efficientNetB0(n: number, res: number): Layer[] {
  const out = new Map<string, Layer>();
  const add = (kind: Kind, h: number, cin: number, cout: number, k: number, stride: number, groups: number, bias: boolean) => {
    const key = [kind, h, cin, cout, k, stride, groups, bias].join(',');
    const l = out.get(key);
    if (l) { l.count++; return; }
    const g = groups === 1 ? '' : ' dw';
    const name = `${kind} ${h}x${h} ${cin}->${cout} k${k}s${stride}${g}`;
    out.set(key, { name, kind, n, h, w: h, cin, cout, k, stride, groups, bias, count: 1 });
  };
  const down = (h: number, s: number) => Math.ceil(h / s);
  // (expand, k, stride, in, out, repeats)
  const stages = [[1, 3, 1, 32, 16, 1], [6, 3, 2, 16, 24, 2], [6, 5, 2, 24, 40, 2], [6, 3, 2, 40, 80, 3],
    [6, 5, 1, 80, 112, 3], [6, 5, 2, 112, 192, 4], [6, 3, 1, 192, 320, 1]];
  add('stem', res, 3, 32, 3, 2, 1, false);
  let h = down(res, 2);
  for (const [e, k, s0, cin0, cout, r] of stages) {
    for (let i = 0; i < r; i++) {
      const cin = i === 0 ? cin0 : cout;
      const s = i === 0 ? s0 : 1;
      const mid = cin * e;
      if (e !== 1) add('expand', h, cin, mid, 1, 1, 1, false);
      add('depthwise', h, mid, mid, k, s, mid, false);
      const ho = down(h, s);
      const sq = Math.max(1, Math.floor(cin * 0.25));
      add('se-reduce', 1, mid, sq, 1, 1, 1, true);
      add('se-expand', 1, sq, mid, 1, 1, 1, true);
      add('project', ho, mid, cout, 1, 1, 1, false);
      h = ho;
    }
  }
  add('head', h, 320, 1280, 1, 1, 1, false);
  return [...out.values()];
}

export const outSize = (l: Layer) => Math.ceil(l.h / l.stride);
export const macs = (l: Layer) => l.n * outSize(l) * outSize(l) * l.cout * l.k * l.k * (l.cin / l.groups);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Median seconds per call of fn (which returns a tensor to free), after one warm-up call.
// Calls slower than 1 s get fewer repetitions so that the whole run stays within minutes.
function time(fn: () => ap.Tensor): number {
  const t0 = process.hrtime.bigint();
  fn().dispose();
  ap.synchronize(device);
  const first = Number(process.hrtime.bigint() - t0) / 1e9;
  const n = first > 1 ? Math.max(1, Math.min(reps, 3)) : reps;
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t1 = process.hrtime.bigint();
    const out = fn();
    ap.synchronize(device);
    ts.push(Number(process.hrtime.bigint() - t1) / 1e9);
    out.dispose();
  }
  return median(ts);
}

interface Timing { fwd: number; bwdInput: number; bwdWeight: number; tf32?: Timing }
interface Row extends Layer { macs: number; ours: Timing; torch?: Timing }

const layerFilter = values.filter ? new RegExp(values.filter) : undefined;
const layers = efficientNetB0(batch, size).filter((l) => !layerFilter || layerFilter.test(l.name));
const threads = ap.buildInfo().threads;

// ---- PyTorch (in its own process) and ours, alternating for --rounds rounds ---------------------
// Each round times every layer on both sides; each figure reported is the fastest of the rounds'
// medians, so that a burst of load from elsewhere on a shared machine hits both sides alike.
let torchInfo: { version: string; threads: number; note: string } | undefined;
let torchSkipped = '';
// python3 on PATH may be a pyenv one without Debian's python3-torch, so /usr/bin/python3 is tried too.
const pythons = values.python ? [values.python] : ['python3', '/usr/bin/python3'];
const torchCheck = device === 'cuda' ? 'import torch; assert torch.cuda.is_available()' : 'import torch';
const python = values['no-torch'] || (device !== 'cpu' && device !== 'cuda') ? undefined
  : pythons.find((p) => spawnSync(p, ['-c', torchCheck], { stdio: 'ignore' }).status === 0);
if (values['no-torch']) torchSkipped = '--no-torch';
else if (device !== 'cpu' && device !== 'cuda') torchSkipped = `no PyTorch peer for device ${device}`;
else if (!python) torchSkipped = `no python with torch${device === 'cuda' ? ' and CUDA' : ''} (tried ${pythons.join(', ')})`;

function runTorch(): Timing[] | undefined {
  if (!python || torchSkipped) return undefined;
  const script = fileURLToPath(new URL('./torch/conv.py', import.meta.url));
  const r = spawnSync(python, [script, '--threads', String(threads), '--reps', String(reps), '--device', device], {
    input: JSON.stringify(layers), encoding: 'utf8', maxBuffer: 1 << 26,
    // glibc serves blocks over 32 MiB with a fresh mmap, so every such PyTorch output (8×112×112×96
    // f32 is 38.5 MB) would page-fault in on each call (~9 ms here). Keeping them on the heap times
    // the convolution rather than the page faults; our allocator reuses its blocks anyway.
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' },
  });
  if (r.status !== 0) {
    torchSkipped = `bench/torch/conv.py failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    torchInfo = undefined;
    return undefined;
  }
  const res = JSON.parse(r.stdout) as { version: string; threads: number; note: string; layers: Timing[] };
  torchInfo = { version: res.version, threads: res.threads, note: res.note };
  return res.layers;
}

function runOurs(): Timing[] {
  return layers.map((l) => {
    const ho = outSize(l);
    const xShape = [l.n, l.h, l.w, l.cin];
    const wShape = [l.cout, l.k, l.k, l.cin / l.groups];
    const opts = { stride: l.stride, padding: 'same' as const, groups: l.groups };
    const x = ap.randn(xShape, { seed: 1, device });
    const w = ap.randn(wShape, { seed: 2, device, std: 0.1 });
    const b = l.bias ? ap.randn([l.cout], { seed: 3, device }) : null;
    const dy = ap.randn([l.n, ho, ho, l.cout], { seed: 4, device });
    const t: Timing = {
      fwd: time(() => ap.kernels.conv2d(x, w, b, opts)),
      bwdInput: time(() => ap.kernels.conv2dBackwardInput(dy, w, xShape, opts)),
      bwdWeight: time(() => ap.kernels.conv2dBackwardWeight(dy, x, wShape, opts)),
    };
    for (const u of [x, w, b, dy]) u?.dispose();
    return t;
  });
}

const best1 = (t: Timing, u: Timing): Timing => ({
  fwd: Math.min(t.fwd, u.fwd), bwdInput: Math.min(t.bwdInput, u.bwdInput), bwdWeight: Math.min(t.bwdWeight, u.bwdWeight),
  ...(t.tf32 && u.tf32 ? { tf32: best1(t.tf32, u.tf32) } : {}),
});
const best = (a: Timing[] | undefined, b: Timing[] | undefined): Timing[] | undefined =>
  !a ? b : !b ? a : a.map((t, i) => best1(t, b[i]));
let torchTimes: Timing[] | undefined;
let ourTimes: Timing[] | undefined;
for (let r = 0; r < rounds; r++) {
  torchTimes = best(torchTimes, runTorch());
  if (torchSkipped) torchTimes = undefined;
  ourTimes = best(ourTimes, runOurs());
}
const rows: Row[] = layers.map((l, i) => ({ ...l, macs: macs(l), ours: ourTimes![i], torch: torchTimes?.[i] }));

// ---- report -------------------------------------------------------------------------------------
const all = (t: Timing) => t.fwd + t.bwdInput + t.bwdWeight;
type Group = 'stem' | 'depthwise' | 'pointwise' | 'SE' | 'head';
const group = (k: Kind): Group => k === 'expand' || k === 'project' ? 'pointwise' : k === 'se-reduce' || k === 'se-expand' ? 'SE' : k as Group;
// tf32: compare with the torch TF32 timings (cuda) instead of the fp32 ones.
function sums(filter: (r: Row) => boolean, tf32 = false) {
  const z = () => ({ fwd: 0, bwdInput: 0, bwdWeight: 0 });
  const s = { ours: z(), torch: z(), macs: 0 };
  for (const r of rows.filter(filter)) {
    s.macs += r.macs * r.count;
    const t = tf32 ? r.torch?.tf32 : r.torch;
    for (const key of ['fwd', 'bwdInput', 'bwdWeight'] as const) {
      s.ours[key] += r.ours[key] * r.count;
      if (t) s.torch[key] += t[key] * r.count;
    }
  }
  return s;
}
const groups: Group[] = ['stem', 'depthwise', 'pointwise', 'SE', 'head'];
const summary = Object.fromEntries(groups.map((g) => [g, sums((r) => group(r.kind) === g)]));
const total = sums(() => true);

if (values.json) {
  console.log(JSON.stringify({ device, batch, size, reps, rounds, threads, torch: torchInfo ?? null, torchSkipped: torchSkipped || undefined, rows, summary, total }, null, 2));
} else {
  const ms = (s: number) => (s * 1e3).toFixed(2);
  const gf = (m: number, s: number) => (2 * m / s / 1e9).toFixed(1);
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) + 'x' : '-');
  console.log(`EfficientNet-B0 convolutions at ${size}x${size}, batch ${batch}, device ${device}, ${threads} threads, median of ${reps} (after 1 warm-up)${rounds > 1 ? `, fastest of ${rounds} alternating rounds` : ''}`);
  console.log(torchInfo ? `PyTorch ${torchInfo.version}, ${device === 'cpu' ? `${torchInfo.threads} threads, ` : ''}channels_last; ${torchInfo.note}` : `PyTorch: skipped (${torchSkipped})`);
  const T = !!torchInfo;
  console.log('layer'.padEnd(38) + ' x' + 'GMAC'.padStart(7) +
    ['fwd', 'bwdI', 'bwdW'].map((h) => `${h} ms`.padStart(10) + 'GF/s'.padStart(7) + (T ? 'torch'.padStart(8) + 'ratio'.padStart(7) : '')).join('') +
    (T ? '  all ratio' : ''));
  for (const r of rows) {
    let line = r.name.padEnd(38) + String(r.count).padStart(2) + (r.macs / 1e9).toFixed(3).padStart(7);
    for (const key of ['fwd', 'bwdInput', 'bwdWeight'] as const) {
      line += ms(r.ours[key]).padStart(10) + gf(r.macs, r.ours[key]).padStart(7);
      if (r.torch) line += ms(r.torch[key]).padStart(8) + ratio(r.ours[key], r.torch[key]).padStart(7);
    }
    if (r.torch) line += ratio(all(r.ours), all(r.torch)).padStart(11);
    console.log(line);
  }
  console.log('\nnetwork sums (ms, each layer times its multiplicity)' + (T ? '; ratio = ours / torch' : ''));
  console.log('part'.padEnd(11) + ['fwd', 'bwd-input', 'bwd-weight', 'all'].map((h) => h.padStart(11) + (T ? 'torch'.padStart(9) + 'ratio'.padStart(7) : '')).join('') + '  GF/s all');
  const line = (name: string, s: ReturnType<typeof sums>) => {
    let out = name.padEnd(11);
    for (const [o, t] of [[s.ours.fwd, s.torch.fwd], [s.ours.bwdInput, s.torch.bwdInput], [s.ours.bwdWeight, s.torch.bwdWeight], [all(s.ours), all(s.torch)]]) {
      out += ms(o).padStart(11);
      if (T) out += ms(t).padStart(9) + ratio(o, t).padStart(7);
    }
    console.log(out + gf(3 * s.macs, all(s.ours)).padStart(10));
  };
  for (const g of groups) line(g, summary[g]);
  line('total', total);
  if (rows.some((r) => r.torch?.tf32)) {
    console.log('\nthe same sums against PyTorch with TF32 on (ours stay fp32)');
    for (const g of groups) line(g, sums((r) => group(r.kind) === g, true));
    line('total', sums(() => true, true));
  }
  if (T) {
    const worst = [...rows].sort((a, b) => all(b.ours) / all(b.torch!) - all(a.ours) / all(a.torch!)).slice(0, 5);
    console.log('\nslowest relative to torch (all three passes): ' + worst.map((r) => `${r.name} ${ratio(all(r.ours), all(r.torch!))}`).join('; '));
    const cost = [...rows].sort((a, b) => (all(b.ours) - all(b.torch!)) * b.count - (all(a.ours) - all(a.torch!)) * a.count).slice(0, 5);
    console.log('largest excess time over torch (x count): ' + cost.map((r) => `${r.name} +${ms((all(r.ours) - all(r.torch!)) * r.count)} ms`).join('; '));
  }
}
