// End-to-end training-step benchmark (issue 7): time per step and images/s of Trainer.step for
// `vanilla` and `advprop` (PGD ε = 1 with one iteration, ε = 4 with five) on EfficientNet-B0,
//   (a) 224×224, batch 8, 1000 classes;   (b) 32×32, batch 64, 10 classes,
// median of --steps timed steps after --warmup untimed ones. When `python3 -c 'import torch'`
// works, bench/torch/step.py runs the same steps in PyTorch (torchvision's EfficientNet-B0 with a
// split BN, same PGD, RMSProp, label smoothing, channels_last, same thread count) in the same
// invocation, right after ours for each case, and every figure gets the peer's and the ratio.
// Both sides: dropout 0.2 and stochastic depth (drop-connect) 0.2 on, as torchvision's defaults;
// no EMA (ours is turned off with ema: false; the peer has none).
//   npm run bench -- [--device cpu|cuda] [--case a|b|a,b] [--methods vanilla,advprop1,advprop4]
//     [--precision fp32|tf32|bf16|fp16] [--steps 5] [--warmup 2] [--batch N] [--rounds 1] [--compile-limit S] [--profile]
//     [--profile-json FILE] [--no-peer] [--python PATH] [--json] [--input tensor|u8] [--cuda-graph]
// --input u8: each step gets the batch as a Uint8Array (the loader's bytes) with the next one as
// Trainer.step's `next`, so the upload through pinned memory and the normalisation are timed too;
// default `tensor`, a device tensor made once (no input cost).
// Each side prints its figure (ms, images/s, peak device memory) on stderr as soon as it has it.
// --cuda-graph: the trainer's cudaGraph (cuda/cuda-sim): the first warm-up step runs eagerly, the
// second captures the step, and every later one replays it (at least 2 warm-up steps).
// --compile-limit: seconds the cuda peer may spend on its torch.compile attempt (0: none).
// --rounds R runs ours then the peer R times per case and keeps each side's best median, so that a
// burst of load from elsewhere on a shared machine hits both sides alike; the 1-minute load
// average is printed before and after each case (PyTorch's OpenMP threads suffer badly when the
// cores are oversubscribed, so figures taken under load understate the peer).
// --infer: hands over to bench/infer.ts (the eval-mode forward; its own options).
// --profile: after the timed steps, one more step per method with every addon call timed
// (bench/profile.ts) and a table of time by op family, plus the JS/N-API cost per op call.
// --profile-json FILE: --profile, and the profiles (ms per family, per method, of the last case)
// written to FILE for `--roofline ... --measured FILE`.
// --roofline: hands over to bench/roofline.ts (bytes, FLOPs and roofline time per op family of
// one step on a given card, computed from the shapes: no device needed; its own options).
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as ap from '../lib/index.js';
import { canonicalDevice } from '../lib/device.js';
import { Trainer } from '../lib/train/trainer.js';
import { writeFileSync } from 'node:fs';
import { Profiler, callOverhead, profileJson, type ProfileTable } from './profile.js';

// `npm run bench -- --infer ...`: the inference benchmark (bench/infer.ts) instead of training steps.
if (process.argv.includes('--infer')) {
  const { main } = await import('./infer.js');
  await main(process.argv.slice(2).filter((a) => a !== '--infer'));
  process.exit(process.exitCode ?? 0);
}

// `npm run bench -- --roofline [h100|h200] ...`: the step's roofline on paper (bench/roofline.ts).
if (process.argv.includes('--roofline')) {
  const { main } = await import('./roofline.js');
  await main(process.argv.slice(2).filter((a) => a !== '--roofline'));
  process.exit(process.exitCode ?? 0);
}

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    case: { type: 'string', default: 'b,a' },
    methods: { type: 'string', default: 'vanilla,advprop1,advprop4' },
    steps: { type: 'string' },
    warmup: { type: 'string' },
    batch: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'profile-json': { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    python: { type: 'string' },
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    'compile-limit': { type: 'string', default: '150' },
    precision: { type: 'string' },
    input: { type: 'string', default: 'tensor' },
    'cuda-graph': { type: 'boolean', default: false },
  },
});

