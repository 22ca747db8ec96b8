import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as ap from '/work/main/lib/index.ts';
import { imageTrainTransforms } from '/work/main/lib/data/efficientnet_transforms.ts';
import { makeImage } from '/work/main/bench/data_images.ts';
const root = '/tmp/jt/ds';
if (!existsSync(root)) for (let i = 0; i < 200; i++) { const d = `${root}/train/c${i % 4}`; mkdirSync(d, { recursive: true }); writeFileSync(`${d}/i${i}.jpg`, await makeImage(i + 1)); }
const workers = Number(process.argv[2] ?? 1), count = Number(process.argv[3] ?? 1200), output = (process.argv[4] ?? 'float') as 'float' | 'uint8';
const ds = ap.data.openDataset(root, 'train');
const loader = new ap.data.DataLoader(ds, { batchSize: 32, seed: 0, workers, prefetch: Math.max(2, workers * 2), output, transforms: imageTrainTransforms('autoaugment', 224) });
let seen = 0, t0 = 0, c0 = 0;
for (let e = 0; seen < count; e++) for await (const b of loader.epoch(e)) {
  if (!t0) { t0 = performance.now(); const u = process.cpuUsage(); c0 = u.user + u.system; continue; }
  seen += b.shape[0]; if (seen >= count) break;
}
loader.close();
const u = process.cpuUsage(), s = (performance.now() - t0) / 1000;
console.log(`${workers} workers ${output}: ${(seen / s).toFixed(1)} img/s, ${(seen / ((u.user + u.system - c0) / 1e6)).toFixed(1)} img per CPU-s`);
