// A small tar writer for tests (ustar headers; long names as GNU 'L' entries, pax 'x' headers or
// a ustar prefix), and WebDataset shards of generated images written with it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode, EXT, type Kind } from './images.js';

export interface Member {
  name: string;
  data?: Buffer;
  /** Type flag: '0' file (default), '5' directory, '2' symlink... */
  type?: string;
  /** How a name over 100 bytes is stored. */
  long?: 'gnu' | 'pax' | 'prefix';
  /** The size in a pax record only, the header's field 0 (as for members past 8 GiB). */
  paxSize?: boolean;
}

const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, '0') + '\0';

function header(name: string, size: number, type: string, prefix = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  h.write(octal(size, 12), 124, 'latin1');
  h.write(octal(1700000000, 12), 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(type, 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len++;
  return `${len}${body}`;
}

/** The bytes of an archive of `members`, with the two zero blocks that end it. */
export function tarBytes(members: Member[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = m.data ?? Buffer.alloc(0), type = m.type ?? '0';
    let name = m.name, prefix = '';
    if (m.paxSize) {
      const rec = Buffer.from(paxRecord('size', String(data.length)));
      parts.push(header('PaxHeaders/s', rec.length, 'x'), pad(rec));
    }
    if (Buffer.byteLength(name) > 100) {
      if (m.long === 'pax') {
        const rec = Buffer.from(paxRecord('path', name));
        parts.push(header('PaxHeaders/x', rec.length, 'x'), pad(rec));
        name = name.slice(-99);
      } else if (m.long === 'prefix') {
        const cut = name.lastIndexOf('/', name.length - 2);
        prefix = name.slice(0, cut);
        name = name.slice(cut + 1);
      } else {
        const long = Buffer.from(name + '\0');
        parts.push(header('././@LongLink', long.length, 'L'), pad(long));
        name = name.slice(0, 100);
      }
    }
    parts.push(header(name, type === '0' && !m.paxSize ? data.length : 0, type, prefix));
    if (type === '0') parts.push(pad(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface ShardSample { shard: string; key: string; label: number; kind: Kind; width: number; height: number; seed: number }

/**
 * dir/shard-NNN.tar, `perShard` samples each: key.<jpg|png> + key.cls, kinds in turn, labels
 * (i + shard) % classes; keys lie in subfolders as WebDataset writers put them.
 */
export async function writeShards(dir: string, shards: number, perShard: number, classes: number,
  kinds: Kind[] = ['jpeg', 'png']): Promise<ShardSample[]> {
  mkdirSync(dir, { recursive: true });
  const out: ShardSample[] = [];
  for (let s = 0; s < shards; s++) {
    const members: Member[] = [];
    const shard = join(dir, `shard-${String(s).padStart(3, '0')}.tar`);
    for (let i = 0; i < perShard; i++) {
      const kind = kinds[(i + s) % kinds.length]!;
      const sample = { shard, key: `part${s}/sample${String(i).padStart(4, '0')}`, label: (i + s) % classes, kind, width: 30 + 2 * (i % 5), height: 24 + 3 * (s % 3), seed: 100 * s + i };
      members.push({ name: `${sample.key}.${EXT[kind]}`, data: await encode(kind, sample.width, sample.height, sample.seed) });
      members.push({ name: `${sample.key}.cls`, data: Buffer.from(`${sample.label}\n`) });
      out.push(sample);
    }
    writeFileSync(shard, tarBytes(members));
  }
  return out;
}
