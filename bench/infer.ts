// Inference benchmark (issue 19, item 5): the eval-mode forward of EfficientNet-B0 (clean BN
// domain, running statistics, no dropout or drop-connect, no autograd recording: ap.noGrad),
// fp32, default 224×224 batch 8 on the cpu, median of --iters timed forwards after --warmup
// untimed ones. Ours runs each path in --paths, taking turns:
//   fused  the default eval forward: BN (and its activation) applied in the epilogue of the
//          convolution before it (the inference path, docs/ARCHITECTURE.md §11);
//   plain  the same model with `{ fuse: false }`: every conv, then every BN as its own kernel;
//   taped  (not by default) the plain path without ap.noGrad: what an eval forward costs when the
//          tape records it (saved tensors, no inference path), as a caller that forgets noGrad pays.
// When `python3 -c 'import torch, torchvision'` works, bench/torch/infer.py times torchvision's
// efficientnet_b0 (eval, channels_last, torch.no_grad, same thread count) in the same run.
// onnxruntime-node, when importable (a dev dependency): on the cpu the bench exports its own model
// (ap.io.exportOnnx, domain 0, BN folded, NHWC) and times it on the same input with the same
// thread count; --onnx FILE times another export instead (--onnx-layout nhwc|nchw: its input
// layout, [0, 1] images), --no-onnx skips it.
//   npm run bench -- --infer [--device cpu] [--size 224] [--batch 8] [--iters 10] [--warmup 3]
//     [--paths fused,plain] [--rounds 1] [--profile] [--no-peer] [--python PATH] [--onnx FILE]
//     [--onnx-layout nhwc|nchw] [--no-onnx] [--json]
// (bench/step.ts hands over to this file when --infer is given.)
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ap from '../lib/index.js';
import { Profiler } from './profile.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function images(n: number, size: number): { x: Float32Array; shape: number[] } {
  const shape = [n, size, size, 3];
  const x = new Float32Array(n * size * size * 3);
  let s = 12345 >>> 0;
  for (let i = 0; i < x.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; x[i] = s / 4294967296; }
  return { x, shape };
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      device: { type: 'string', default: 'cpu' },
      size: { type: 'string', default: '224' },
      batch: { type: 'string', default: '8' },
      classes: { type: 'string', default: '1000' },
      iters: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      paths: { type: 'string', default: 'fused,plain' },
      rounds: { type: 'string', default: '1' },
      profile: { type: 'boolean', default: false },
      'no-peer': { type: 'boolean', default: false },
      python: { type: 'string' },
      onnx: { type: 'string' },
      'onnx-layout': { type: 'string', default: 'nhwc' },
      'no-onnx': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const device = values.device!;
  const size = Number(values.size), batch = Number(values.batch), classes = Number(values.classes);
  const iters = Number(values.iters), warmup = Number(values.warmup), rounds = Math.max(1, Number(values.rounds));
  const paths = values.paths!.split(',').map((p) => p.trim());
  for (const p of paths) if (!['fused', 'plain', 'taped'].includes(p)) throw new Error(`--paths: fused, plain or taped, got '${p}'`);
  const threads = ap.buildInfo().threads;
  const data = images(batch, size);

  const model = ap.models.efficientnet('b0', { numClasses: classes, domains: 2, seed: 1, device });
  model.eval();
  const input = ap.tensor(data.x, data.shape, { device });
  const forward = (path: string): void => {
    ap.tidy(() => {
      const run = (): void => {
        model.forward(input, { fuse: path === 'fused' });
        ap.synchronize(device);
      };
      if (path === 'taped') run();
      else ap.noGrad(run);
    });
  };
  // The paths take turns, iteration by iteration, so that load from elsewhere on a shared machine
  // hits them alike.
  const timeOurs = (): Map<string, number[]> => {
    const ts = new Map(paths.map((p) => [p, [] as number[]]));
    for (let i = 0; i < warmup; i++) for (const p of paths) forward(p);
    for (let i = 0; i < iters; i++)
      for (const p of (i % 2 ? [...paths].reverse() : paths)) {
        const t0 = now();
        forward(p);
        ts.get(p)!.push(now() - t0);
      }
    return ts;
  };

  // ---- the PyTorch peer -------------------------------------------------------------------------
  const pythons = values.python ? [values.python] : ['python3', '/usr/bin/python3'];
  let peerSkipped = '';
  const python = values['no-peer'] || device !== 'cpu' ? undefined
    : pythons.find((p) => spawnSync(p, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0);
  if (values['no-peer']) peerSkipped = '--no-peer';
  else if (device !== 'cpu') peerSkipped = `no PyTorch peer for device ${device} here`;
  else if (!python) peerSkipped = `no python with torch and torchvision (tried ${pythons.join(', ')})`;
  const runPeer = (): { version: string; threads: number; note: string; ms: number; runs: number[] } | undefined => {
    if (!python) return undefined;
    const script = fileURLToPath(new URL('./torch/infer.py', import.meta.url));
    const r = spawnSync(python, [script], {
      input: JSON.stringify({ threads, size, batch, classes, iters, warmup }), encoding: 'utf8', maxBuffer: 1 << 24,
      env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' },
    });
    if (r.status !== 0) {
      process.stderr.write(`bench/torch/infer.py failed: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}\n`);
      return undefined;
    }
    return JSON.parse(r.stdout);
  };

  // ---- onnxruntime-node on the exported model ------------------------------------------------
  // onnxruntime-node is a development dependency, never the library's: its absence is a printed
  // reason, not a failure. The default file is this model, exported with its BN folded.
  let onnxFile = values.onnx;
  if (!onnxFile && !values['no-onnx'] && device === 'cpu') {
    onnxFile = join(mkdtempSync(join(tmpdir(), 'advprop-infer-')), 'b0.onnx');
    ap.io.exportOnnx(model, onnxFile, { resolution: size, layout: 'nhwc', foldBn: true });
    values['onnx-layout'] = 'nhwc';
  }
  let onnxSkipped = onnxFile ? '' : values['no-onnx'] ? '--no-onnx' : 'onnxruntime is timed on the cpu only here';
  let runOnnx: (() => Promise<number[]>) | undefined;
  if (onnxFile && device !== 'cpu') onnxSkipped = 'onnxruntime is timed on the cpu only here';
  else if (onnxFile) {
    try {
      const ort = (await import('onnxruntime-node' as string)) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
      const session = await ort.InferenceSession.create(onnxFile, {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all',
      });
      let x = data.x, shape = data.shape;
      if (values['onnx-layout'] === 'nchw') {
        x = new Float32Array(data.x.length);
        const hw = size * size;
        for (let n = 0; n < batch; n++)
          for (let p = 0; p < hw; p++)
            for (let c = 0; c < 3; c++) x[(n * 3 + c) * hw + p] = data.x[(n * hw + p) * 3 + c];
        shape = [batch, 3, size, size];
      }
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, shape) };
      runOnnx = async () => {
        for (let i = 0; i < warmup; i++) await session.run(feeds);
        const ts: number[] = [];
        for (let i = 0; i < iters; i++) {
          const t0 = now();
          await session.run(feeds);
          ts.push(now() - t0);
        }
        return ts;
      };
    } catch (e) {
      onnxSkipped = `onnxruntime-node not usable: ${(e as Error).message.split('\n')[0]}`;
    }
  }

  // ---- run and report ---------------------------------------------------------------------------
  const best = new Map<string, number[]>();
  const keepBest = (k: string, ts: number[]): void => {
    const old = best.get(k);
    if (!old || median(ts) < median(old)) best.set(k, ts);
  };
  const load0 = loadavg()[0];
  let peer: ReturnType<typeof runPeer>;
  for (let r = 0; r < rounds; r++) {
    for (const [p, ts] of timeOurs()) keepBest(p, ts);
    if (runOnnx) keepBest('onnx', await runOnnx());
    const pr = runPeer();
    if (pr && (!peer || pr.ms < peer.ms)) peer = pr;
  }
  const load1 = loadavg()[0];
  const f1 = (v: number): string => v.toFixed(1);
  console.log(`inference: EfficientNet-B0 ${size}x${size}, batch ${batch}, ${classes} classes, fp32 eval forward, device ${device}, ` +
    `${threads} threads; ${warmup} warm-up + median of ${iters}, best of ${rounds} round(s); load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}`);
  console.log(`  peer: ${peerSkipped || (peer ? `torch ${peer.version}, ${peer.threads} threads, ${peer.note}` : 'failed')}`);
  console.log(`  onnxruntime: ${onnxSkipped || `onnxruntime-node, ${values.onnx ?? 'this model exported (BN folded)'} (${values['onnx-layout']})`}`);
  const ref = best.get('onnx') ? median(best.get('onnx')!) : undefined;
  console.log(`${'path'.padEnd(22)}${'ms'.padStart(9)}${'img/s'.padStart(9)}${'/ torch'.padStart(9)}${'/ onnxrt'.padStart(10)}`);
  const row = (name: string, ms: number): void => console.log(`${name.padEnd(22)}${f1(ms).padStart(9)}${f1((batch * 1000) / ms).padStart(9)}` +
    `${peer ? (ms / peer.ms).toFixed(2).padStart(8) + 'x' : ''.padStart(9)}${ref ? (ms / ref).toFixed(2).padStart(9) + 'x' : ''}`);
  for (const p of paths) row(`ours ${p}`, median(best.get(p)!));
  if (ref) row('onnxruntime-node', ref);
  if (peer) row('torch eager', peer.ms);

  if (values.profile) {
    for (const p of paths) {
      const prof = new Profiler(device);
      prof.start();
      const t0 = now();
      forward(p);
      const wall = now() - t0;
      prof.stop();
      console.log(`\nprofile of one ${p} forward:`);
      console.log(Profiler.format(prof.table(wall)));
    }
  }
  if (values.json) {
    console.log(JSON.stringify({ size, batch, classes, threads, device, load: [load0, load1],
      ours: Object.fromEntries(paths.map((p) => [p, { ms: median(best.get(p)!), runs: best.get(p) }])),
      onnx: ref, peer }));
  }
  input.dispose();
  model.dispose();
}

// Run directly (node --import tsx bench/infer.ts ...) as well as through bench/step.ts --infer.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main(process.argv.slice(2));
