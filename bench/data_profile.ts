// Where one image's time goes in the input pipeline (issue 18): each stage of a loader worker's
// work timed on its own on this thread (one core, as a worker is), with the JavaScript and the
// native augmentation kernels side by side, then the main thread's share while DataLoaders with
// 1 and N workers run the full training transform (RRC 224, flip, AutoAugment, f32 batch).
//   node --import tsx bench/data_profile.ts [-- --images 48] [--reps 40] [--workers N] [--markdown]
import { parseArgs } from 'node:util';
import { readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** Mean ms per call of f over `n` calls after one warm-up pass. */
async function perCall(n: number, f: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(n, 8); i++) await f(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f(i);
  return (performance.now() - t0) / n;
}

const rrc: TransformSpec = { name: 'randomResizedCrop', size: 224 };
const bufs = paths.map((p) => readFileSync(p));
const rows: Array<[string, number, number | null]> = [];
rows.push(['read file (readFileSync, ~55 kB)', await perCall(reps * 4, (i) => readFileSync(paths[i % nImages]!)), null]);
rows.push(['sharp decode + random-resized crop to 224', await perCall(reps * 2, (i) => decodeBuffer(bufs[i % nImages]!, 'x', 3, rrc, new ap.data.Rng(0, 0, i))), null]);
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

// The main thread while workers prepare: its event loop's busy share and CPU per image.
async function mainShare(workers: number): Promise<{ rate: number; mainBusyMsPerImage: number; mainElu: number }> {
  const ds = ap.data.openDataset(root, 'train');
  const loader = new ap.data.DataLoader(ds, { batchSize: 16, seed: 0, workers, prefetch: Math.max(2, workers * 2), transforms: imageTrainTransforms('autoaugment', 224) });
  let seen = 0, t0 = 0, elu0 = performance.eventLoopUtilization();
  try {
    for (let epoch = 0; seen < nImages * 4; epoch++)
      for await (const b of loader.epoch(epoch)) {
        if (t0 === 0) { t0 = performance.now(); elu0 = performance.eventLoopUtilization(); continue; }
        seen += b.shape[0];
        if (seen >= nImages * 4) break;
      }
  } finally {
    loader.close();
  }
  const ms = performance.now() - t0, elu = performance.eventLoopUtilization(elu0);
  return { rate: (seen / ms) * 1000, mainBusyMsPerImage: elu.active / seen, mainElu: elu.utilization };
}
const share = [await mainShare(1), await mainShare(cores)];
rmSync(root, { recursive: true, force: true });
const load1 = loadavg();

const f = (x: number | null): string => (x === null ? '—' : x.toFixed(3));
console.log(`data pipeline profile: ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, ${new Date().toISOString().slice(0, 16)} UTC, load average ${load0.map((x) => x.toFixed(2)).join(' ')} (after: ${load1.map((x) => x.toFixed(2)).join(' ')})`);
console.log('| stage, one image (224×224×3 after the crop), one core | JS ms | native ms |');
console.log('|---|---:|---:|');
for (const [name, js, nat] of rows) console.log(`| ${name} | ${f(js)} | ${f(nat)} |`);
for (const [i, s] of share.entries())
  console.log(`| main thread with ${i === 0 ? 1 : cores} worker(s): busy ms per image (event-loop utilisation ${(s.mainElu * 100).toFixed(0)} %, ${s.rate.toFixed(1)} img/s) | ${f(s.mainBusyMsPerImage)} | |`);