const device = values.device!;
const profiling = values.profile || values['profile-json'] !== undefined;
// Ours and the peer's in the same precision: default fp32 on the cpu, bf16 on a GPU (PyTorch's AMP).
const precision = ap.PRECISIONS.find((p) => p === (values.precision ?? (device === 'cpu' ? 'fp32' : 'bf16')));
if (!precision) throw new Error(`--precision: one of ${ap.PRECISIONS.join(', ')}, got ${values.precision}`);
if (values.input !== 'tensor' && values.input !== 'u8') throw new Error(`--input: tensor or u8, got ${values.input}`);
const deviceKey = canonicalDevice(device); // memory() names devices as cpu, cuda:0, ...
const threads = ap.buildInfo().threads;
interface Case { name: string; size: number; batch: number; classes: number }
const CASES: Record<string, Case> = {
  a: { name: 'a', size: 224, batch: device === 'cpu' ? 8 : 128, classes: 1000 },
  b: { name: 'b', size: 32, batch: 64, classes: 10 },
};
interface MethodSpec { name: string; method: 'vanilla' | 'advprop'; epsilon: number; attackSteps: number }
const METHOD_SPECS: Record<string, MethodSpec> = {
  vanilla: { name: 'vanilla', method: 'vanilla', epsilon: 0, attackSteps: 0 },
  advprop1: { name: 'advprop ε=1', method: 'advprop', epsilon: 1, attackSteps: 1 },
  advprop4: { name: 'advprop ε=4', method: 'advprop', epsilon: 4, attackSteps: 5 },
};
const cases = values.case!.split(',').map((c) => {
  const k = CASES[c.trim()];
  if (!k) throw new Error(`--case: unknown case '${c}' (a, b)`);
  return values.batch ? { ...k, batch: Number(values.batch) } : k;
});
const methods = values.methods!.split(',').map((m) => {
  const s = METHOD_SPECS[m.trim()];
  if (!s) throw new Error(`--methods: unknown method '${m}' (${Object.keys(METHOD_SPECS).join(', ')})`);
  return { key: m.trim(), ...s };
});
const stepsFor = (c: Case) => Number(values.steps ?? (c.size >= 224 && device === 'cpu' ? 3 : 5));
const warmupFor = (c: Case) => Math.max(Number(values.warmup ?? 2), values['cuda-graph'] ? 2 : 0);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Deterministic images in [0, 1] and labels (the peer draws its own: the values do not change the work). */
function batchData(c: Case): { x: Float32Array; y: Int32Array; shape: number[] } {
  const shape = [c.batch, c.size, c.size, 3];
  const x = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = 12345 >>> 0;
  for (let i = 0; i < x.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; x[i] = s / 4294967296; }
  const y = new Int32Array(c.batch);
  for (let i = 0; i < y.length; i++) y[i] = (i * 7919) % c.classes;
  return { x, y, shape };
}

interface Timing { method: string; stepMs: number; imagesPerS: number; steps: number[]; sysAllocs?: number; peakMiB?: number }
interface PeerResult { version: string; threads: number; note: string; results: Timing[]; compiled?: Timing[] }

function makeTrainer(c: Case, m: MethodSpec) {
  const model = ap.models.efficientnet('b0', { numClasses: c.classes, domains: 2, seed: 1, device });
  const trainer = new Trainer(model, {
    method: m.method, epsilon: m.epsilon, attackSteps: m.attackSteps || undefined, lr: 0.016, ema: false, precision, cudaGraph: values['cuda-graph'],
  });
  return { model, trainer };
}

