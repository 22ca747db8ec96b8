// safetensors, read and written by us: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}, then the
// data. Every field is validated (offsets contiguous, in bounds, matching the shapes) and, in files
// advprop wrote, every tensor's checksum (./checksum.ts), so a corrupt file gives ERR_FORMAT naming
// the file, the tensor and the problem, never a wrong tensor. Names come from the file, so records
// keyed by them have no prototype for a name such as __proto__ to reach. Writes are atomic: a
// temporary file in the same folder, fsynced, then renamed over the target. BF16 and F16 are read
// and written as their bits, never widened: a bf16 tensor saved and loaded comes back bit for bit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AdvpropError } from '../errors.js';
import { describeValue, showValue } from '../device.js';
import { checkTensor, halfBits, type Tensor } from '../tensor.js';
import { tensor, tensorFromBits } from '../creation.js';
import { cast as castKernel } from '../kernels.js';
import { CHECKSUM_KEY, decodeChecksums, encodeChecksums, metadataChecksum, tensorChecksum } from './checksum.js';
import { objectArg, optionsArg, pathArg } from '../args.js';

export type StDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';
const ITEM: Record<StDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };
const OUR_DTYPE: Record<StDType, HostTensor['dtype']> = { F64: 'f64', F32: 'f32', F16: 'f16', BF16: 'bf16', I64: 'i32', I32: 'i32' };
// A header larger than this is not a weights file (safetensors' own limit is 100 MB).
const MAX_HEADER = 100 * 1024 * 1024;

export interface HostTensor {
  /** The dtype in the file. */
  fileDtype: StDType;
  /** Our dtype (I64 → i32; the others as they are). */
  dtype: 'f32' | 'f64' | 'i32' | 'bf16' | 'f16';
  shape: number[];
  /** The values; for bf16 and f16 a Uint16Array of their bit patterns. */
  data: Float32Array | Float64Array | Int32Array | Uint16Array;
}

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  /** The metadata entries, less advprop's checksum entry (a record without a prototype). */
  metadata: Record<string, string>;
  /** The file carried advprop's checksums, and every one of them matched. */
  checksummed: boolean;
}

/** A record without a prototype, for keys that come from a file. */
export function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function bad(file: string, problem: string): never {
  throw new AdvpropError('ERR_FORMAT', `safetensors: ${file}: ${problem}`);
}

function decode(file: string, name: string, dt: StDType, bytes: Buffer, n: number): HostTensor['data'] {
  // Copy into an aligned buffer: the data section need not be aligned inside the file.
  const buf = new ArrayBuffer(bytes.length);
  new Uint8Array(buf).set(bytes);
  switch (dt) {
    case 'F32': return new Float32Array(buf);
    case 'F64': return new Float64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'F16':
    case 'BF16': return new Uint16Array(buf);
    case 'I64': {
      const v = new BigInt64Array(buf);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (v[i] < -2147483648n || v[i] > 2147483647n) bad(file, `tensor '${name}': I64 value ${v[i]} at index ${i} does not fit in i32`);
        out[i] = Number(v[i]);
      }
      return out;
    }
  }
}

