// Input-pipeline benchmark (issue 18, item 5): images per second of EfficientNet's full training
// transform on image files — the loader's decode (libjpeg-turbo through the addon where available,
// else sharp; ADVPROP_JPEG=sharp forces sharp) with the random-resized crop to 224 inside the
// decoder, flip, AutoAugment (ImageNet policy), into the batches `advprop train` uses (uint8 NHWC,
// normalised on the device) and, as a second pair of rows, into f32 batches (the output of the
// peer's ToTensor) — through ap.data.DataLoader, with one worker
// and with one worker per core. The data are --images generated 500×375 JPEGs (ImageNet's typical
// size, quality 90, 4:2:0), written by sharp into a temporary ImageFolder; nothing is downloaded.
// In the same run, bench/torch/data.py times torchvision's ImageFolder + RandomResizedCrop(224) +
// RandomHorizontalFlip + AutoAugment(IMAGENET) + ToTensor on PIL, with DataLoader num_workers 0
// and = cores, when `python3 -c 'import torch, torchvision'` works. Rates are wall-clock images/s
// over --count images after one warm-up batch, in --rounds rounds that alternate ours and the
// peer (a shared machine's speed drifts), medians reported; "per CPU-s" divides by the CPU time the process
// (workers and thread pool included; for torch, its worker processes) used meanwhile.
// Flip and AutoAugment run in the addon (native/cpu/augment.cc); --decode-ahead is the loader's decodeAhead.
//   npm run bench:data [-- --images 200] [--count 600] [--batch 32] [--workers N] [--decode-ahead 1] [--rounds 3] [--no-peer]
//     [--python PATH] [--json]
// Targets (issue 18): one worker at least 1.0× torchvision's num_workers 0; all workers at least
// 0.8 × cores × our one-worker rate.
import { parseArgs } from 'node:util';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as ap from '../lib/index.js';
import { jpegDecoder } from '../lib/data/jpeg_decode.js';
import { imageTrainTransforms } from '../lib/data/efficientnet_transforms.js';
import { decodeFile } from '../lib/data/sharp_decode.js';
import { makeImage } from './data_images.js';

// sharp works on libuv's thread pool (4 threads by default), which starts before any of this
// module runs: start again with a pool as large as the CLI's launcher makes it.
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, availableParallelism() + 2)) },
  });
  process.exit(r.status ?? 1);
}

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '200' }, count: { type: 'string', default: '600' }, batch: { type: 'string', default: '32' },
    workers: { type: 'string' }, 'decode-ahead': { type: 'string', default: '1' }, rounds: { type: 'string', default: '3' }, 'no-peer': { type: 'boolean' }, python: { type: 'string' }, json: { type: 'boolean' },
  },
});
const nImages = Number(values.images), count = Number(values.count), batch = Number(values.batch);
const cores = Number(values.workers ?? availableParallelism());
const load0 = loadavg();

const root = mkdtempSync(join(tmpdir(), 'advprop-bench-data-'));
let bytes = 0;
for (let i = 0; i < nImages; i++) {
  const dir = join(root, `class${i % 4}`);
  mkdirSync(dir, { recursive: true });
  const buf = await makeImage(i + 1);
  bytes += buf.length;
  await sharp(buf).toFile(join(dir, `img${String(i).padStart(4, '0')}.jpg`));
}

// ---- shrink-on-load: a big JPEG decoded whole vs. cropped by the decoder ------------------------
async function perImage(f: () => Promise<unknown>, n: number): Promise<number> {
  await f();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  return (performance.now() - t0) / n;
}
const big = join(root, 'big.jpeg.tmp');
await sharp(await makeImage(999)).resize(2000, 1500).jpeg({ quality: 90 }).toFile(big);
const wide: ap.data.TransformSpec = { name: 'randomResizedCrop', size: 224, scale: [0.9, 1] };
const decodeMs = {
  full2000: await perImage(() => decodeFile(big, 3), 10),
  crop2000: await perImage(() => decodeFile(big, 3, wide, new ap.data.Rng(1)), 10),
  full500: await perImage(() => decodeFile(join(root, 'class0', 'img0000.jpg'), 3), 50),
};
rmSync(big);

