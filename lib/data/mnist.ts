// MNIST-style datasets (MNIST, Fashion-MNIST) from a folder of IDX files, gzipped or not.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { oneOfArg, pathArg } from '../args.js';
import type { ImageDataset } from './dataset.js';
import { readIdx } from './idx.js';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

export type Split = 'train' | 'test';

function findIdx(dir: string, prefix: string, kind: 'images' | 'labels'): string | undefined {
  const rank = kind === 'images' ? 3 : 1;
  for (const sep of ['-', '.']) {
    const base = join(dir, `${prefix}-${kind}${sep}idx${rank}-ubyte`);
    for (const p of [base, `${base}.gz`]) if (existsSync(p)) return p;
  }
  return undefined;
}

/** True when `dir` holds the IDX files of the given split. */
export const SPLITS: readonly Split[] = ['train', 'test'];

export function hasIdxDataset(dir: string, split: Split = 'train'): boolean {
  pathArg(dir, 'hasIdxDataset', 'dir');
  oneOfArg(split, 'hasIdxDataset', 'split', SPLITS);
  const prefix = split === 'train' ? 'train' : 't10k';
  return findIdx(dir, prefix, 'images') !== undefined && findIdx(dir, prefix, 'labels') !== undefined;
}

export function loadIdxDataset(dir: string, split: Split = 'train', name = 'fashion-mnist'): ImageDataset {
  pathArg(dir, 'loadIdxDataset', 'dir');
  oneOfArg(split, 'loadIdxDataset', 'split', SPLITS);
  if (typeof name !== 'string') throw new AdvpropError('ERR_ARG', `loadIdxDataset: name must be a string, got ${describeValue(name)}`);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgPath = findIdx(dir, prefix, 'images');
  const lblPath = findIdx(dir, prefix, 'labels');
  if (!imgPath || !lblPath)
    throw new AdvpropError('ERR_IO', `${dir}: no ${prefix}-images-idx3-ubyte[.gz] / ${prefix}-labels-idx1-ubyte[.gz] found`);
  const img = readIdx(imgPath);
  const lbl = readIdx(lblPath);
  if (img.dims.length !== 3) throw new AdvpropError('ERR_FORMAT', `${imgPath}: expected [count, rows, cols], got [${img.dims.join(', ')}]`);
  if (lbl.dims.length !== 1 || lbl.dims[0] !== img.dims[0])
    throw new AdvpropError('ERR_FORMAT', `${lblPath}: ${lbl.dims[0]} labels for ${img.dims[0]} images in ${imgPath}`);
  const labels = Int32Array.from(lbl.data);
  const numClasses = Math.max(...labels) + 1;
  return {
    name,
    source: { kind: 'array', images: img.data, height: img.dims[1]!, width: img.dims[2]!, channels: 1 },
    labels,
    numClasses: Math.max(numClasses, 10),
    classNames: name === 'fashion-mnist' ? FASHION_MNIST_CLASSES : undefined,
  };
}
