// Where one image's time goes in the input pipeline (issue 18): each stage of a loader worker's
// work timed on its own on this thread (one core, as a worker is), with the JavaScript and the
// native augmentation kernels side by side, then the main thread's share while DataLoaders with
// 1 and N workers run the full training transform (RRC 224, flip, AutoAugment, f32 batch).
//   node --import tsx bench/data_profile.ts [-- --images 48] [--reps 40] [--workers N] [--markdown]
import { parseArgs } from 'node:util';
import { readFileSync, readdirSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ap from '../lib/index.js';
import { applyOp, autoAugment, type Op } from '../lib/data/autoaugment.js';
import { JS_KERNELS } from '../lib/data/augment_js.js';
import { NATIVE_KERNELS } from '../lib/data/augment_native.js';
import { unitFloats } from '../lib/data/batch.js';
import { imageTrainTransforms } from '../lib/data/efficientnet_transforms.js';
import { decodeBuffer } from '../lib/data/sharp_decode.js';
import type { Image, TransformSpec } from '../lib/data/transforms.js';
import { jpegDecoder } from '../lib/data/jpeg_decode.js';
import { makeImage } from './data_images.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '48' }, reps: { type: 'string', default: '40' }, workers: { type: 'string' }, markdown: { type: 'boolean' } } });
const nImages = Number(values.images), reps = Number(values.reps), cores = Number(values.workers ?? availableParallelism());
const load0 = loadavg();

const root = mkdtempSync(join(tmpdir(), 'advprop-profile-data-'));
const paths: string[] = [];
for (let i = 0; i < nImages; i++) {
  const dir = join(root, `class${i % 4}`);
  mkdirSync(dir, { recursive: true });
  const p = join(dir, `img${String(i).padStart(4, '0')}.jpg`);
  writeFileSync(p, await makeImage(i + 1));
  paths.push(p);
}

/** Mean CPU ms (this process, libvips' threads included) per call of f over `n` calls after a
 * warm-up: on a shared machine, CPU time moves less than wall time with other processes' load. */
async function perCall(n: number, f: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(n, 8); i++) await f(i);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await f(i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

const rrc: TransformSpec = { name: 'randomResizedCrop', size: 224 };
const bufs = paths.map((p) => readFileSync(p));
const rows: Array<[string, number, number | null]> = [];
rows.push(['read file (readFileSync, ~55 kB)', await perCall(reps * 4, (i) => readFileSync(paths[i % nImages]!)), null]);
rows.push([`${jpegDecoder().name} decode + random-resized crop to 224`, await perCall(reps * 2, (i) => decodeBuffer(bufs[i % nImages]!, 'x', 3, rrc, new ap.data.Rng(0, 0, i))), null]);
const crops: Image[] = [];
for (let i = 0; i < 16; i++) crops.push((await decodeBuffer(bufs[i % nImages]!, 'x', 3, rrc, new ap.data.Rng(0, 0, i))).image);
const img = (i: number): Image => crops[i % crops.length]!;
rows.push(['flip', await perCall(reps * 4, (i) => JS_KERNELS.flip(img(i))), await perCall(reps * 4, (i) => NATIVE_KERNELS.flip(img(i)))]);
const OPS: Op[] = ['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness', 'Color', 'Contrast', 'Sharpness', 'Posterize', 'Solarize', 'AutoContrast', 'Equalize', 'Invert'];
for (const op of OPS)
  rows.push([`  AutoAugment op ${op} (magnitude 5)`, await perCall(reps, (i) => applyOp(img(i), op, 5, new ap.data.Rng(i), 9, JS_KERNELS)),
    await perCall(reps, (i) => applyOp(img(i), op, 5, new ap.data.Rng(i), 9, NATIVE_KERNELS))]);
rows.push(['AutoAugment, ImageNet policy (mean per image)', await perCall(reps * 4, (i) => autoAugment(img(i), new ap.data.Rng(1, i), JS_KERNELS)),
  await perCall(reps * 4, (i) => autoAugment(img(i), new ap.data.Rng(1, i), NATIVE_KERNELS))]);
rows.push(['bytes to f32 (the batch\'s share per image)', await perCall(reps * 4, (i) => unitFloats(img(i).data)), null]);
rows.push(['bytes copied into a uint8 batch', await perCall(reps * 4, (i) => new Uint8Array(img(i).data.length).set(img(i).data)), null]);

// CPU ms of this process's threads from /proc (10 ms ticks), grouped: the main thread, libuv's
// pool (sharp's decodes), the rest by thread name (the loader workers' JS threads, V8's helpers).
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>(), tick = 10;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1'), comm = readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').trim();
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * tick;
      const key = Number(tid) === process.pid ? 'main thread' : comm.startsWith('libuv') ? 'libuv pool (sharp)' : comm.startsWith('V8') ? 'V8 helpers' : `${comm} threads`;
      out.set(key, (out.get(key) ?? 0) + ms);
    } catch { /* the thread ended */ }
  }
  return out;
}