function runOurs(c: Case): { timings: Timing[]; profiles: { method: string; table: ProfileTable }[] } {
  const data = batchData(c);
  const input = ap.tensor(data.x, data.shape, { device });
  // --input u8: two byte batches taking turns, each step given the other as its `next`.
  const bytes = [0, 1].map((k) => Uint8Array.from(data.x, (v, i) => (Math.round(v * 255) + k * (i & 1)) & 255));
  let turn = 0;
  const step = (trainer: Trainer): void => {
    if (values.input === 'tensor') { trainer.step({ x: input, y: data.y }); return; }
    const cur = bytes[turn]!, nxt = bytes[1 - turn]!;
    turn = 1 - turn;
    trainer.step({ x: cur, shape: data.shape, y: data.y }, { next: { x: nxt, shape: data.shape, y: data.y } });
  };
  const timings: Timing[] = [];
  const profiles: { method: string; table: ProfileTable }[] = [];
  for (const m of methods) {
    const { model, trainer } = makeTrainer(c, m);
    // Progress on stderr, so that a run cut off by a time limit (a lent GPU's slot) still shows
    // how far it got and what the first steps cost.
    const note = (what: string, t0: bigint) =>
      process.stderr.write(`  [${c.name} ${m.name}] ${what} ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms\n`);
    for (let i = 0; i < warmupFor(c); i++) {
      const t0 = process.hrtime.bigint();
      step(trainer);
      ap.synchronize(device);
      note(`warm-up step ${i + 1}/${warmupFor(c)}`, t0);
    }
    const ts: number[] = [];
    // Allocations the device allocator could not serve from its cache: 0 in a steady state.
    const allocs0 = ap.memory().devices[deviceKey]!.systemAllocs;
    ap.resetPeakMemory(device);
    for (let i = 0; i < stepsFor(c); i++) {
      const t0 = process.hrtime.bigint();
      step(trainer);
      ap.synchronize(device);
      ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
      note(`step ${i + 1}/${stepsFor(c)}`, t0);
    }
    const sysAllocs = (ap.memory().devices[deviceKey]!.systemAllocs - allocs0) / stepsFor(c);
    const stepMs = median(ts);
    const peakMiB = ap.memory().devices[deviceKey]!.peakBytesInUse / 2 ** 20;
    timings.push({ method: m.name, stepMs, imagesPerS: (c.batch * 1000) / stepMs, steps: ts, sysAllocs, peakMiB });
    if (trainer.cudaGraphStats) process.stderr.write(`  [${c.name} ${m.name}] CUDA graph: ${JSON.stringify(trainer.cudaGraphStats)}${trainer.cudaGraphFallback ? `, eager because ${trainer.cudaGraphFallback}` : ''}\n`);
    process.stderr.write(`  ours ${precision}${values['cuda-graph'] ? ' graph' : ''} ${m.name}, batch ${c.batch}, input ${values.input}: ${stepMs.toFixed(1)} ms, ` +
      `${((c.batch * 1000) / stepMs).toFixed(1)} img/s, peak ${peakMiB.toFixed(0)} MiB\n`);
    if (profiling) {
      const p = new Profiler(device);
      p.start();
      const t0 = process.hrtime.bigint();
      step(trainer);
      ap.synchronize(device);
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      p.stop();
      profiles.push({ method: m.name, table: p.table(wall) });
    }
    trainer.dispose();
    for (const t of model.parameters()) t.dispose();
    for (const [, b] of model.namedBuffers()) b.dispose();
  }
  input.dispose();
  return { timings, profiles };
}

// ---- the PyTorch peer ---------------------------------------------------------------------------
const pythons = values.python ? [values.python] : ['python3', '/usr/bin/python3'];
const torchCheck = device === 'cuda' ? 'import torch, torchvision; assert torch.cuda.is_available()' : 'import torch, torchvision';
let peerSkipped = '';
const python = values['no-peer'] || (device !== 'cpu' && device !== 'cuda') ? undefined
  : pythons.find((p) => spawnSync(p, ['-c', torchCheck], { stdio: 'ignore' }).status === 0);
if (values['no-peer']) peerSkipped = '--no-peer';
else if (device !== 'cpu' && device !== 'cuda') peerSkipped = `no PyTorch peer for device ${device}`;
else if (!python) peerSkipped = `no python with torch and torchvision${device === 'cuda' ? ' and CUDA' : ''} (tried ${pythons.join(', ')})`;

function runPeer(c: Case): PeerResult | undefined {
  if (!python || peerSkipped) return undefined;
  const script = fileURLToPath(new URL('./torch/step.py', import.meta.url));
  const cfg = { device, threads, precision, compileLimitS: Number(values['compile-limit']), size: c.size, batch: c.batch, classes: c.classes, steps: stepsFor(c), warmup: warmupFor(c),
    methods: methods.map((m) => ({ name: m.name, method: m.method, epsilon: m.epsilon, attackSteps: m.attackSteps })) };
  const r = spawnSync(python, [script], {
    input: JSON.stringify(cfg), encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['pipe', 'pipe', 'inherit'],
    // As bench/conv.ts: keep large blocks on the heap so glibc's fresh mmaps are not timed.
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' },
  });
  if (r.status !== 0) {
    process.stderr.write(`bench/torch/step.py failed (case ${c.name}): exit ${r.status ?? r.signal} (its stderr is above)\n`);
    return undefined;
  }
  return JSON.parse(r.stdout) as PeerResult;
}

// ---- run and report -----------------------------------------------------------------------------
const f1 = (v: number) => v.toFixed(1);
const out: unknown[] = [];
console.log(`device ${device}, ${threads} threads, precision ${precision}, warm-up then median of timed steps; ` +
  `peer: ${peerSkipped || `PyTorch via ${python}`}`);
