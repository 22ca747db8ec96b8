// A POSIX tar reader for WebDataset shards. It walks the 512-byte headers with positional reads
// and seeks over the members' data, so indexing a shard on network storage reads a few hundred
// bytes per member rather than the whole file. Understands ustar (name prefix), GNU long names
// ('L') and pax extended headers ('x': path and size); directories, links and other entry types
// are passed over. Every header's checksum is verified: a shard that is not a tar, is corrupt or is
// truncated fails with ERR_FORMAT naming the file and the byte offset.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { AdvpropError } from '../errors.js';

export interface TarMember {
  /** Full path inside the archive (pax path, GNU long name or ustar prefix/name). */
  name: string;
  /** Byte offset of the member's data in the file, and its length. */
  offset: number;
  size: number;
  /** The data, for members `want` asked for. */
  data?: Buffer;
}

const BLOCK = 512;
const roundUp = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/** Reads `len` bytes at `pos` (fewer only at the end of the file). */
export function readAt(fd: number, len: number, pos: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? buf : buf.subarray(0, got);
}

function cstr(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
}

function checksumOk(h: Buffer, stored: number): boolean {
  // The checksum field counts as eight spaces; old writers summed signed chars, so accept both.
  let unsigned = 8 * 32, signed = 8 * 32;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    unsigned += h[i]!;
    signed += h[i]! > 127 ? h[i]! - 256 : h[i]!;
  }
  return stored === unsigned || stored === signed;
}

/**
 * Every regular file of the archive at `file`, in archive order, with its data for the members
 * `want(name)` accepts (read at the time, meant for small members such as labels).
 */
export function listTar(file: string, want: (name: string) => boolean = () => false): TarMember[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new AdvpropError('ERR_IO', `cannot open ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return walk(fd, file, fstatSync(fd).size, want);
  } finally {
    closeSync(fd);
  }
}

/**
 * Positional reads through an 8 KiB window: a WebDataset sample's headers and small members lie
 * together (key.cls header, its data, key.jpg header), so indexing costs one read per sample
 * rather than one per block — what matters on network storage, where each read is a round trip.
 */
class Window {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  constructor(private readonly fd: number, private readonly size = 8192) {}
  read(pos: number, len: number): Buffer {
    const at = pos - this.start;
    if (at >= 0 && at + len <= this.buf.length) return this.buf.subarray(at, at + len);
    if (len > this.size) return readAt(this.fd, len, pos);
    this.buf = readAt(this.fd, this.size, pos);
    this.start = pos;
    return this.buf.subarray(0, Math.min(len, this.buf.length));
  }
}

function walk(fd: number, file: string, fileSize: number, want: (name: string) => boolean): TarMember[] {
  const win = new Window(fd);
  const bad = (at: number, what: string): never => {
    throw new AdvpropError('ERR_FORMAT', `${file}: ${what} at byte offset ${at}; not a tar archive, or corrupt or truncated`);
  };
  const octal = (h: Buffer, start: number, len: number, at: number, field: string): number => {
    if (h[start]! & 0x80) {
      // GNU base-256 for values past 8 GiB: big-endian, the first byte's top bit the flag.
      if (h[start] !== 0x80) bad(at, `negative or oversized ${field} field`);
      let v = 0;
      for (let i = start + 1; i < start + len; i++) v = v * 256 + h[i]!;
      if (!Number.isSafeInteger(v)) bad(at, `oversized ${field} field`);
      return v;
    }
    const text = h.toString('latin1', start, start + len).replace(/[\0 ]+$/, '').replace(/^ +/, '');
    if (!/^[0-7]*$/.test(text)) bad(at, `${field} field '${text.replace(/[^\x20-\x7e]/g, '?')}' is not an octal number`);
    return text === '' ? 0 : parseInt(text, 8);
  };
  const out: TarMember[] = [];
  let pos = 0;
  let longName: string | null = null;
  let paxPath: string | null = null;
  let paxSize: number | null = null;
  for (;;) {
    const h = win.read(pos, BLOCK);
    if (h.length === 0) bad(pos, 'end of file without the end-of-archive block');
    if (h.length < BLOCK) bad(pos, 'truncated header');
    if (h[0] === 0 && h.every((b) => b === 0)) {
      if (longName !== null || paxPath !== null) bad(pos, 'end-of-archive block after a long-name or pax header');
      return out;
    }
    const stored = octal(h, 148, 8, pos, 'checksum');
    if (!checksumOk(h, stored)) bad(pos, 'header checksum mismatch');
    const type = String.fromCharCode(h[156]!);
    // A pax size applies to the member after the extension headers, not to another one of them.
    const size = paxSize !== null && !'LKxg'.includes(type) ? paxSize : octal(h, 124, 12, pos, 'size');
    const dataAt = pos + BLOCK;
    // Links, devices, fifos and directories carry no data whatever their size field says.
    const hasData = !'123456'.includes(type);
    if (hasData && dataAt + size > fileSize) bad(pos, `member of ${size} bytes running past the end of the file (${fileSize} bytes)`);
    const next = dataAt + (hasData ? roundUp(size) : 0);
    if (type === 'L' || type === 'x') {
      const data = win.read(dataAt, size);
      if (type === 'L') longName = cstr(data, 0, data.length);
      else ({ path: paxPath, size: paxSize } = parsePax(data, paxPath, paxSize, () => bad(pos, 'malformed pax header')));
      pos = next;
      continue;
    }
    if (type === '0' || type === '\0' || type === '7') {
      const magic = h.toString('latin1', 257, 263);
      const base = cstr(h, 0, 100);
      const prefix = magic === 'ustar\0' ? cstr(h, 345, 155) : '';
      const name = paxPath ?? longName ?? (prefix ? `${prefix}/${base}` : base);
      // A pre-POSIX archive marks directories by a trailing slash only.
      if (!name.endsWith('/')) {
        const m: TarMember = { name, offset: dataAt, size };
        // A copy: a view would keep the whole window alive for each small member.
        if (want(name)) m.data = Buffer.from(win.read(dataAt, size));
        out.push(m);
      }
    }
    longName = paxPath = null;
    paxSize = null;
    pos = next;
  }
}

/** pax records "<len> <key>=<value>\n": the path and size keys, the others ignored. */
function parsePax(data: Buffer, path: string | null, size: number | null, fail: () => never): { path: string | null; size: number | null } {
  let i = 0;
  while (i < data.length && data[i] !== 0) {
    const sp = data.indexOf(0x20, i);
    const len = sp < 0 ? NaN : Number(data.toString('latin1', i, sp));
    if (!Number.isInteger(len) || len <= sp - i || i + len > data.length) fail();
    const rec = data.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq < 0) fail();
    const key = rec.slice(0, eq), value = rec.slice(eq + 1);
    if (key === 'path') path = value;
    if (key === 'size') {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) fail();
      size = Number(value);
    }
    i += len;
  }
  return { path, size };
}
