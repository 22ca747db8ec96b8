// safetensors integrity: per-tensor checksums written by advprop and verified on read, names that
// could reach an object's prototype, headers no build of ours can hold, and stale temporary files.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ap from '../../lib/index.js';
import { expectCode } from '../helpers.js';
import { CRC_KEY, decodeRaw, encodeRaw, rewrite, type RawEntry } from './raw_safetensors.js';

const { io } = ap;

let dir = '';
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advprop-integrity-')); });
after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const f32 = (a: number[]): Buffer => Buffer.from(Float32Array.from(a).buffer);
const entry = (name: string, values: number[], shape = [values.length]): RawEntry => ({ name, dtype: 'F32', shape, bytes: f32(values) });

/** A file advprop wrote: two f32 tensors, an i32 one and user metadata. */
function written(name: string): string {
  const f = path.join(dir, name);
  ap.tidy(() => io.saveSafetensors(f, {
    'blocks.0.weight': ap.tensor([1, 2, 3, 4, 5, 6], [2, 3]), bias: ap.tensor([0.5, -0.5]), count: ap.tensor([7], [1], { dtype: 'i32' }),
  }, { metadata: { note: 'run 1' } }));
  return f;
}

describe('safetensors integrity', () => {
  it('files advprop writes carry a checksum of every tensor and of the metadata', () => {
    const f = written('sums.safetensors');
    const raw = decodeRaw(fs.readFileSync(f));
    const sums = JSON.parse(raw.metadata![CRC_KEY]!);
    assert.deepEqual(Object.keys(sums.tensors).sort(), ['bias', 'blocks.0.weight', 'count']);
    assert.match(sums.metadata, /^[0-9a-f]{8}$/);
    const file = io.readSafetensors(f);
    assert.equal(file.checksummed, true);
    assert.deepEqual({ ...file.metadata }, { note: 'run 1' }); // the checksum entry is the format's, not the caller's
    expectCode(() => io.saveSafetensors(path.join(dir, 'x'), {}, { metadata: { [CRC_KEY]: '{}' } }), 'ERR_ARG', CRC_KEY);
  });

  it('a flipped bit in any tensor is ERR_FORMAT naming the file and the tensor', () => {
    const f = written('flip.safetensors');
    const bytes = fs.readFileSync(f);
    const hlen = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString());
    for (const name of ['bias', 'blocks.0.weight', 'count']) {
      const bad = Buffer.from(bytes);
      bad[8 + hlen + header[name].data_offsets[0] + 1] ^= 0x10;
      const g = path.join(dir, 'flipped.safetensors');
      fs.writeFileSync(g, bad);
      const e = expectCode(() => io.loadSafetensors(g), 'ERR_FORMAT', `'${name}'`);
      assert.ok(e.message.includes(g) && /checksum/.test(e.message), e.message);
    }
  });

  it('every single-bit flip anywhere in a checksummed file is refused or leaves the tensors intact', () => {
    const f = written('every-bit.safetensors');
    const bytes = fs.readFileSync(f);
    const good = io.readSafetensors(f).tensors;
    let refused = 0;
    for (let i = 0; i < bytes.length; i++) for (let b = 0; b < 8; b++) {
      const bad = Buffer.from(bytes);
      bad[i] ^= 1 << b;
      let got: ap.io.SafetensorsFile;
      try {
        got = io.parseSafetensors(bad, 'every-bit.safetensors');
      } catch (e) {
        assert.ok(e instanceof ap.AdvpropError && e.code === 'ERR_FORMAT' && e.message.includes('every-bit.safetensors'), `byte ${i} bit ${b}: ${String(e)}`);
        refused++;
        continue;
      }
      // Only a flip inside the checksum entry's own key can hide it; the file then reads as one
      // without checksums, with every tensor as written.
      assert.equal(got.checksummed, false, `byte ${i} bit ${b} was accepted as checksummed`);
      for (const [k, t] of good) assert.deepEqual([...got.tensors.get(k)!.data], [...t.data], `byte ${i} bit ${b}: ${k}`);
    }
    assert.ok(refused > 0.95 * bytes.length * 8, `${refused} of ${bytes.length * 8} flips refused`);
  });

  it('a relabelled dtype or shape, or altered metadata, breaks the checksum', () => {
    const f = written('relabel.safetensors');
    const cases: [string, (h: Record<string, any>) => void, string][] = [
      ['dtype F32 -> I32', (h) => { h.bias.dtype = 'I32'; }, "'bias'"],
      ['shape [2, 3] -> [3, 2]', (h) => { h['blocks.0.weight'].shape = [3, 2]; }, "'blocks.0.weight'"],
      ['metadata', (h) => { h.__metadata__.note = 'run 2'; }, 'metadata'],
      ['a tensor missing from the list', (h) => { const s = JSON.parse(h.__metadata__[CRC_KEY]); delete s.tensors.count; h.__metadata__[CRC_KEY] = JSON.stringify(s); }, "'count'"],
      ['a listed tensor not in the file', (h) => { const s = JSON.parse(h.__metadata__[CRC_KEY]); s.tensors.ghost = '00000000'; h.__metadata__[CRC_KEY] = JSON.stringify(s); }, "'ghost'"],
      ['the entry not JSON', (h) => { h.__metadata__[CRC_KEY] = 'crc'; }, CRC_KEY],
      ['a checksum not 8 hex digits', (h) => { const s = JSON.parse(h.__metadata__[CRC_KEY]); s.tensors.bias = 12; h.__metadata__[CRC_KEY] = JSON.stringify(s); }, "'bias'"],
    ];
    const bytes = fs.readFileSync(f);
    const hlen = Number(bytes.readBigUInt64LE(0));
    for (const [title, edit, part] of cases) {
      const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString());
      edit(header);
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      const g = path.join(dir, `relabel-${title.replace(/\W+/g, '_')}.safetensors`);
      fs.writeFileSync(g, Buffer.concat([len, json, bytes.subarray(8 + hlen)]));
      const e = expectCode(() => io.readSafetensors(g), 'ERR_FORMAT', part);
      assert.ok(e.message.includes(g), `${title}: ${e.message}`);
    }
  });

  it('files without checksums (from other writers, e.g. timm) still load', () => {
    const g = path.join(dir, 'plain.safetensors');
    fs.writeFileSync(g, encodeRaw({ entries: [entry('w', [1, 2])], metadata: { format: 'pt' } }, false));
    assert.equal(io.readSafetensors(g).checksummed, false);
    ap.tidy(() => assert.deepEqual([...io.loadSafetensors(g).w.toArray()], [1, 2]));
  });

  it('tensor and metadata names such as __proto__ stay keys and never reach a prototype', () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    const g = path.join(dir, 'proto.safetensors');
    fs.writeFileSync(g, encodeRaw({ entries: names.map((n, i) => entry(n, [i])), metadata: { ['__proto__']: 'x', constructor: 'y' } }, true));
    const file = io.readSafetensors(g);
    assert.deepEqual([...file.tensors.keys()].sort(), [...names].sort());
    assert.ok(Object.getPrototypeOf(file.metadata) === null || Object.getPrototypeOf(file.metadata) === Object.prototype);
    assert.deepEqual(Object.entries(file.metadata).sort(), [['__proto__', 'x'], ['constructor', 'y']]);
    ap.tidy(() => {
      const rec = io.loadSafetensors(g);
      const proto = Object.getPrototypeOf(rec);
      assert.ok(proto === null || proto === Object.prototype, 'the record took a tensor as its prototype');
      assert.deepEqual(Object.keys(rec).sort(), [...names].sort());
      names.forEach((n, i) => assert.deepEqual([...rec[n]!.toArray()], [i], n));
    });
    // A model loading such a file reports the names as unexpected keys instead of ignoring them.
    const model = new ap.nn.Linear(1, 1, { seed: 1 });
    const h = path.join(dir, 'model-proto.safetensors');
    ap.tidy(() => io.saveModel(h, model));
    rewrite(h, h, (f) => { f.entries.push(entry('__proto__', [1])); });
    const e = expectCode(() => io.loadModel(h, model), 'ERR_ARG', 'unexpected __proto__');
    assert.ok(e.message.includes(h) && e instanceof ap.nn.StateDictError && e.report.unexpected.includes('__proto__'), e.message);
  });

  it('dtype names of Object.prototype and shapes beyond what a tensor can hold are ERR_FORMAT naming the tensor', () => {
    for (const dtype of ['toString', 'constructor', '__proto__']) {
      const g = path.join(dir, 'dtype.safetensors');
      fs.writeFileSync(g, encodeRaw({ entries: [{ name: 'a', dtype, shape: [1], bytes: Buffer.alloc(4) }], metadata: null }, false));
      expectCode(() => io.loadSafetensors(g), 'ERR_FORMAT', "tensor 'a': unsupported dtype");
    }
    const g = path.join(dir, 'rank9.safetensors');
    fs.writeFileSync(g, encodeRaw({ entries: [entry('deep', [1], [1, 1, 1, 1, 1, 1, 1, 1, 1])], metadata: null }, false));
    const e = expectCode(() => io.loadSafetensors(g), 'ERR_FORMAT', "'deep'");
    assert.ok(e.message.includes(g), e.message);
  });

  it('the next write of a file removes the temporary files that killed writers left beside it', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'tmp-'));
    const f = path.join(d, 'last.safetensors');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const alive = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    try {
      const stale = [`.last.safetensors.${dead}.1700000000000.tmp`, `.last.safetensors.${process.pid}.1700000000001.tmp`];
      const kept = [`.last.safetensors.${alive.pid}.1700000000002.tmp`, `.other.safetensors.${dead}.1700000000003.tmp`, 'notes.tmp'];
      for (const n of [...stale, ...kept]) fs.writeFileSync(path.join(d, n), 'partial');
      ap.tidy(() => io.saveSafetensors(f, { a: ap.tensor([1]) }));
      assert.deepEqual(fs.readdirSync(d).sort(), ['last.safetensors', ...kept].sort());
    } finally {
      alive.kill('SIGKILL');
    }
  });
});