/** Parses and validates a safetensors buffer (`file` names it in errors). */
export function parseSafetensors(bytes: Buffer, file = '<buffer>'): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new AdvpropError('ERR_ARG', `parseSafetensors: bytes must be a Buffer or Uint8Array, got ${describeValue(bytes)}`);
  if (typeof file !== 'string') throw new AdvpropError('ERR_ARG', `parseSafetensors: file must be a string naming the bytes, got ${describeValue(file)}`);
  if (!Buffer.isBuffer(bytes)) {
    const u = bytes as Uint8Array;
    bytes = Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  }
  if (bytes.length < 8) bad(file, `file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const hlen = bytes.readBigUInt64LE(0);
  if (hlen > BigInt(Math.min(MAX_HEADER, bytes.length - 8)))
    bad(file, `header length ${hlen} exceeds the ${bytes.length - 8} bytes after it (truncated or not a safetensors file)`);
  const headerEnd = 8 + Number(hlen);
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, headerEnd).toString('utf8'));
  } catch (e) {
    bad(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad(file, 'header is not a JSON object');
  const dataLen = bytes.length - headerEnd;
  const entries: { name: string; dt: StDType; shape: number[]; b: number; en: number; n: number }[] = [];
  const metadata = record<string>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || Object.values(entry).some((v) => typeof v !== 'string'))
        bad(file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry as Record<string, string>)) metadata[k] = v;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') bad(file, `tensor '${name}': entry is not an object`);
    if (typeof e.dtype !== 'string' || !Object.hasOwn(ITEM, e.dtype)) bad(file, `tensor '${name}': unsupported dtype ${describeValue(e.dtype)} (F64, F32, F16, BF16, I64, I32 are read)`);
    const dt = e.dtype as StDType;
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) bad(file, `tensor '${name}': shape ${JSON.stringify(e.shape)} is not a list of sizes`);
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((o) => !Number.isSafeInteger(o) || o < 0) || off[0] > off[1])
      bad(file, `tensor '${name}': data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 <= begin <= end`);
    const [b, en] = off as number[];
    if (en > dataLen) bad(file, `tensor '${name}': data_offsets [${b}, ${en}] are out of bounds (the data section has ${dataLen} bytes)`);
    const n = shape.reduce((a, d) => a * d, 1);
    if (en - b !== n * ITEM[dt]) bad(file, `tensor '${name}': ${dt} [${shape.join(', ')}] needs ${n * ITEM[dt]} bytes, data_offsets [${b}, ${en}] hold ${en - b}`);
    entries.push({ name, dt, shape, b, en, n });
  }
  // The format requires the tensors to tile the data section: no gap, no overlap, nothing after.
  const spans = entries.slice().sort((x, y) => x.b - y.b || x.en - y.en);
  let pos = 0;
  for (const { b, en, name } of spans) {
    if (b < pos) bad(file, `tensor '${name}' [${b}, ${en}] overlaps the previous tensor (which ends at ${pos})`);
    if (b > pos) bad(file, `gap in the data section before tensor '${name}' (bytes ${pos}..${b} belong to no tensor)`);
    pos = en;
  }
  if (pos !== dataLen) bad(file, `the data section has ${dataLen} bytes but the tensors cover ${pos} (trailing bytes or truncated file)`);
  const checksummed = CHECKSUM_KEY in metadata;
  if (checksummed) {
    const sums = decodeChecksums(metadata[CHECKSUM_KEY]!, (p) => bad(file, p));
    delete metadata[CHECKSUM_KEY];
    if (metadataChecksum(metadata) !== sums.metadata) bad(file, `the metadata does not match its checksum (the header is corrupt)`);
    for (const { name, dt, shape, b, en } of entries) {
      const want = sums.tensors.get(name);
      if (want === undefined) bad(file, `tensor '${name}' has no checksum in '${CHECKSUM_KEY}' (the header is corrupt)`);
      const got = tensorChecksum(dt, shape, bytes.subarray(headerEnd + b, headerEnd + en));
      if (got !== want) bad(file, `tensor '${name}' (${dt} [${shape.join(', ')}]) does not match its checksum (${got}, stored ${want}): the file is corrupt`);
    }
    const names = new Set(entries.map((e) => e.name));
    for (const name of sums.tensors.keys()) if (!names.has(name)) bad(file, `'${CHECKSUM_KEY}' lists tensor '${name}', which the file does not hold`);
  }
  const tensors = new Map<string, HostTensor>();
  for (const { name, dt, shape, b, en, n } of entries) {
    const data = decode(file, name, dt, bytes.subarray(headerEnd + b, headerEnd + en), n);
    tensors.set(name, { fileDtype: dt, dtype: OUR_DTYPE[dt], shape, data });
  }
  return { tensors, metadata, checksummed };
}

export function readSafetensors(file: string): SafetensorsFile {
  pathArg(file, 'readSafetensors', 'file');
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new AdvpropError('ERR_IO', `safetensors: cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseSafetensors(bytes, file);
}

