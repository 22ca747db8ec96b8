// Checksums that advprop writes into the safetensors metadata, so that a flipped bit in a file it
// wrote is found on read instead of trained on. One metadata entry, 'advprop.crc32', holds JSON
// {"metadata": crc, "tensors": {name: crc}}, each crc the zlib CRC-32 in 8 lowercase hex digits.
// A tensor's crc covers `${dtype}${JSON.stringify(shape)}` and then its bytes, so a header entry
// relabelled to another dtype or shape of the same byte size is caught too; 'metadata' covers the
// other metadata entries (JSON of their [key, value] pairs sorted by key). Files from other writers
// have no such entry and are read unverified.
import { crc32 } from 'node:zlib';

export const CHECKSUM_KEY = 'advprop.crc32';

const hex = (n: number): string => n.toString(16).padStart(8, '0');
const HEX = /^[0-9a-f]{8}$/;

export function tensorChecksum(dtype: string, shape: readonly number[], bytes: Uint8Array): string {
  const head = crc32(`${dtype}${JSON.stringify(shape)}`);
  // zlib.crc32 of a view of an empty ArrayBuffer returns 0 instead of the running value (Node 20).
  return hex(bytes.length === 0 ? head : crc32(bytes, head));
}

export function metadataChecksum(metadata: Record<string, string>): string {
  const pairs = Object.entries(metadata).filter(([k]) => k !== CHECKSUM_KEY).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return hex(crc32(JSON.stringify(pairs)));
}

export interface Checksums {
  metadata: string;
  tensors: Map<string, string>;
}

/** The entry's value for `tensors` (name → crc) and the other metadata. */
export function encodeChecksums(tensors: Iterable<[string, string]>, metadata: Record<string, string>): string {
  // Built as pairs: an object literal would turn a tensor named __proto__ into a prototype.
  const list = [...tensors].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
  return `{"metadata":${JSON.stringify(metadataChecksum(metadata))},"tensors":{${list}}}`;
}

/** Parses the entry; `bad` throws the file's ERR_FORMAT with the problem. */
export function decodeChecksums(value: string, bad: (problem: string) => never): Checksums {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch (e) {
    bad(`metadata entry '${CHECKSUM_KEY}' is not valid JSON (${(e as Error).message})`);
  }
  const o = v as { metadata?: unknown; tensors?: unknown };
  if (o === null || typeof o !== 'object' || Array.isArray(o)) bad(`metadata entry '${CHECKSUM_KEY}' is not a JSON object`);
  if (typeof o.metadata !== 'string' || !HEX.test(o.metadata)) bad(`metadata entry '${CHECKSUM_KEY}': 'metadata' must be 8 hex digits`);
  if (o.tensors === null || typeof o.tensors !== 'object' || Array.isArray(o.tensors)) bad(`metadata entry '${CHECKSUM_KEY}': 'tensors' must be an object`);
  const tensors = new Map<string, string>();
  for (const [name, crc] of Object.entries(o.tensors as Record<string, unknown>)) {
    if (typeof crc !== 'string' || !HEX.test(crc)) bad(`tensor '${name}': its checksum in '${CHECKSUM_KEY}' is not 8 hex digits`);
    tensors.set(name, crc);
  }
  return { metadata: o.metadata, tensors };
}