// The main thread while workers prepare: its event loop's busy share and CPU per image.
async function mainShare(workers: number, decodeAhead: number): Promise<{ rate: number; mainBusyMsPerImage: number; mainElu: number; cpu: Map<string, number> }> {
  const ds = ap.data.openDataset(root, 'train');
  const loader = new ap.data.DataLoader(ds, { batchSize: 16, seed: 0, workers, prefetch: Math.max(2, workers * 2), decodeAhead, transforms: imageTrainTransforms('autoaugment', 224) });
  let seen = 0, t0 = 0, elu0 = performance.eventLoopUtilization(), cpu0 = new Map<string, number>();
  try {
    for (let epoch = 0; seen < nImages * 4; epoch++)
      for await (const b of loader.epoch(epoch)) {
        if (t0 === 0) { t0 = performance.now(); elu0 = performance.eventLoopUtilization(); cpu0 = threadCpu(); continue; }
        seen += b.shape[0];
        if (seen >= nImages * 4) break;
      }
  } finally {
    loader.close();
  }
  const ms = performance.now() - t0, elu = performance.eventLoopUtilization(elu0), cpu1 = threadCpu();
  const cpu = new Map([...cpu1].map(([k, v]) => [k, (v - (cpu0.get(k) ?? 0)) / seen] as [string, number]));
  return { rate: (seen / ms) * 1000, mainBusyMsPerImage: elu.active / seen, mainElu: elu.utilization, cpu };
}
const share = [[1, 0], [1, 1], [cores, 0], [cores, 1]].map(([w, a]) => ({ w: w!, a: a! }));
const shares = [];
for (const { w, a } of share) shares.push({ w, a, ...(await mainShare(w, a)) });
rmSync(root, { recursive: true, force: true });
const load1 = loadavg();

const f = (x: number | null): string => (x === null ? '—' : x.toFixed(3));
console.log(`data pipeline profile: ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, ${new Date().toISOString().slice(0, 16)} UTC, load average ${load0.map((x) => x.toFixed(2)).join(' ')} (after: ${load1.map((x) => x.toFixed(2)).join(' ')})`);
console.log('| stage, one image (224×224×3 after the crop), CPU ms | JS kernels | native kernels |');
console.log('|---|---:|---:|');
for (const [name, js, nat] of rows) console.log(`| ${name} | ${f(js)} | ${f(nat)} |`);
for (const s of shares) {
  const w = `${s.w}, decodeAhead ${s.a}`;
  console.log(`| DataLoader, ${w} worker(s), ${s.rate.toFixed(1)} img/s: main thread busy ms per image (event-loop utilisation ${(s.mainElu * 100).toFixed(0)} %) | | ${f(s.mainBusyMsPerImage)} |`);
  for (const [k, v] of [...s.cpu].sort((a, b) => b[1] - a[1])) if (v > 0) console.log(`|   ${w} worker(s): CPU ms per image, ${k} | | ${f(v)} |`);
}