/** Checks a converter's input: a typed array holding exactly the elements of a 4-D shape. */
function checkLayoutArgs(data: unknown, shape: unknown, op: string): [number, number, number, number] {
  if (!(data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array || data instanceof Uint16Array))
    throw new AdvpropError('ERR_ARG', `${op}: data must be a Float32Array, Float64Array, Int32Array or Uint16Array (bf16/f16 bits), got ${describeValue(data)}`);
  if (!Array.isArray(shape) || shape.length !== 4 || shape.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new AdvpropError('ERR_SHAPE', `${op}: shape must be 4 sizes, got ${Array.isArray(shape) ? `[${shape.map(showValue).join(', ')}]` : describeValue(shape)}`);
  const n = shape.reduce((a: number, b: number) => a * b, 1);
  if (n !== data.length) throw new AdvpropError('ERR_SHAPE', `${op}: shape [${shape.join(', ')}] has ${n} elements but data has ${data.length}`);
  return shape as [number, number, number, number];
}

/** [O, I, H, W] → [O, H, W, I] (also depthwise [C, 1, kh, kw] → [C, kh, kw, 1]). */
export function oihwToOhwi<T extends HostTensor['data']>(data: T, shape: readonly number[]): { data: T; shape: number[] } {
  const [o, i, h, w] = checkLayoutArgs(data, shape, 'oihwToOhwi');
  const out = new (data.constructor as new (n: number) => T)(data.length);
  for (let a = 0; a < o; a++)
    for (let c = 0; c < i; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((a * h + y) * w + x) * i + c] = data[((a * i + c) * h + y) * w + x];
  return { data: out, shape: [o, h, w, i] };
}

/** [O, H, W, I] → [O, I, H, W]. */
export function ohwiToOihw<T extends HostTensor['data']>(data: T, shape: readonly number[]): { data: T; shape: number[] } {
  const [o, h, w, i] = checkLayoutArgs(data, shape, 'ohwiToOihw');
  const out = new (data.constructor as new (n: number) => T)(data.length);
  for (let a = 0; a < o; a++)
    for (let c = 0; c < i; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((a * i + c) * h + y) * w + x] = data[((a * h + y) * w + x) * i + c];
  return { data: out, shape: [o, i, h, w] };
}

export interface LoadOptions {
  /** Layout of the 4-D (conv) weights in the file: 'ohwi' (ours, default) or 'oihw' (PyTorch). */
  layout?: 'ohwi' | 'oihw';
  device?: string;
  /** Converts float tensors (e.g. 'f64' for gradient checks; BF16/F16 widen exactly); default keeps the file's. */
  dtype?: 'f32' | 'f64';
}

function checkLayout(v: unknown, op: string): 'ohwi' | 'oihw' {
  if (v !== 'ohwi' && v !== 'oihw') throw new AdvpropError('ERR_ARG', `${op}: layout must be 'ohwi' or 'oihw', got ${describeValue(v)}`);
  return v;
}

/** A tensor from a file's host tensor; a shape no tensor can have is the file's ERR_FORMAT. Bits
 * (a Uint16Array) are of `from`, the file's dtype, which is converted to opts.dtype if it differs. */
export function fileTensor(file: string, name: string, data: HostTensor['data'], shape: number[],
  opts: { dtype: HostTensor['dtype']; device?: string }, from: HostTensor['dtype'] = opts.dtype): Tensor {
  try {
    if (!(data instanceof Uint16Array)) return tensor(data, shape, opts);
    if (from !== 'bf16' && from !== 'f16') throw new AdvpropError('ERR_INTERNAL', `fileTensor: bits for dtype ${from}`);
    const t = tensorFromBits(data, shape, from, opts.device);
    if (opts.dtype === from) return t;
    try { return castKernel(t, opts.dtype); } finally { t.dispose(); }
  } catch (e) {
    if (e instanceof AdvpropError && e.code === 'ERR_SHAPE') bad(file, `tensor '${name}': ${e.message}`);
    throw e;
  }
}

/** Reads a file into tensors, converting 4-D weights to OHWI when `layout: 'oihw'`. The record has
 * no prototype, so every name in the file, __proto__ included, is an ordinary key. */
export function loadSafetensors(file: string, options?: LoadOptions): Record<string, Tensor> {
  pathArg(file, 'loadSafetensors', 'file');
  const opts = optionsArg(options, 'loadSafetensors');
  const layout = checkLayout(opts.layout ?? 'ohwi', 'loadSafetensors');
  const { tensors } = readSafetensors(file);
  const out = record<Tensor>();
  try {
    for (const [name, t] of tensors) {
      let { data, shape } = t;
      if (layout === 'oihw' && shape.length === 4) ({ data, shape } = oihwToOhwi(data, shape));
      const dtype = opts.dtype && t.dtype !== 'i32' ? opts.dtype : t.dtype;
      out[name] = fileTensor(file, name, data, shape, { dtype, device: opts.device }, t.dtype);
    }
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return out;
}

const ST_DTYPE: Record<string, StDType> = { f32: 'F32', f64: 'F64', i32: 'I32', bf16: 'BF16', f16: 'F16' };

export interface SaveOptions {
  /** Layout to write 4-D weights in: 'ohwi' (default) or 'oihw' (for PyTorch / timm). */
  layout?: 'ohwi' | 'oihw';
  metadata?: Record<string, string>;
}

/** Serialises tensors to safetensors bytes (names sorted, as the reference writer does). */
export function serializeSafetensors(tensors: Record<string, Tensor> | Map<string, Tensor>, options?: SaveOptions): Buffer {
  objectArg(tensors, 'saveSafetensors', 'tensors', 'an object or Map of tensors by name');
  const opts = optionsArg(options, 'saveSafetensors');
  const layout = checkLayout(opts.layout ?? 'ohwi', 'saveSafetensors');
  const entries = [...(tensors instanceof Map ? tensors : Object.entries(tensors))].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  // No prototype: a tensor named __proto__ must become a key of the header like any other.
  const header = record<unknown>();
  const metadata = record<string>();
  if (opts.metadata !== undefined) {
    objectArg(opts.metadata, 'saveSafetensors', 'metadata', 'an object of strings');
    if (Object.values(opts.metadata).some((v) => typeof v !== 'string')) throw new AdvpropError('ERR_ARG', 'saveSafetensors: metadata values must be strings');
    if (Object.hasOwn(opts.metadata, CHECKSUM_KEY)) throw new AdvpropError('ERR_ARG', `saveSafetensors: metadata key '${CHECKSUM_KEY}' is reserved for the checksums advprop writes`);
    Object.assign(metadata, opts.metadata);
  }
  header.__metadata__ = metadata;
  const sums: [string, string][] = [];
  const chunks: Buffer[] = [];
  let pos = 0;
  for (const [name, v] of entries) {
    if (name === '__metadata__' || name === '') throw new AdvpropError('ERR_ARG', `saveSafetensors: invalid tensor name ${describeValue(name)}`);
    const t = checkTensor(v, 'saveSafetensors', name);
    if (t.dtype === 'u8') throw new AdvpropError('ERR_DTYPE', `saveSafetensors: '${name}' is u8 [${t.shape.join(', ')}]; files hold ${Object.keys(ST_DTYPE).join(', ')} tensors`);
    let data = (t.dtype === 'bf16' || t.dtype === 'f16' ? halfBits(t) : t.toArray()) as HostTensor['data'];
    let shape = t.shape.slice();
    if (layout === 'oihw' && shape.length === 4) ({ data, shape } = ohwiToOihw(data, shape));
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype: ST_DTYPE[t.dtype], shape, data_offsets: [pos, pos + bytes.length] };
    sums.push([name, tensorChecksum(ST_DTYPE[t.dtype]!, shape, bytes)]);
    chunks.push(bytes);
    pos += bytes.length;
  }
  metadata[CHECKSUM_KEY] = encodeChecksums(sums, metadata);
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (allowed by the format).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([head, Buffer.from(json, 'utf8'), ...chunks]);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// A writer killed between creating its temporary file and the rename leaves `.NAME.PID.MS.tmp`
// behind; nothing else would ever remove it. Files of a live process (a concurrent writer) stay.
// This process writes synchronously, so a file of its own pid is always a leftover.
function removeStaleTemps(dir: string, base: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // the write itself will report the folder
  }
  const prefix = `.${base}.`;
  for (const n of names) {
    if (!n.startsWith(prefix) || !n.endsWith('.tmp')) continue;
    const m = /^([0-9]+)\.[0-9]+$/.exec(n.slice(prefix.length, -'.tmp'.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && processAlive(pid)) continue;
    try { fs.unlinkSync(path.join(dir, n)); } catch { /* removed by another writer */ }
  }
}

/** Writes `bytes` to `file` atomically: temp file in the same folder, fsync, rename. Temporary
 * files that killed writers of the same file left behind are removed first. */
export function writeFileAtomic(file: string, bytes: Buffer): void {
  pathArg(file, 'writeFileAtomic', 'file');
  if (!(bytes instanceof Uint8Array)) throw new AdvpropError('ERR_ARG', `writeFileAtomic: bytes must be a Buffer or Uint8Array, got ${describeValue(bytes)}`);
  const dir = path.dirname(path.resolve(file));
  removeStaleTemps(dir, path.basename(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.unlinkSync(tmp); } catch { /* never created */ }
    throw new AdvpropError('ERR_IO', `safetensors: cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
  // Make the rename itself durable; not every filesystem lets a directory be fsynced.
  try {
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* best effort */ }
}

export function saveSafetensors(file: string, tensors: Record<string, Tensor> | Map<string, Tensor>, opts?: SaveOptions): void {
  pathArg(file, 'saveSafetensors', 'file');
  writeFileAtomic(file, serializeSafetensors(tensors, opts));
}
