// An image classification dataset as the loader sees it: N images of one size held as bytes
// (HWC, uint8) in memory, or a list of files decoded on demand by the loader's workers.
import { AdvpropError } from '../errors.js';

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

export function datasetSize(d: ImageDataset): number {
  return d.labels.length;
}

/** The first `limit` images (the CLI's --limit), sharing the bytes. */
export function limitDataset(d: ImageDataset, limit: number | undefined): ImageDataset {
  if (limit === undefined || limit >= d.labels.length) return d;
  if (!Number.isInteger(limit) || limit < 1)
    throw new AdvpropError('ERR_ARG', `limit: expected a positive integer, got ${limit}`);
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
