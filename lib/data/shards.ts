// Tar shards in the WebDataset convention (DIR/*.tar): consecutive members sharing a key (the
// path up to the first dot of its last component; the rest is the extension, lower-cased) form a
// sample, here an image (.jpg, .jpeg, .png or .webp) and its label (.cls: the class index as
// text). Opening indexes each shard once — headers only, plus the tiny .cls members — so a sample
// is (shard, offset, size) and the loader's workers read its bytes with one positional read.
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdvpropError } from '../errors.js';
import { LIMITS } from '../args.js';
import type { ImageDataset, TarSource } from './dataset.js';
import { listTar, readAt } from './tar.js';

const IMAGE_EXT = new Set(['jpg', 'jpeg', 'png', 'webp']);

/** The classes file at a shard dataset's root: one class name per line, line i naming class i. */
export const CLASSES_FILE = 'classes.txt';

/** WebDataset's base_plus_ext: [key, extension], or null for a name without an extension. */
export function splitKey(name: string): [string, string] | null {
  const m = /^((?:.*\/|)[^.]+)[.]([^/]*)$/.exec(name);
  return m ? [m[1]!, m[2]!.toLowerCase()] : null;
}

export function shardFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.tar') && !f.startsWith('.')).sort().map((f) => join(dir, f));
  } catch {
    return [];
  }
}

export function hasShards(dir: string): boolean {
  return shardFiles(dir).length > 0;
}

/** Class names from `file` (blank lines and surrounding spaces dropped), or undefined if absent. */
export function readClassNames(file: string): string[] | undefined {
  if (!existsSync(file)) return undefined;
  const names = readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (names.length === 0) throw new AdvpropError('ERR_FORMAT', `${file}: no class names (one per line)`);
  if (new Set(names).size !== names.length) throw new AdvpropError('ERR_FORMAT', `${file}: a class name appears twice`);
  return names;
}

/**
 * The samples of every `dir/*.tar` (shards sorted by name, samples in archive order). The class
 * count is `classNames.length` when given (labels must be below it), else the largest label + 1.
 */
export function loadShards(dir: string, options: { channels?: number; classNames?: string[] } = {}): ImageDataset {
  const channels = options.channels ?? 3;
  const shards = shardFiles(dir);
  if (shards.length === 0) throw new AdvpropError('ERR_IO', `${dir}: no .tar shards`);
  const starts = [0], offsets: number[] = [], sizes: number[] = [], names: string[] = [], labels: number[] = [];
  for (const shard of shards) {
    const fail = (key: string, what: string): never => { throw new AdvpropError('ERR_FORMAT', `${shard}: sample '${key}' ${what}`); };
    const members = listTar(shard, (n) => splitKey(n)?.[1] === 'cls');
    let i = 0;
    while (i < members.length) {
      const kx = splitKey(members[i]!.name);
      if (!kx) { i++; continue; } // no extension: not part of any sample (WebDataset ignores these too)
      const key = kx[0];
      let image: { name: string; offset: number; size: number } | null = null, label: number | null = null;
      for (; i < members.length; i++) {
        const m = members[i]!, mk = splitKey(m.name);
        if (!mk || mk[0] !== key) break;
        if (IMAGE_EXT.has(mk[1])) {
          if (image) fail(key, `has two images (${image.name} and ${m.name})`);
          if (m.size > 2 ** 31 - 1) fail(key, `image ${m.name} is ${m.size} bytes`);
          image = m;
        } else if (mk[1] === 'cls') {
          const text = m.data!.toString('utf8').trim();
          if (!/^\d+$/.test(text) || !(Number(text) < LIMITS.channels)) fail(key, `label ${m.name} holds '${text.slice(0, 40)}', not a class index below ${LIMITS.channels}`);
          label = Number(text);
        }
      }
      if (!image && label === null) continue; // a sample of other members only (json, txt): not ours
      if (!image) fail(key, 'has a .cls label but no .jpg/.jpeg/.png/.webp image');
      if (label === null) fail(key, `has an image (${image!.name}) but no .cls label`);
      if (options.classNames && label! >= options.classNames.length)
        fail(key, `has label ${label} but ${CLASSES_FILE} names ${options.classNames.length} classes`);
      offsets.push(image!.offset);
      sizes.push(image!.size);
      names.push(image!.name);
      labels.push(label!);
    }
    starts.push(labels.length);
  }
  if (labels.length === 0) throw new AdvpropError('ERR_FORMAT', `${dir}: ${shards.length} shards hold no samples with an image and a .cls label`);
  const source: TarSource = {
    kind: 'tar', shards, starts: Int32Array.from(starts), offsets: Float64Array.from(offsets), sizes: Int32Array.from(sizes), names, channels,
  };
  const numClasses = options.classNames?.length ?? labels.reduce((a, b) => Math.max(a, b), 0) + 1;
  return { name: dir, source, labels: Int32Array.from(labels), numClasses, ...(options.classNames ? { classNames: options.classNames } : {}) };
}

/** Which shard holds sample `index` (binary search over starts). */
function shardOf(s: TarSource, index: number): number {
  let lo = 0, hi = s.shards.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (s.starts[mid]! <= index) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** "shard.tar:member", how messages and the loader's skip list name a sample. */
export function sampleName(s: TarSource, index: number): string {
  return `${s.shards[shardOf(s, index)]}:${s.names[index]}`;
}

/**
 * Reads samples' image bytes, keeping each shard it touched open until close(): a batch reads a
 * few shards, mostly front to back, so it opens each once.
 */
export class ShardReader {
  private fds = new Map<number, number>();
  constructor(private readonly src: TarSource) {}

  read(index: number): Buffer {
    const shard = shardOf(this.src, index);
    let fd = this.fds.get(shard);
    if (fd === undefined) {
      try {
        fd = openSync(this.src.shards[shard]!, 'r');
      } catch (e) {
        throw new AdvpropError('ERR_IO', `cannot open ${this.src.shards[shard]}: ${(e as Error).message}`, { cause: e });
      }
      this.fds.set(shard, fd);
    }
    const size = this.src.sizes[index]!, offset = this.src.offsets[index]!;
    const buf = readAt(fd, size, offset);
    if (buf.length < size)
      throw new AdvpropError('ERR_FORMAT', `${sampleName(this.src, index)}: ${size} bytes at byte offset ${offset} expected, the shard ends after ${buf.length} (changed since it was indexed?)`);
    return buf;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
