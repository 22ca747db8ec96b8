// CIFAR-10 and CIFAR-100 "binary version" batches: per image, the label byte(s) then 3072 bytes
// of 32×32 planes (R, G, B). We convert to HWC, the layout of every other source.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdvpropError } from '../errors.js';
import type { ImageDataset } from './dataset.js';
import { SPLITS, type Split } from './mnist.js';
import { oneOfArg, pathArg } from '../args.js';

const PIXELS = 32 * 32;

function batchFiles(dir: string, split: Split): { files: string[]; variant: 10 | 100 } | undefined {
  const c10 = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  if (c10.every((f) => existsSync(join(dir, f)))) return { files: c10.map((f) => join(dir, f)), variant: 10 };
  const c100 = join(dir, split === 'train' ? 'train.bin' : 'test.bin');
  if (existsSync(c100)) return { files: [c100], variant: 100 };
  return undefined;
}

export function hasCifarDataset(dir: string, split: Split = 'train'): boolean {
  pathArg(dir, 'hasCifarDataset', 'dir');
  oneOfArg(split, 'hasCifarDataset', 'split', SPLITS);
  return batchFiles(dir, split) !== undefined;
}

export function loadCifar(dir: string, split: Split = 'train'): ImageDataset {
  pathArg(dir, 'loadCifar', 'dir');
  oneOfArg(split, 'loadCifar', 'split', SPLITS);
  const found = batchFiles(dir, split);
  if (!found) throw new AdvpropError('ERR_IO', `${dir}: no CIFAR-10 (data_batch_1..5.bin, test_batch.bin) or CIFAR-100 (train.bin, test.bin) batches`);
  const labelBytes = found.variant === 10 ? 1 : 2;
  const record = labelBytes + 3 * PIXELS;
  const bufs = found.files.map((f) => {
    const b = readFileSync(f);
    if (b.length === 0 || b.length % record !== 0)
      throw new AdvpropError('ERR_FORMAT', `${f}: ${b.length} bytes is not a whole number of ${record}-byte CIFAR-${found.variant} records`);
    return b;
  });
  const count = bufs.reduce((a, b) => a + b.length / record, 0);
  const images = new Uint8Array(count * 3 * PIXELS);
  const labels = new Int32Array(count);
  let i = 0;
  for (const b of bufs) {
    for (let off = 0; off < b.length; off += record, i++) {
      const label = b[off + labelBytes - 1]!; // CIFAR-100: the fine label
      if (label >= found.variant) throw new AdvpropError('ERR_FORMAT', `${dir}: record ${i} has label ${label} ≥ ${found.variant}`);
      labels[i] = label;
      const px = off + labelBytes;
      const dst = i * 3 * PIXELS;
      for (let p = 0; p < PIXELS; p++)
        for (let c = 0; c < 3; c++) images[dst + p * 3 + c] = b[px + c * PIXELS + p]!;
    }
  }
  return {
    name: `cifar-${found.variant}`,
    source: { kind: 'array', images, height: 32, width: 32, channels: 3 },
    labels,
    numClasses: found.variant,
  };
}
