// An image classification dataset as the loader sees it: N images of one size held as bytes
// (HWC, uint8) in memory, or a list of files decoded on demand by the loader's workers.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { LIMITS, intArg, objectArg } from '../args.js';

export interface ArraySource {
  kind: 'array';
  /** [count, height, width, channels] uint8, row-major; may live in a SharedArrayBuffer. */
  images: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

export interface FileSource {
  kind: 'files';
  paths: string[];
  /** Channels every decoded image is converted to (1 grey or 3 RGB). */
  channels: number;
}

export interface ImageDataset {
  name: string;
  source: ArraySource | FileSource;
  labels: Int32Array;
  numClasses: number;
  classNames?: string[];
}

/**
 * Checks a dataset object (made by the loaders, or by hand) before its sizes are used: labels,
 * class count, and a source whose bytes or file list match the labels.
 */
export function checkDataset(d: unknown, op: string): ImageDataset {
  const ds = objectArg<ImageDataset>(d, op, 'dataset', 'an ImageDataset (from data.openDataset)');
  const bad = (what: string): never => { throw new AdvpropError('ERR_ARG', `${op}: dataset ${what}`); };
  if (!(ds.labels instanceof Int32Array)) bad(`labels must be an Int32Array, got ${describeValue(ds.labels)}`);
  const n = ds.labels.length;
  intArg(ds.numClasses, op, 'dataset.numClasses', 1, LIMITS.channels);
  const src = objectArg<ArraySource | FileSource>(ds.source, op, 'dataset.source', "{ kind: 'array' | 'files', ... }");
  if (src.kind === 'array') {
    intArg(src.height, op, 'dataset.source.height', 1, LIMITS.imageSide);
    intArg(src.width, op, 'dataset.source.width', 1, LIMITS.imageSide);
    intArg(src.channels, op, 'dataset.source.channels', 1, 4);
    if (!(src.images instanceof Uint8Array) || src.images.length < n * src.height * src.width * src.channels)
      bad(`source.images must be a Uint8Array of ${n} × ${src.height} × ${src.width} × ${src.channels} bytes, got ${describeValue(src.images)}${src.images instanceof Uint8Array ? ` of ${src.images.length}` : ''}`);
  } else if (src.kind === 'files') {
    if (src.channels !== 1 && src.channels !== 3) bad(`source.channels must be 1 or 3, got ${describeValue(src.channels)}`);
    if (!Array.isArray(src.paths) || src.paths.length !== n || src.paths.some((p) => typeof p !== 'string'))
      bad(`source.paths must be ${n} path strings (one per label), got ${describeValue(src.paths)}`);
  } else {
    bad(`source.kind must be 'array' or 'files', got ${describeValue((src as { kind?: unknown }).kind)}`);
  }
  return ds;
}

export function datasetSize(d: ImageDataset): number {
  return checkDataset(d, 'datasetSize').labels.length;
}

/** The first `limit` images (the CLI's --limit), sharing the bytes. */
export function limitDataset(d: ImageDataset, limit: number | undefined): ImageDataset {
  checkDataset(d, 'limitDataset');
  if (limit === undefined) return d;
  intArg(limit, 'limitDataset', 'limit', 1, Number.MAX_SAFE_INTEGER);
  if (limit >= d.labels.length) return d;
  const src = d.source;
  const source: ArraySource | FileSource = src.kind === 'array'
    ? { ...src, images: src.images.subarray(0, limit * src.height * src.width * src.channels) }
    : { ...src, paths: src.paths.slice(0, limit) };
  return { ...d, source, labels: d.labels.subarray(0, limit) };
}

/** Copies an array source into shared memory so loader workers read it without copies. */
export function shareDataset(d: ImageDataset): ImageDataset {
  if (d.source.kind !== 'array' || d.source.images.buffer instanceof SharedArrayBuffer) return d;
  const shared = new Uint8Array(new SharedArrayBuffer(d.source.images.byteLength));
  shared.set(d.source.images);
  return { ...d, source: { ...d.source, images: shared } };
}
