// A folder of class subfolders (root/<class>/<image>.{jpg,jpeg,png,webp}), as torchvision's
// ImageFolder: classes sorted by name, files sorted within each class. Images are decoded by the
// loader's workers, not here, so opening a large folder is quick.
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { pathArg } from '../args.js';
import type { ImageDataset } from './dataset.js';

export const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** The class names of an ImageFolder at `root` (its subfolders, sorted), without listing images. */
export function listDirs(root: string): string[] {
  try {
    return readdirSync(root).filter((d) => !d.startsWith('.') && statSync(join(root, d)).isDirectory()).sort();
  } catch (e) {
    throw new AdvpropError('ERR_IO', `cannot list ${root}: ${(e as Error).message}`, { cause: e });
  }
}

export function hasImageFolder(root: string): boolean {
  pathArg(root, 'hasImageFolder', 'root');
  try {
    return listDirs(root).some((c) => readdirSync(join(root, c)).some((f) => IMAGE_EXT.has(extname(f).toLowerCase())));
  } catch {
    return false;
  }
}

export function loadImageFolder(root: string, channels = 3): ImageDataset {
  pathArg(root, 'loadImageFolder', 'root');
  if (channels !== 1 && channels !== 3) throw new AdvpropError('ERR_ARG', `loadImageFolder: channels must be 1 or 3, got ${describeValue(channels)}`);
  const classNames = listDirs(root);
  const paths: string[] = [];
  const labels: number[] = [];
  classNames.forEach((cls, label) => {
    for (const f of readdirSync(join(root, cls)).sort()) {
      if (!IMAGE_EXT.has(extname(f).toLowerCase())) continue;
      paths.push(join(root, cls, f));
      labels.push(label);
    }
  });
  if (paths.length === 0) throw new AdvpropError('ERR_IO', `${root}: no class subfolders with .jpg/.jpeg/.png/.webp images`);
  return {
    name: root,
    source: { kind: 'files', paths, channels },
    labels: Int32Array.from(labels),
    numClasses: classNames.length,
    classNames,
  };
}
