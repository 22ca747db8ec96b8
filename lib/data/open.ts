// Finds a dataset from a folder, whatever its format, and the default data when none is given.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdvpropError } from '../errors.js';
import { hasCifarDataset, loadCifar } from './cifar.js';
import type { ImageDataset } from './dataset.js';
import { hasFlatFolder, loadFlatFolder } from './flat.js';
import { hasImageFolder, listDirs, loadImageFolder } from './folder.js';
import { SPLITS, hasIdxDataset, loadIdxDataset, type Split } from './mnist.js';
import { describeValue } from '../device.js';
import { oneOfArg, optionsArg, pathArg } from '../args.js';
import { CLASSES_FILE, hasShards, loadShards, readClassNames } from './shards.js';

export const SYSTEM_FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

/** The package's bundled Fashion-MNIST subset (found from this file, in lib/ or dist/lib/). */
export function bundledDataDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'advprop')
      return join(dir, 'data', 'fashion-mnist');
  }
  throw new AdvpropError('ERR_IO', 'cannot find the advprop package folder holding data/fashion-mnist');
}

/** The full Fashion-MNIST from Debian's dataset-fashion-mnist when installed, else the bundled subset. */
export function defaultDataDir(): string {
  return hasIdxDataset(SYSTEM_FASHION_MNIST) ? SYSTEM_FASHION_MNIST : bundledDataDir();
}

/** The training set's class names, for labels given by name: train/'s folders, else classes.txt. */
function trainClassNames(dir: string): string[] | undefined {
  return hasImageFolder(join(dir, 'train')) ? listDirs(join(dir, 'train')) : readClassNames(join(dir, CLASSES_FILE));
}

/**
 * IDX (MNIST-style), CIFAR binary batches, class subfolders (root/{train,val|test}/<class>/ or
 * root/<class>/), WebDataset tar shards (root/{train,val|test}/*.tar, or root/*.tar for train;
 * root/classes.txt names the classes), or for evaluation a flat folder of images with a labels.txt.
 */
export function openDataset(dir: string, split: Split, options?: { channels?: number }): ImageDataset {
  pathArg(dir, 'openDataset', 'dir');
  oneOfArg(split, 'openDataset', 'split', SPLITS);
  const opts = optionsArg(options, 'openDataset');
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3)
    throw new AdvpropError('ERR_ARG', `openDataset: channels must be 1 or 3, got ${describeValue(opts.channels)}`);
  if (!existsSync(dir)) throw new AdvpropError('ERR_IO', `data folder ${dir} does not exist`);
  if (hasIdxDataset(dir, split)) return loadIdxDataset(dir, split, /fashion/i.test(dir) ? 'fashion-mnist' : dir);
  if (hasCifarDataset(dir, split)) return loadCifar(dir, split);
  const sub = split === 'train' ? ['train'] : ['val', 'test'];
  for (const s of sub) if (hasImageFolder(join(dir, s))) return loadImageFolder(join(dir, s), opts.channels);
  const shards = (d: string): ImageDataset => loadShards(d, { channels: opts.channels, classNames: readClassNames(join(dir, CLASSES_FILE)) });
  for (const s of sub) if (hasShards(join(dir, s))) return shards(join(dir, s));
  // Shards first: a flat val/ beside them would pass for a class folder.
  if (split === 'train' && hasShards(dir)) return shards(dir);
  if (split === 'train' && hasImageFolder(dir)) return loadImageFolder(dir, opts.channels);
  if (split !== 'train') for (const s of sub) if (hasFlatFolder(join(dir, s))) return loadFlatFolder(join(dir, s), trainClassNames(dir), opts.channels);
  const where = split === 'train' ? 'train/ or the folder itself' : 'val/ or test/';
  throw new AdvpropError('ERR_IO',
    `${dir}: no ${split} data found (looked for MNIST-style IDX files, CIFAR binary batches, class subfolders of JPEG/PNG/WebP images under ${where}, ` +
    `WebDataset .tar shards under ${where}${split === 'train' ? '' : ', and images with a labels.txt directly in val/ or test/'})`);
}
