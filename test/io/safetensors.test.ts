// safetensors: round trips (BF16 and F16 bit for bit), files written by an independent minimal
// writer in this test (F16, BF16, I64, OIHW), every kind of corruption, and the atomic write.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ap from '../../lib/index.js';
import { expectCode, hostRandom } from '../helpers.js';

const { io } = ap;

let dir = '';
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advprop-st-')); });
after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** The format written by hand: header length, JSON, raw bytes (no padding, given order). */
function rawFile(entries: { name: string; dtype: string; shape: number[]; bytes: Buffer }[], tamper?: (h: Record<string, any>) => void): Buffer {
  const header: Record<string, any> = {};
  let pos = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [pos, pos + e.bytes.length] };
    pos += e.bytes.length;
  }
  tamper?.(header);
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...entries.map((e) => e.bytes)]);
}

const f32Bytes = (a: number[]): Buffer => Buffer.from(Float32Array.from(a).buffer);

function write(name: string, bytes: Buffer): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
}

describe('safetensors', () => {
  it('round trips f32, f64 and i32 tensors of every rank, with metadata', () => {
    const f = path.join(dir, 'rt.safetensors');
    ap.tidy(() => {
      const src: Record<string, ap.Tensor> = {
        'a.weight': ap.tensor(hostRandom(2 * 3 * 4 * 5, 1), [2, 3, 4, 5]),
        b: ap.tensor(hostRandom(7, 2), [7], { dtype: 'f64' }),
        c: ap.tensor([1, -2, 2147483647], [3], { dtype: 'i32' }),
        scalar: ap.tensor(3.5),
        empty: ap.zeros([0, 4]),
      };
      io.saveSafetensors(f, src, { metadata: { format: 'pt' } });
      const file = io.readSafetensors(f);
      assert.deepEqual({ ...file.metadata }, { format: 'pt' }); // a record without a prototype
      const back = io.loadSafetensors(f);
      assert.deepEqual(Object.keys(back).sort(), Object.keys(src).sort());
      for (const k of Object.keys(src)) {
        assert.equal(back[k].dtype, src[k].dtype, k);
        assert.deepEqual(back[k].shape, src[k].shape, k);
        assert.deepEqual(Array.from(back[k].toArray()), Array.from(src[k].toArray()), k);
      }
      // The data section starts 8-byte aligned and names are sorted.
      const bytes = fs.readFileSync(f);
      assert.equal((8 + Number(bytes.readBigUInt64LE(0))) % 8, 0);
      const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString());
      assert.deepEqual(Object.keys(header).filter((k) => k !== '__metadata__'), Object.keys(src).sort());
    });
  });

  it('reads a file written by an independent writer: F16 and BF16 as they are, I64 converted', () => {
    const f16 = Buffer.alloc(8);
    [0x3c00, 0xc000, 0x3555, 0x0001].forEach((h, i) => f16.writeUInt16LE(h, 2 * i)); // 1, -2, 0.333..., 2^-24
    const bf16 = Buffer.alloc(4);
    [0x3f80, 0xc0a0].forEach((h, i) => bf16.writeUInt16LE(h, 2 * i)); // 1, -5
    const i64 = Buffer.alloc(16);
    i64.writeBigInt64LE(-7n, 0);
    i64.writeBigInt64LE(123456n, 8);
    const f = write('mixed.safetensors', rawFile([
      { name: 'h', dtype: 'F16', shape: [2, 2], bytes: f16 },
      { name: 'bf', dtype: 'BF16', shape: [2], bytes: bf16 },
      { name: 'n', dtype: 'I64', shape: [2], bytes: i64 },
      { name: 'x', dtype: 'F32', shape: [3], bytes: f32Bytes([0.5, 1.5, -2]) },
    ]));
    ap.tidy(() => {
      const t = io.loadSafetensors(f);
      assert.equal(t.h.dtype, 'f16'); // not widened (the values read back as f32 are the same)
      assert.equal(t.bf.dtype, 'bf16');
      assert.deepEqual(Array.from(t.h.toArray()), [1, -2, (1 + 0x155 / 1024) / 4, 2 ** -24]);
      assert.deepEqual(Array.from(t.bf.toArray()), [1, -5]);
      assert.equal(t.n.dtype, 'i32');
      assert.deepEqual(Array.from(t.n.toArray()), [-7, 123456]);
      assert.deepEqual(Array.from(t.x.toArray()), [0.5, 1.5, -2]);
    });
  });

  it('round trips bf16 and f16 bit for bit, NaN payloads and subnormals included, without widening', () => {
    const bits = Uint16Array.of(0x0000, 0x8000, 0x3f80, 0x0001, 0x807f, 0x7f80, 0xff80, 0x7fc1, 0xffff, 0x7f81, 0x3555, 0x03ff);
    const bytes = Buffer.from(bits.buffer);
    const f = write('half.safetensors', rawFile([
      { name: 'b', dtype: 'BF16', shape: [3, 4], bytes },
      { name: 'h', dtype: 'F16', shape: [2, 6], bytes },
    ]));
    const file = io.readSafetensors(f);
    assert.equal(file.tensors.get('b')!.dtype, 'bf16');
    assert.deepEqual(Array.from(file.tensors.get('h')!.data), Array.from(bits)); // the bits, not values
    const g = path.join(dir, 'half-back.safetensors');
    ap.tidy(() => {
      const t = io.loadSafetensors(f);
      assert.equal(t.b.nbytes, 24);
      io.saveSafetensors(g, t);
      const back = io.readSafetensors(g);
      for (const [name, dt] of [['b', 'BF16'], ['h', 'F16']] as const) {
        assert.equal(back.tensors.get(name)!.fileDtype, dt);
        assert.deepEqual(Array.from(back.tensors.get(name)!.data), Array.from(bits), name);
      }
      // The same bytes as the hand-written file, in the same place of the data section.
      const tail = (b: Buffer): Buffer => b.subarray(b.length - 48);
      assert.deepEqual(tail(fs.readFileSync(g)), tail(fs.readFileSync(f)));
      // Converted on request: widened exactly.
      const wide = io.loadSafetensors(f, { dtype: 'f64' });
      assert.equal(wide.b.dtype, 'f64');
      assert.deepEqual(Array.from(wide.b.toArray()), Array.from(t.b.toArray()));
      // Tensors made by advprop: saved and loaded with the same values and dtype, on a 4-D OIHW
      // layout too (the converter moves bits like any other element).
      const src = { x: ap.tensor([0.1, -2, 1e-6, 65504, 3, 4], [1, 2, 3, 1], { dtype: 'bf16' }), y: ap.tensor([1 / 3, 65520], null, { dtype: 'f16' }) };
      const k = path.join(dir, 'half-made.safetensors');
      io.saveSafetensors(k, src, { layout: 'oihw' });
      const loaded = io.loadSafetensors(k, { layout: 'oihw' });
      for (const n of ['x', 'y'] as const) {
        assert.equal(loaded[n].dtype, src[n].dtype);
        assert.deepEqual(loaded[n].shape, src[n].shape);
        assert.deepEqual(Array.from(loaded[n].toArray()), Array.from(src[n].toArray()));
      }
    });
  });

  it('loadModel widens BF16/F16 weights exactly into an f32 model, as it did before they were dtypes', () => {
    const m = new ap.nn.Linear(3, 2);
    try {
      const f = path.join(dir, 'half-model.safetensors');
      ap.tidy(() => {
        const st = m.stateDict();
        io.saveSafetensors(f, { weight: ap.cast(st.weight, 'bf16'), bias: ap.cast(st.bias, 'f16') });
      });
      const want = ap.tidy(() => {
        const st = m.stateDict();
        return [Array.from(ap.cast(ap.cast(st.weight, 'bf16'), 'f32').toArray()), Array.from(ap.cast(ap.cast(st.bias, 'f16'), 'f32').toArray())];
      });
      io.loadModel(f, m);
      ap.tidy(() => {
        const st = m.stateDict();
        assert.equal(st.weight.dtype, 'f32');
        assert.deepEqual([Array.from(st.weight.toArray()), Array.from(st.bias.toArray())], want);
      });
    } finally {
      m.dispose();
    }
  });

  it("imports OIHW conv weights (dense and depthwise) as OHWI with layout 'oihw'", () => {
    const [O, I, H, W] = [3, 2, 3, 2];
    const dense = Array.from({ length: O * I * H * W }, (_, i) => i + 1);
    const [C, K] = [4, 3];
    const dw = Array.from({ length: C * K * K }, (_, i) => 100 + i);
    const f = write('oihw.safetensors', rawFile([
      { name: 'conv.weight', dtype: 'F32', shape: [O, I, H, W], bytes: f32Bytes(dense) },
      { name: 'dw.weight', dtype: 'F32', shape: [C, 1, K, K], bytes: f32Bytes(dw) },
      { name: 'fc.weight', dtype: 'F32', shape: [2, 3], bytes: f32Bytes([1, 2, 3, 4, 5, 6]) },
    ]));
    ap.tidy(() => {
      const t = io.loadSafetensors(f, { layout: 'oihw' });
      assert.deepEqual(t['conv.weight'].shape, [O, H, W, I]);
      const got = t['conv.weight'].toArray();
      for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++)
        assert.equal(got[((o * H + h) * W + w) * I + i], dense[((o * I + i) * H + h) * W + w]);
      assert.deepEqual(t['dw.weight'].shape, [C, K, K, 1]);
      assert.deepEqual(Array.from(t['dw.weight'].toArray()), dw); // a unit axis moves without reordering
      assert.deepEqual(t['fc.weight'].shape, [2, 3]);
      // Written back as OIHW, the file holds the original bytes.
      const g = path.join(dir, 'oihw-back.safetensors');
      io.saveSafetensors(g, t, { layout: 'oihw' });
      assert.deepEqual(Array.from(io.readSafetensors(g).tensors.get('conv.weight')!.data), dense);
      assert.deepEqual(io.readSafetensors(g).tensors.get('conv.weight')!.shape, [O, I, H, W]);
    });
  });

  describe('corrupt files give ERR_FORMAT naming the file and the problem', () => {
    const good = (): Buffer => rawFile([
      { name: 'a', dtype: 'F32', shape: [2], bytes: f32Bytes([1, 2]) },
      { name: 'b', dtype: 'F32', shape: [1], bytes: f32Bytes([3]) },
    ]);
    const cases: [string, () => Buffer, string][] = [
      ['shorter than 8 bytes', () => Buffer.from([1, 2, 3]), 'shorter than'],
      ['truncated data', () => good().subarray(0, good().length - 2), 'truncated'],
      ['header length beyond the file', () => { const b = good(); b.writeBigUInt64LE(1n << 40n, 0); return b; }, 'header length'],
      ['bad header JSON', () => { const b = good(); b[9] = 0x7b; b[10] = 0x7b; return b; }, 'not valid JSON'],
      ['header not an object', () => { const j = Buffer.from('[1]'); const l = Buffer.alloc(8); l.writeBigUInt64LE(3n); return Buffer.concat([l, j]); }, 'not a JSON object'],
      ['offsets out of bounds', () => rawFile([{ name: 'a', dtype: 'F32', shape: [2], bytes: f32Bytes([1, 2]) }], (h) => { h.a.data_offsets = [0, 800]; }), 'out of bounds'],
      ['offsets not matching the shape', () => rawFile([{ name: 'a', dtype: 'F32', shape: [2], bytes: f32Bytes([1, 2]) }], (h) => { h.a.shape = [3]; }), 'needs 12 bytes'],
      ['overlapping tensors', () => rawFile([{ name: 'a', dtype: 'F32', shape: [2], bytes: f32Bytes([1, 2]) }, { name: 'b', dtype: 'F32', shape: [1], bytes: f32Bytes([3]) }], (h) => { h.b.data_offsets = [4, 8]; }), 'overlaps'],
      ['a gap between tensors', () => rawFile([{ name: 'a', dtype: 'F32', shape: [1], bytes: f32Bytes([1, 2]) }], (h) => { h.a.data_offsets = [4, 8]; }), 'gap'],
      ['unsupported dtype', () => rawFile([{ name: 'a', dtype: 'U8', shape: [4], bytes: Buffer.alloc(4) }]), 'unsupported dtype'],
      ['negative size in the shape', () => rawFile([{ name: 'a', dtype: 'F32', shape: [1], bytes: f32Bytes([1]) }], (h) => { h.a.shape = [-1]; }), 'shape'],
      ['a short BF16 payload', () => rawFile([{ name: 'a', dtype: 'BF16', shape: [3], bytes: Buffer.alloc(4) }]), 'needs 6 bytes'],
      ['an F16 payload of an odd byte count', () => rawFile([{ name: 'a', dtype: 'F16', shape: [2], bytes: Buffer.alloc(5) }]), 'needs 4 bytes'],
      ['I64 value out of the i32 range', () => { const b = Buffer.alloc(8); b.writeBigInt64LE(1n << 40n); return rawFile([{ name: 'a', dtype: 'I64', shape: [1], bytes: b }]); }, 'does not fit'],
    ];
    for (const [title, make, part] of cases)
      it(title, () => {
        const f = write(`bad-${title.replace(/\W+/g, '_')}.safetensors`, make());
        const e = expectCode(() => io.loadSafetensors(f), 'ERR_FORMAT', part);
        assert.ok(e.message.includes(f), e.message);
      });

    it('the good file of these cases loads', () => {
      const f = write('good.safetensors', good());
      ap.tidy(() => assert.deepEqual(Array.from(io.loadSafetensors(f).b.toArray()), [3]));
    });
  });

  it('a missing file is ERR_IO; bad options are ERR_ARG', () => {
    expectCode(() => io.loadSafetensors(path.join(dir, 'nope.safetensors')), 'ERR_IO', 'nope.safetensors');
    expectCode(() => io.loadSafetensors(path.join(dir, 'x'), { layout: 'hwio' as 'oihw' }), 'ERR_ARG', 'layout');
    expectCode(() => io.saveSafetensors(path.join(dir, 'x'), { a: 3 as unknown as ap.Tensor }), 'ERR_ARG', "'a'");
  });

  it('writes atomically: an existing file is replaced whole, no temporary file stays, even when the write fails', () => {
    const f = path.join(dir, 'atomic.safetensors');
    ap.tidy(() => {
      io.saveSafetensors(f, { a: ap.tensor([1, 2, 3]) });
      const before = fs.readFileSync(f);
      io.saveSafetensors(f, { a: ap.tensor([4, 5]) });
      assert.deepEqual(Array.from(io.loadSafetensors(f).a.toArray()), [4, 5]);
      assert.notDeepEqual(fs.readFileSync(f), before);
      assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
      // Writing over a directory fails at the rename; the temporary file is removed.
      const d = path.join(dir, 'is-a-dir');
      fs.mkdirSync(d);
      expectCode(() => io.saveSafetensors(d, { a: ap.tensor([1]) }), 'ERR_IO', 'is-a-dir');
      assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
      expectCode(() => io.saveSafetensors(path.join(dir, 'no-such-dir', 'f'), { a: ap.tensor([1]) }), 'ERR_IO');
    });
  });
});
