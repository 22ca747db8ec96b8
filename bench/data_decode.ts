// sharp's per-image path, variants measured against the loader's (issue 18, item 3): the same
// random-resized crop to 224 of generated 500×375 JPEGs, one call at a time, CPU ms per image
// (this process, libvips' thread included) and whether the pixels are the loader's.
//   node --import tsx bench/data_decode.ts [-- --images 32] [--reps 3]
import { parseArgs } from 'node:util';
import sharp, { type Sharp } from 'sharp';
import * as ap from '../lib/index.js';
import { headerSize, decodeBuffer } from '../lib/data/sharp_decode.js';
import { randomResizedBox } from '../lib/data/transforms.js';
import { makeImage } from './data_images.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '32' }, reps: { type: 'string', default: '3' } } });
const n = Number(values.images), reps = Number(values.reps);
sharp.cache(false);
sharp.concurrency(1);
const bufs: Buffer[] = [];
for (let i = 0; i < n; i++) bufs.push(await makeImage(i + 1));

type Variant = (buf: Buffer, i: number) => Promise<Uint8Array>;
// The loader's geometry (sharp_decode.ts), with the pipeline's ends varied.
function geometry(buf: Buffer, i: number, open: () => Sharp): Sharp {
  const { width, height } = headerSize(buf)!;
  const box = randomResizedBox({ height, width }, new ap.data.Rng(0, 0, i), [0.08, 1], [3 / 4, 4 / 3]);
  const opts = { fit: 'fill' as const, kernel: 'linear' as const };
  if (Math.min(box.w / 224, box.h / 224) >= 2) {
    const sx = 224 / box.w, sy = 224 / box.h;
    const rw = Math.max(224, Math.round(width * sx)), rh = Math.max(224, Math.round(height * sy));
    const left = Math.max(0, Math.min(Math.round(box.left * sx), rw - 224)), top = Math.max(0, Math.min(Math.round(box.top * sy), rh - 224));
    return open().resize(rw, rh, opts).extract({ left, top, width: 224, height: 224 });
  }
  return open().extract({ left: box.left, top: box.top, width: box.w, height: box.h }).resize(224, 224, opts);
}
const raw = async (p: Sharp): Promise<Uint8Array> => new Uint8Array(await p.raw({ depth: 'uchar' }).toBuffer());
const variants: Record<string, Variant> = {
  'loader (decodeBuffer)': async (b, i) => (await decodeBuffer(b, 'x', 3, { name: 'randomResizedCrop', size: 224 }, new ap.data.Rng(0, 0, i))).image.data,
  'no removeAlpha / toColourspace': (b, i) => raw(geometry(b, i, () => sharp(b, { failOn: 'error' }))),
  'sequentialRead': (b, i) => raw(geometry(b, i, () => sharp(b, { failOn: 'error', sequentialRead: true })).removeAlpha().toColourspace('srgb')),
  'sequentialRead, no colour stages': (b, i) => raw(geometry(b, i, () => sharp(b, { failOn: 'error', sequentialRead: true }))),
  'failOn none': (b, i) => raw(geometry(b, i, () => sharp(b, { failOn: 'none' })).removeAlpha().toColourspace('srgb')),
};
const ref: Uint8Array[] = [];
for (let i = 0; i < n; i++) ref.push(await variants['loader (decodeBuffer)']!(bufs[i]!, i));
const results: Record<string, number[]> = {};
for (let r = 0; r < reps; r++)
  for (const [name, v] of Object.entries(variants)) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    let same = true;
    for (let i = 0; i < n; i++) {
      const out = await v(bufs[i]!, i);
      if (Buffer.compare(Buffer.from(out), Buffer.from(ref[i]!)) !== 0) same = false;
    }
    const c = process.cpuUsage(c0), wall = performance.now() - t0;
    (results[name] ??= []).push((c.user + c.system) / 1000 / n, wall / n, same ? 1 : 0);
  }
// Two images in flight (the next decode overlapping this one's wait).
for (let r = 0; r < reps; r++) {
  const c0 = process.cpuUsage(), t0 = performance.now();
  for (let i = 0; i < n; i += 2) await Promise.all([variants['loader (decodeBuffer)']!(bufs[i]!, i), i + 1 < n ? variants['loader (decodeBuffer)']!(bufs[i + 1]!, i + 1) : null]);
  const c = process.cpuUsage(c0);
  (results['two in flight (loader path)'] ??= []).push((c.user + c.system) / 1000 / n, (performance.now() - t0) / n, 1);
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log('| variant | CPU ms / image | wall ms / image | same pixels |');
console.log('|---|---:|---:|---|');
for (const [name, xs] of Object.entries(results)) {
  const cpu = xs.filter((_, k) => k % 3 === 0), wall = xs.filter((_, k) => k % 3 === 1), same = xs.filter((_, k) => k % 3 === 2).every((s) => s === 1);
  console.log(`| ${name} | ${med(cpu).toFixed(2)} | ${med(wall).toFixed(2)} | ${same ? 'yes' : 'NO'} |`);
}
