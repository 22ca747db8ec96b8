// A minimal safetensors reader and writer written apart from lib/io, so tests can make files that
// are damaged in exactly one way, and re-checksum a file after an edit so that the checks behind
// the checksum are reached. The checksum entry follows the documented format: metadata key
// 'advprop.crc32' holding JSON {"metadata": crc, "tensors": {name: crc}}, each crc the zlib CRC-32
// in 8 hex digits; a tensor's crc covers `${dtype}${JSON.stringify(shape)}` then its bytes, and
// 'metadata' covers JSON.stringify of the other metadata entries as [key, value] pairs sorted by key.
import * as fs from 'node:fs';
import { crc32 } from 'node:zlib';

export const CRC_KEY = 'advprop.crc32';

export interface RawEntry { name: string; dtype: string; shape: number[]; bytes: Buffer }
export interface RawFile { entries: RawEntry[]; metadata: Record<string, string> | null }

const hex = (n: number): string => n.toString(16).padStart(8, '0');

export function tensorCrc(e: RawEntry): string {
  const head = crc32(`${e.dtype}${JSON.stringify(e.shape)}`);
  return hex(e.bytes.length ? crc32(e.bytes, head) : head);
}

export function metadataCrc(meta: Record<string, string>): string {
  const pairs = Object.entries(meta).filter(([k]) => k !== CRC_KEY).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return hex(crc32(JSON.stringify(pairs)));
}

export function decodeRaw(bytes: Buffer): RawFile {
  const hlen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString('utf8')) as Record<string, any>;
  const data = bytes.subarray(8 + hlen);
  const entries: RawEntry[] = [];
  let metadata: Record<string, string> | null = null;
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = { ...e }; continue; }
    entries.push({ name, dtype: e.dtype, shape: e.shape, bytes: Buffer.from(data.subarray(e.data_offsets[0], e.data_offsets[1])) });
  }
  return { entries, metadata };
}

/** Writes entries in order; `checksum` recomputes the crc entry (kept absent when false). */
export function encodeRaw(f: RawFile, checksum: boolean): Buffer {
  const header: Record<string, unknown> = {};
  let meta = f.metadata ? { ...f.metadata } : null;
  if (checksum) {
    const tensors: Record<string, string> = {};
    for (const e of f.entries) Object.defineProperty(tensors, e.name, { value: tensorCrc(e), enumerable: true });
    meta = { ...(meta ?? {}) };
    meta[CRC_KEY] = JSON.stringify({ metadata: metadataCrc(meta), tensors });
  }
  if (meta) header.__metadata__ = meta;
  let pos = 0;
  for (const e of f.entries) {
    // defineProperty: a tensor named __proto__ must become a key, not the header's prototype.
    Object.defineProperty(header, e.name, { value: { dtype: e.dtype, shape: e.shape, data_offsets: [pos, pos + e.bytes.length] }, enumerable: true });
    pos += e.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...f.entries.map((e) => e.bytes)]);
}

/** Reads `src`, applies `edit`, writes `dst` re-checksummed when it still has a checksum entry. */
export function rewrite(src: string, dst: string, edit: (f: RawFile) => void): string {
  const f = decodeRaw(fs.readFileSync(src));
  edit(f);
  fs.writeFileSync(dst, encodeRaw(f, f.metadata !== null && CRC_KEY in f.metadata));
  return dst;
}

/** Edits the checkpoint's 'advprop' metadata entry as an object. */
export function editMeta(f: RawFile, edit: (m: Record<string, any>) => void): void {
  const m = JSON.parse(f.metadata!.advprop!) as Record<string, any>;
  edit(m);
  f.metadata!.advprop = JSON.stringify(m);
}
