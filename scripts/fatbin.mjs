#!/usr/bin/env node
// Lists the CUDA code embedded in a .node (or any ELF64 shared object) without cuobjdump: reads the
// .nv_fatbin section and walks its fatbin containers (one per compiled .cu file). Each entry is
// either device code for one GPU architecture (ELF, "sm_XX") or PTX for a virtual one
// ("compute_XX", which the driver JIT-compiles for newer GPUs).
//   node scripts/fatbin.mjs build/Release/advprop.node [--json]
// Exported: fatbinContents(path) -> { sass: ['sm_75', ...], ptx: ['compute_90'], containers, bytes,
// entryBytes: { sm_75: n, compute_90: n, ... } } (entry sizes as stored, possibly compressed).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FATBIN_MAGIC = 0xba55ed50;

function elfSection(buf, wanted) {
  if (buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('only little-endian ELF64 is supported');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a), shnum = buf.readUInt16LE(0x3c), shstrndx = buf.readUInt16LE(0x3e);
  const sh = (i) => {
    const o = shoff + i * shentsize;
    return { name: buf.readUInt32LE(o), offset: Number(buf.readBigUInt64LE(o + 0x18)), size: Number(buf.readBigUInt64LE(o + 0x20)) };
  };
  const strtab = sh(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    const start = strtab.offset + s.name;
    const name = buf.toString('latin1', start, buf.indexOf(0, start));
    if (name === wanted) return buf.subarray(s.offset, s.offset + s.size);
  }
  return null;
}

export function fatbinContents(path) {
  const sec = elfSection(readFileSync(path), '.nv_fatbin');
  const sass = new Set(), ptx = new Set();
  let containers = 0;
  const entryBytes = {};
  if (sec) {
    let pos = 0;
    while (pos + 16 <= sec.length) {
      if (sec.readUInt32LE(pos) !== FATBIN_MAGIC) { pos += 8; continue; }  // containers are 8-aligned
      const headerSize = sec.readUInt16LE(pos + 6);
      const fatSize = Number(sec.readBigUInt64LE(pos + 8));
      containers++;
      let e = pos + headerSize;
      const end = e + fatSize;
      while (e + 40 <= end) {
        const kind = sec.readUInt16LE(e);                  // 1 = PTX, 2 = ELF (SASS)
        const entryHeader = sec.readUInt32LE(e + 4);
        const size = Number(sec.readBigUInt64LE(e + 8));
        const arch = sec.readUInt32LE(e + 28);
        if (kind === 1) ptx.add(arch); else if (kind === 2) sass.add(arch);
        const key = `${kind === 1 ? 'compute' : 'sm'}_${arch}`;
        entryBytes[key] = (entryBytes[key] ?? 0) + size;
        if (!entryHeader) break;
        e += entryHeader + size;
      }
      pos = Math.max(end, pos + 8);
      pos = (pos + 7) & ~7;
    }
  }
  const sorted = (s) => [...s].sort((a, b) => a - b);
  return {
    sass: sorted(sass).map((a) => `sm_${a}`),
    ptx: sorted(ptx).map((a) => `compute_${a}`),
    containers,
    bytes: sec ? sec.length : 0,
    entryBytes,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) { console.error('usage: node scripts/fatbin.mjs <file.node> [--json]'); process.exit(2); }
  const c = fatbinContents(file);
  if (process.argv.includes('--json')) console.log(JSON.stringify(c));
  else if (!c.bytes) console.log(`${file}: no .nv_fatbin section (built without CUDA)`);
  else console.log(`${file}: .nv_fatbin ${(c.bytes / 2 ** 20).toFixed(1)} MiB in ${c.containers} fatbin(s); ` +
    `GPU code: ${c.sass.join(' ') || 'none'}; PTX: ${c.ptx.join(' ') || 'none'}; MiB per entry: ` +
    Object.entries(c.entryBytes).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(1)}`).join(', '));
}
