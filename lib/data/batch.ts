// Turns a list of sample indices into one batch: decode (file sources), transform with the
// sample's own Rng, then either scale bytes to [0, 1] (output 'float') or keep them (output
// 'uint8', for kernels.normalizeImage on the device: a quarter of the bytes to move). Runs in
// loader workers and, with workers: 0, in-process.
import { AdvpropError } from '../errors.js';
import { addon } from '../native.js';
import type { ImageDataset } from './dataset.js';
import { decodeBytes, decodeImage } from './decode.js';
import { Rng } from './rng.js';
import { ShardReader, sampleName } from './shards.js';
import { decodeBuffer, decodeFile, type FileDecode } from './sharp_decode.js';
import { applyTransforms, type Image, type TransformSpec } from './transforms.js';

export interface BatchJob { epoch: number; indices: Int32Array }
/** Images a worker decodes ahead of the one it transforms (LoaderOptions.decodeAhead's default). */
export const DECODE_AHEAD = 1;

export interface Skipped { path: string; message: string }
/** 'float': NHWC f32 in [0, 1] (byte / 255); 'uint8': the NHWC bytes themselves. */
export type BatchOutput = 'float' | 'uint8';
export interface PreparedBatch {
  x: Float32Array | Uint8Array;
  shape: [number, number, number, number];
  /** Positions in the job's indices of the samples in x, when some were skipped (corrupt files). */
  kept?: Int32Array;
  skipped?: Skipped[];
}

export function loadImage(d: ImageDataset, index: number): Image {
  const s = d.source;
  if (s.kind === 'files') return decodeImage(s.paths[index]!, s.channels);
  if (s.kind === 'tar') {
    const reader = new ShardReader(s);
    try {
      return decodeBytes(reader.read(index), sampleName(s, index), s.channels);
    } finally {
      reader.close();
    }
  }
  const size = s.height * s.width * s.channels;
  return { data: s.images.subarray(index * size, (index + 1) * size), height: s.height, width: s.width, channels: s.channels };
}

/** Bytes as the 'float' output holds them: byte / 255 in f32 (native; test/data/augment_native.test.ts
 * checks it against Float32Array.from(v / 255)). */
export function unitFloats(bytes: Uint8Array): Float32Array {
  const x = new Float32Array(bytes.length);
  addon.imageToUnit(bytes, x, 0);
  return x;
}

function stack(images: Array<{ img: Image; index: number }>, output: BatchOutput): PreparedBatch {
  const bytes = output === 'uint8';
  if (images.length === 0) return { x: bytes ? new Uint8Array(0) : new Float32Array(0), shape: [0, 0, 0, 0] };
  const { height, width, channels } = images[0]!.img, size = height * width * channels;
  const x = bytes ? new Uint8Array(images.length * size) : new Float32Array(images.length * size);
  for (let i = 0; i < images.length; i++) {
    const { img, index } = images[i]!;
    if (img.height !== height || img.width !== width || img.channels !== channels) {
      throw new AdvpropError('ERR_SHAPE',
        `loader: sample ${index} is ${img.height}×${img.width}×${img.channels} after transforms, the batch is ${height}×${width}×${channels}; add a 'resize' or crop transform`);
    }
    const src = img.data, off = i * size;
    if (bytes) x.set(src.subarray(0, size), off);
    else addon.imageToUnit(src.subarray(0, size), x as Float32Array, off);
  }
  return { x, shape: [images.length, height, width, channels] };
}

/** In-memory images, and files through the pure-JavaScript decoders (synchronous callers). */
export function prepareBatch(d: ImageDataset, transforms: readonly TransformSpec[], seed: number, job: BatchJob,
  output: BatchOutput = 'float'): PreparedBatch {
  return stack(Array.from(job.indices, (index) => ({ index, img: applyTransforms(loadImage(d, index), transforms, new Rng(seed, job.epoch, index)) })), output);
}

type Settled = { ok: true; value: FileDecode } | { ok: false; error: unknown };

/**
 * The loader's batches: file sources are decoded by sharp, a leading randomResizedCrop inside the
 * decoder, `ahead` images decoding (libvips, on the thread pool) while the worker's thread
 * transforms the current one; each image draws from its own Rng, so the bytes do not depend on
 * `ahead`. A file that does not decode (ERR_FORMAT) is left out and reported in `skipped`, or
 * with `strict` fails the batch naming it.
 */
export async function prepareBatchAsync(d: ImageDataset, transforms: readonly TransformSpec[], seed: number, job: BatchJob,
  strict = false, output: BatchOutput = 'float', ahead = DECODE_AHEAD): Promise<PreparedBatch> {
  const s = d.source;
  if (s.kind === 'array') return prepareBatch(d, transforms, seed, job, output);
  const images: Array<{ img: Image; index: number }> = [];
  const kept: number[] = [];
  const skipped: Skipped[] = [];
  // Tar shards stay open for the batch (closed below, and before an error leaves); a member is
  // read when its decode starts, so closing leaves no decode without its bytes.
  const reader = s.kind === 'tar' ? new ShardReader(s) : null;
  const start = (i: number): { index: number; path: string; rng: Rng; settled: Promise<Settled> } => {
    const index = job.indices[i]!, path = s.kind === 'tar' ? sampleName(s, index) : s.paths[index]!;
    const rng = new Rng(seed, job.epoch, index);
    let p: Promise<FileDecode>;
    try {
      p = reader ? decodeBuffer(reader.read(index), path, s.channels, transforms[0], rng) : decodeFile(path, s.channels, transforms[0], rng);
    } catch (e) {
      p = Promise.reject(e);
    }
    // Settled here: a decode still in flight when an error ends the batch rejects unobserved.
    return { index, path, rng, settled: p.then((value) => ({ ok: true, value }), (error: unknown) => ({ ok: false, error })) };
  };
  const pending: Array<ReturnType<typeof start>> = [];
  for (let i = 0; i < job.indices.length; i++) {
    while (pending.length <= ahead && i + pending.length < job.indices.length) pending.push(start(i + pending.length));
    const { index, path, rng, settled } = pending.shift()!;
    const r = await settled;
    if (!r.ok) {
      const e = r.error;
      if (strict || (e as AdvpropError).code !== 'ERR_FORMAT') { reader?.close(); throw e; }
      skipped.push({ path, message: (e as Error).message });
      continue;
    }
    images.push({ index, img: applyTransforms(r.value.image, transforms.slice(r.value.consumed), rng) });
    kept.push(i);
  }
  reader?.close();
  const out = stack(images, output);
  return skipped.length === 0 ? out : { ...out, kept: Int32Array.from(kept), skipped };
}