const bestOf = <T extends { method: string; stepMs: number; imagesPerS: number }>(a: T[] | undefined, b: T[]): T[] =>
  !a ? b : a.map((t, i) => (b[i] && b[i].stepMs < t.stepMs ? b[i] : t));
for (const c of cases) {
  const load0 = loadavg()[0];
  let ours: ReturnType<typeof runOurs> | undefined;
  let peer: PeerResult | undefined;
  for (let r = 0; r < Math.max(1, Number(values.rounds)); r++) {
    const o = runOurs(c);
    ours = ours ? { timings: bestOf(ours.timings, o.timings), profiles: ours.profiles } : o;
    const p = runPeer(c);
    if (p) peer = peer ? { ...p, results: bestOf(peer.results, p.results) } : p;
  }
  if (!ours) throw new Error('no rounds');
  console.log(`\ncase (${c.name}) EfficientNet-B0 ${c.size}x${c.size}, batch ${c.batch}, ${c.classes} classes, ` +
    `${warmupFor(c)} warm-up + ${stepsFor(c)} timed steps, best of ${values.rounds} round(s), load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}` +
    `\n  allocs: system allocations per timed step (buffers the allocator's cache could not serve)` +
    (peer ? `\n  torch ${peer.version}, ${peer.threads} threads, ${peer.note}` : ''));
  const head = `${'method'.padEnd(14)}${'ms/step'.padStart(10)}${'img/s'.padStart(9)}${'allocs'.padStart(8)}${'peak MiB'.padStart(10)}` +
    (peer ? `${'torch ms'.padStart(10)}${'torch img/s'.padStart(12)}${'torch MiB'.padStart(10)}${'ours/torch'.padStart(11)}` : '');
  console.log(head);
  const van = ours.timings.find((t) => t.method === 'vanilla');
  for (const t of ours.timings) {
    const p = peer?.results.find((r) => r.method === t.method);
    console.log(`${t.method.padEnd(14)}${f1(t.stepMs).padStart(10)}${f1(t.imagesPerS).padStart(9)}${f1(t.sysAllocs ?? 0).padStart(8)}${(t.peakMiB ?? 0).toFixed(0).padStart(10)}` +
      (p ? `${f1(p.stepMs).padStart(10)}${f1(p.imagesPerS).padStart(12)}${(p.peakMiB ?? 0).toFixed(0).padStart(10)}${(t.stepMs / p.stepMs).toFixed(2).padStart(10)}x` : ''));
  }
  for (const p of peer?.compiled ?? []) {
    const t = ours.timings.find((u) => u.method === p.method);
    console.log(`  torch.compile ${p.method}: ${f1(p.stepMs)} ms, ${f1(p.imagesPerS)} img/s` + (t ? `, ours/torch ${(t.stepMs / p.stepMs).toFixed(2)}x` : ''));
  }
  if (van) {
    for (const t of ours.timings.filter((u) => u !== van)) {
      const p = peer?.results.find((r) => r.method === t.method), pv = peer?.results.find((r) => r.method === 'vanilla');
      console.log(`  ${t.method} / vanilla step time: ours ${(t.stepMs / van.stepMs).toFixed(2)}` +
        (p && pv ? `, torch ${(p.stepMs / pv.stepMs).toFixed(2)}` : ''));
    }
  }
  for (const p of ours.profiles) {
    console.log(`\nprofile of one step, case (${c.name}), ${p.method}:`);
    console.log(Profiler.format(p.table));
  }
  out.push({ case: c, ours: ours.timings, peer, profiles: ours.profiles });
  // Method names as the roofline's --measured looks them up: 'vanilla', 'advprop ε=1', ...
  if (values['profile-json']) writeFileSync(values['profile-json'], profileJson({ device, precision, case: c }, ours.profiles));
}
if (profiling) {
  const o = callOverhead(device);
  console.log(`\nper-call overhead (${device}): a [1]+[1] add through ap.kernels ${o.kernelUs.toFixed(2)} µs, ` +
    `through the raw addon binding ${o.rawUs.toFixed(2)} µs, an empty JS call ${o.jsUs.toFixed(3)} µs` +
    (device === 'cpu' ? '' : ' (launch included, synchronised once per 2000 calls)'));
}
if (values.json) console.log(JSON.stringify(out));
