// A small seeded generator for the data pipeline (shuffling, augmentation). Each sample's
// augmentation draws from its own stream keyed by (seed, epoch, index), so a batch comes out the
// same whichever worker prepares it and however many workers there are — which is what makes a
// resumed run bit-identical to an uninterrupted one.

import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { LIMITS, intArg, numArg } from '../args.js';

/** splitmix32-style mixing of a 32-bit state. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  private s: number;
  constructor(...keys: number[]) {
    keys.forEach((k, i) => numArg(k, 'Rng', `keys[${i}]`));
    let h = 0x9e3779b9;
    for (const k of keys) h = mix32((h ^ mix32((k >>> 0) + 0x7f4a7c15)) + Math.floor(k / 4294967296));
    this.s = h >>> 0;
  }
  /** Uniform in [0, 1) with 32 random bits. */
  next(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    return mix32(this.s) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    numArg(lo, 'Rng.uniform', 'lo');
    numArg(hi, 'Rng.uniform', 'hi');
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    numArg(n, 'Rng.int', 'n');
    return Math.floor(this.next() * n);
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
}

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): Int32Array {
  intArg(n, 'permutation', 'n', 0, LIMITS.datasetImages);
  if (!(rng instanceof Rng)) throw new AdvpropError('ERR_ARG', `permutation: rng must be a data.Rng, got ${describeValue(rng)}`);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!; p[i] = p[j]!; p[j] = t;
  }
  return p;
}

/** Samples a shard-order shuffle keeps in hand: WebDataset's usual shuffle buffer. */
export const SHUFFLE_WINDOW = 1024;

/**
 * A seeded permutation for samples stored in shards that are best read front to back (tar shards
 * on network storage): the shards in a seeded order, each one's samples in the order they lie in
 * it, through a shuffle buffer of `window` samples (WebDataset's shuffle(n)) — each step emits a
 * random sample of the buffer and refills its place from the stream, so every read is within a few
 * windows of the stream's front and adjacent shards mix. Shard s holds samples starts[s] ..
 * starts[s + 1] - 1. Like `permutation`, a function of the rng alone: the loader keys it by
 * (seed, epoch) and cuts it into global batches, so worker counts and ranks see the same order.
 */
export function shardPermutation(starts: Int32Array, rng: Rng, window = SHUFFLE_WINDOW): Int32Array {
  if (!(starts instanceof Int32Array) || starts.length < 1) throw new AdvpropError('ERR_ARG', `shardPermutation: starts must be an Int32Array of shard boundaries, got ${describeValue(starts)}`);
  if (!(rng instanceof Rng)) throw new AdvpropError('ERR_ARG', `shardPermutation: rng must be a data.Rng, got ${describeValue(rng)}`);
  intArg(window, 'shardPermutation', 'window', 1, LIMITS.datasetImages);
  const n = starts[starts.length - 1]!;
  const out = new Int32Array(n);
  const buf = new Int32Array(Math.min(window, n));
  let filled = 0, k = 0;
  for (const s of permutation(starts.length - 1, rng)) {
    for (let i = starts[s]!; i < starts[s + 1]!; i++) {
      if (filled < buf.length) { buf[filled++] = i; continue; }
      const j = rng.int(filled);
      out[k++] = buf[j]!;
      buf[j] = i;
    }
  }
  while (filled > 0) {
    const j = rng.int(filled);
    out[k++] = buf[j]!;
    buf[j] = buf[--filled]!;
  }
  return out;
}
