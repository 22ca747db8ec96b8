// An image classification dataset as the loader sees it: N images of one size held as bytes
// (HWC, uint8) in memory, or a list of files or of tar shard members decoded on demand by the
// loader's workers.
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

/** WebDataset tar shards (lib/data/shards.ts): each sample an image member, read by offset. */
export interface TarSource {
  kind: 'tar';
  shards: string[];
  /** Shard s holds samples starts[s] .. starts[s + 1] - 1, in the order they lie in it. */
  starts: Int32Array;
  /** Byte offset and length of each sample's image member in its shard. */
  offsets: Float64Array;
  sizes: Int32Array;
  /** Each sample's image member name, for messages. */
  names: string[];
  channels: number;
}

export type Source = ArraySource | FileSource | TarSource;

export interface ImageDataset {
  name: string;
  source: Source;
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
  const src = objectArg<Source>(ds.source, op, 'dataset.source', "{ kind: 'array' | 'files' | 'tar', ... }");
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
  } else if (src.kind === 'tar') {
    checkTarSource(src, n, bad);
  } else {
    bad(`source.kind must be 'array', 'files' or 'tar', got ${describeValue((src as { kind?: unknown }).kind)}`);
  }
  return ds;
}

function checkTarSource(src: TarSource, n: number, bad: (what: string) => never): void {
  if (src.channels !== 1 && src.channels !== 3) bad(`source.channels must be 1 or 3, got ${describeValue(src.channels)}`);
  if (!Array.isArray(src.shards) || src.shards.some((p) => typeof p !== 'string')) bad(`source.shards must be path strings, got ${describeValue(src.shards)}`);
  const st = src.starts;
  if (!(st instanceof Int32Array) || st.length !== src.shards.length + 1 || st[0] !== 0 || st[st.length - 1] !== n || st.some((v, i) => i > 0 && v < st[i - 1]!))
    bad(`source.starts must be an Int32Array of ${src.shards.length + 1} non-decreasing sample numbers from 0 to ${n}, got ${describeValue(st)}`);
  if (!(src.offsets instanceof Float64Array) || src.offsets.length !== n) bad(`source.offsets must be a Float64Array of ${n} byte offsets, got ${describeValue(src.offsets)}`);
  if (!(src.sizes instanceof Int32Array) || src.sizes.length !== n) bad(`source.sizes must be an Int32Array of ${n} byte counts, got ${describeValue(src.sizes)}`);
  if (!Array.isArray(src.names) || src.names.length !== n) bad(`source.names must be ${n} member names, got ${describeValue(src.names)}`);
}

/** The first `limit` samples of a tar source: whole shards, then part of the last one. */
function limitTar(src: TarSource, limit: number): TarSource {
  let s = 0;
  while (src.starts[s + 1]! < limit) s++;
  const starts = Int32Array.from([...src.starts.subarray(0, s + 1), limit]);
  return { ...src, shards: src.shards.slice(0, s + 1), starts, offsets: src.offsets.subarray(0, limit), sizes: src.sizes.subarray(0, limit), names: src.names.slice(0, limit) };
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
  const source: Source = src.kind === 'array'
    ? { ...src, images: src.images.subarray(0, limit * src.height * src.width * src.channels) }
    : src.kind === 'files' ? { ...src, paths: src.paths.slice(0, limit) } : limitTar(src, limit);
  return { ...d, source, labels: d.labels.subarray(0, limit) };
}

/** Copies an array source into shared memory so loader workers read it without copies. */
export function shareDataset(d: ImageDataset): ImageDataset {
  if (d.source.kind !== 'array' || d.source.images.buffer instanceof SharedArrayBuffer) return d;
  const shared = new Uint8Array(new SharedArrayBuffer(d.source.images.byteLength));
  shared.set(d.source.images);
  return { ...d, source: { ...d.source, images: shared } };
}
