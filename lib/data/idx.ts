// The IDX format of MNIST and Fashion-MNIST: a big-endian magic (0x0000, type byte, rank byte),
// the dimensions as u32, then the data. Files may be gzipped.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { AdvpropError } from '../errors.js';
import { pathArg } from '../args.js';

export interface IdxArray { dims: number[]; data: Uint8Array }

export function readFileMaybeGzip(path: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new AdvpropError('ERR_IO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch (e) {
      throw new AdvpropError('ERR_FORMAT', `${path}: corrupt gzip data (${(e as Error).message})`, { cause: e });
    }
  }
  return raw;
}

/** Reads an unsigned-byte IDX file (the only type MNIST-style datasets use). */
export function readIdx(path: string): IdxArray {
  pathArg(path, 'readIdx', 'path');
  const buf = readFileMaybeGzip(path);
  if (buf.length < 4) throw new AdvpropError('ERR_FORMAT', `${path}: IDX file of ${buf.length} bytes has no header`);
  if (buf[0] !== 0 || buf[1] !== 0)
    throw new AdvpropError('ERR_FORMAT', `${path}: not an IDX file (magic ${buf.readUInt32BE(0).toString(16)})`);
  if (buf[2] !== 0x08) throw new AdvpropError('ERR_FORMAT', `${path}: IDX element type 0x${buf[2]!.toString(16)} is not unsigned byte (0x08)`);
  const rank = buf[3]!;
  if (rank < 1 || rank > 4) throw new AdvpropError('ERR_FORMAT', `${path}: IDX rank ${rank} out of range 1..4`);
  const header = 4 + 4 * rank;
  if (buf.length < header) throw new AdvpropError('ERR_FORMAT', `${path}: truncated IDX header`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== header + count)
    throw new AdvpropError('ERR_FORMAT', `${path}: IDX dims [${dims.join(', ')}] need ${header + count} bytes, file has ${buf.length}`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + header, count) };
}