// ---- ours ---------------------------------------------------------------------------------------
interface Result { workers: number; images: number; seconds: number; rate: number; cpu_seconds: number }
async function ours(workers: number, output: 'uint8' | 'float'): Promise<Result> {
  const ds = ap.data.openDataset(root, 'train');
  const loader = new ap.data.DataLoader(ds, { batchSize: batch, seed: 0, workers, prefetch: Math.max(2, workers * 2), decodeAhead: Number(values['decode-ahead']), output, transforms: imageTrainTransforms('autoaugment', 224) });
  let seen = 0, t0 = 0, c0 = 0;
  try {
    for (let epoch = 0; seen < count; epoch++)
      for await (const b of loader.epoch(epoch)) {
        if (t0 === 0) { // the warm-up batch (starts the workers)
          t0 = performance.now();
          const u = process.cpuUsage();
          c0 = (u.user + u.system) / 1e6;
          continue;
        }
        seen += b.shape[0];
        if (seen >= count) break;
      }
  } finally {
    loader.close();
  }
  const seconds = (performance.now() - t0) / 1000, u = process.cpuUsage();
  return { workers, images: seen, seconds, rate: seen / seconds, cpu_seconds: (u.user + u.system) / 1e6 - c0 };
}

// ---- the torchvision peer, one process answering one run per line -----------------------------
const pythons = values.python ? [values.python] : ['/usr/bin/python3', 'python3'];
const python = values['no-peer'] ? undefined : pythons.find((p) => spawnSync(p, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0);
let peerSkipped = values['no-peer'] ? '--no-peer' : python ? '' : `no python with torch and torchvision (tried ${pythons.join(', ')})`;
let peerInfo: { version: string; torchvision: string; pil: string; note: string } | undefined;
let peerRun: ((workers: number) => Promise<Result>) | undefined;
let child: ReturnType<typeof spawn> | undefined;
if (python) {
  child = spawn(python, [fileURLToPath(new URL('./torch/data.py', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const l = await lines.next();
    if (l.done) throw new Error('bench/torch/data.py ended early');
    return l.value;
  };
  try {
    peerInfo = JSON.parse(await next());
    peerRun = async (workers) => {
      child!.stdin!.write(JSON.stringify({ root, workers, batch, images: count }) + '\n');
      return JSON.parse(await next()) as Result;
    };
  } catch (e) {
    peerSkipped = `bench/torch/data.py failed: ${(e as Error).message}`;
  }
}

// Rounds alternate ours and the peer, so both see the same load; the medians are reported.
const rounds = Number(values.rounds);
const runs: Record<string, Result[]> = { ours1: [], oursN: [], ours1f: [], oursNf: [], peer0: [], peerN: [] };
for (let r = 0; r < rounds; r++) {
  runs.ours1!.push(await ours(1, 'uint8'));
  runs.ours1f!.push(await ours(1, 'float'));
  if (peerRun) runs.peer0!.push(await peerRun(0));
  runs.oursN!.push(await ours(cores, 'uint8'));
  runs.oursNf!.push(await ours(cores, 'float'));
  if (peerRun) runs.peerN!.push(await peerRun(cores));
}
child?.stdin?.end();
rmSync(root, { recursive: true, force: true });
const load1 = loadavg();
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const summary = (rs: Result[]): Result & { rates: number[] } => ({
  workers: rs[0]?.workers ?? 0, images: rs.reduce((a, x) => a + x.images, 0), seconds: rs.reduce((a, x) => a + x.seconds, 0),
  rate: median(rs.map((x) => x.rate)), cpu_seconds: rs.reduce((a, x) => a + x.cpu_seconds, 0), rates: rs.map((x) => x.rate),
});
const mine = [summary(runs.ours1!), summary(runs.oursN!), summary(runs.ours1f!), summary(runs.oursNf!)];
const peer = peerInfo && runs.peer0!.length ? { ...peerInfo, results: [summary(runs.peer0!), summary(runs.peerN!)] } : undefined;
const ratio = (a: Result[], b: Result[]): number => median(a.map((x, i) => x.rate / b[i]!.rate));

// ---- report -------------------------------------------------------------------------------------
const report = {
  machine: `${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores`, node: process.version, sharp: sharp.versions.sharp, vips: sharp.versions.vips,
  jpegDecoder: jpegDecoder(),
  loadavg: { before: load0, after: load1 }, images: nImages, meanJpegBytes: Math.round(bytes / nImages), count, batch, cores,
  decodeMs, rounds, ours: mine, peer: peer ?? null, peerSkipped: peerSkipped || null,
};
if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const f = (x: number): string => x.toFixed(1);
  const line = (who: string, r: Result): string =>
    `  ${who.padEnd(34)} ${String(r.workers).padStart(2)} ${f(r.rate).padStart(8)} img/s  ${f(r.images / r.cpu_seconds).padStart(7)} img per CPU-s  (rounds: ${(r as Result & { rates: number[] }).rates.map(f).join(', ')})`;
  console.log(`data pipeline: ${report.machine}, load average ${load0.map((x) => x.toFixed(2)).join(' ')} (after: ${load1.map((x) => x.toFixed(2)).join(' ')})`);
  console.log(`  ${nImages} generated 500×375 JPEGs (mean ${report.meanJpegBytes} bytes), ${count} images timed per row, batch ${batch}`);
  const dec = report.jpegDecoder.name === 'libjpeg' ? `libjpeg-turbo (${report.jpegDecoder.detail}) through the addon` : `sharp ${report.sharp}, libvips ${report.vips} (${report.jpegDecoder.detail})`;
  console.log(`  JPEG decode (${dec}, one thread): 500×375 whole ${decodeMs.full500.toFixed(2)} ms; ` +
    `2000×1500 whole ${decodeMs.full2000.toFixed(2)} ms, random-resized crop to 224 ${decodeMs.crop2000.toFixed(2)} ms (shrink-on-load)`);
  console.log(`  decodeAhead ${values['decode-ahead']}`);
  console.log(`  ${rounds} rounds, each: ours 1 worker (uint8, f32), torchvision num_workers 0, ours ${cores} workers (uint8, f32), torchvision ${cores}; medians`);
  console.log('  pipeline                           workers   rate');
  console.log(line(`advprop (${report.jpegDecoder.name}), uint8 batches`, mine[0]!));
  console.log(line('advprop, uint8 batches', mine[1]!));
  console.log(line('advprop, f32 batches', mine[2]!));
  console.log(line('advprop, f32 batches', mine[3]!));
  if (peer) {
    console.log(line(`torchvision ${peer.torchvision} (PIL ${peer.pil})`, peer.results[0]!));
    console.log(line('torchvision', peer.results[1]!));
    console.log(`  one worker vs torchvision num_workers 0: ${ratio(runs.ours1!, runs.peer0!).toFixed(2)}× with uint8 batches ` +
      `(median of the rounds' ratios; target ≥ 1.0×), ${ratio(runs.ours1f!, runs.peer0!).toFixed(2)}× with f32 batches; ` +
      `${cores} workers vs torchvision num_workers ${cores}: ${ratio(runs.oursN!, runs.peerN!).toFixed(2)}× (f32 ${ratio(runs.oursNf!, runs.peerN!).toFixed(2)}×)`);
  } else {
    console.log(`  torchvision: skipped (${peerSkipped})`);
  }
  const scale = ratio(runs.oursN!, runs.ours1!), scaleF = ratio(runs.oursNf!, runs.ours1f!);
  console.log(`  scaling: ${cores} workers give ${scale.toFixed(2)}× one worker = ${(scale / cores).toFixed(2)} × cores × the one-worker rate ` +
    `with uint8 batches (target ≥ 0.8), ${(scaleF / cores).toFixed(2)} with f32 batches`);
}
