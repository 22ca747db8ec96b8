// A flat folder of images with a labels file: ImageNet's validation set as distributed
// (val/ILSVRC2012_val_*.JPEG in one folder). The folder's labels.txt has a line per image, either
// "<file> <label>" (or "<file>,<label>") for any order, or "<label>" alone for the images in sorted
// file-name order (TensorFlow's imagenet_2012_validation_synset_labels.txt is of that kind). A
// label is a class name of the training set (ImageNet's wnids, as train/'s folders) or else a
// 0-based class index.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { AdvpropError } from '../errors.js';
import type { ImageDataset } from './dataset.js';
import { IMAGE_EXT } from './folder.js';

export const LABELS_FILE = 'labels.txt';

function imageFiles(root: string): string[] {
  try {
    return readdirSync(root).filter((f) => !f.startsWith('.') && IMAGE_EXT.has(extname(f).toLowerCase()) && statSync(join(root, f)).isFile()).sort();
  } catch {
    return [];
  }
}

/** Image files directly in `root` (a labels file may be missing: loadFlatFolder says so). */
export function hasFlatFolder(root: string): boolean {
  return imageFiles(root).length > 0;
}

/**
 * The images of `root` with their labels from root/labels.txt. With `classNames` (the training
 * set's), names are looked up there and the class count is theirs; otherwise labels are indices
 * and the class count is the largest + 1.
 */
export function loadFlatFolder(root: string, classNames?: readonly string[], channels = 3): ImageDataset {
  const files = imageFiles(root);
  const labelsFile = join(root, LABELS_FILE);
  if (!existsSync(labelsFile))
    throw new AdvpropError('ERR_IO', `${root} holds ${files.length} images but no ${LABELS_FILE} (a line per image: "<file> <label>", or "<label>" in sorted file-name order)`);
  const lines = readFileSync(labelsFile, 'utf8').split(/\r?\n/).map((l) => l.trim()).map((l, i) => ({ l, line: i + 1 })).filter((x) => x.l !== '' && !x.l.startsWith('#'));
  const bad = (line: number, what: string): never => { throw new AdvpropError('ERR_FORMAT', `${labelsFile}:${line}: ${what}`); };
  const index = new Map(classNames?.map((c, i) => [c, i]));
  const toLabel = (tok: string, line: number): number => {
    const named = index.get(tok);
    if (named !== undefined) return named;
    if (/^\d+$/.test(tok) && (!classNames || Number(tok) < classNames.length) && Number.isSafeInteger(Number(tok))) return Number(tok);
    return bad(line, classNames ? `label '${tok}' is neither one of the training set's ${classNames.length} class names nor an index 0..${classNames.length - 1}`
      : `label '${tok}' is not a class index (the training set has no class names to look it up in)`);
  };
  const fields = lines.map(({ l, line }) => ({ f: l.split(/\s*,\s*|\s+/), line }));
  const labelOf = new Map<string, number>();
  if (fields.every(({ f }) => f.length === 1)) {
    if (fields.length !== files.length) bad(fields.at(-1)?.line ?? 0, `${fields.length} labels for the ${files.length} images of ${root} (one label per line, in sorted file-name order)`);
    files.forEach((file, i) => labelOf.set(file, toLabel(fields[i]!.f[0]!, fields[i]!.line)));
  } else {
    const present = new Set(files);
    for (const { f, line } of fields) {
      if (f.length !== 2) bad(line, `expected "<file> <label>", got ${f.length} fields`);
      if (!present.has(f[0]!)) bad(line, `no image ${f[0]} in ${root}`);
      if (labelOf.has(f[0]!)) bad(line, `${f[0]} is labelled twice`);
      labelOf.set(f[0]!, toLabel(f[1]!, line));
    }
    const missing = files.filter((f) => !labelOf.has(f));
    if (missing.length > 0) throw new AdvpropError('ERR_FORMAT', `${labelsFile}: ${missing.length} images of ${root} have no label (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''})`);
  }
  const labels = Int32Array.from(files, (f) => labelOf.get(f)!);
  return {
    name: root,
    source: { kind: 'files', paths: files.map((f) => join(root, f)), channels },
    labels,
    numClasses: classNames?.length ?? labels.reduce((a, b) => Math.max(a, b), 0) + 1,
    ...(classNames ? { classNames: [...classNames] } : {}),
  };
}
