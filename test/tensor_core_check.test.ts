// The tensor-core checks (native/include/advprop/tensor_core_check.h) through the addon's raw
// testing entry: every check on cuda-sim, and on cuda when a GPU of compute capability 8.0 or newer
// is present, against the cpu twins, which compute the results from the PTX ISA on the host.
// cuda-sim must give the cpu's bits exactly; the GPU too, except for the mma, whose order of
// accumulation is unspecified: there 2^-20 (|C| + sum |A B|) is allowed, as in
// native/tests/tensor_core_test.cc.
import assert from 'node:assert/strict';
import { addon, type TcMmaShape } from '../lib/native.js';
import { backendStatus } from '../lib/testing/backends.js';
import { expectCode } from './helpers.js';

const SHAPES: TcMmaShape[] = ['m16n8k16_bf16', 'm16n8k16_f16', 'm16n8k8_tf32'];
const CP_ASYNC_THREADS = 64;
const CP_ASYNC_SRC_WORDS = CP_ASYNC_THREADS * (4 + 2 + 1 + 4);

/** xorshift32: the same bit patterns on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

const f32bits = (x: number): number => new Uint32Array(Float32Array.of(x).buffer)[0];
const bitsOf = (a: Float32Array | Uint32Array): Uint32Array => (a instanceof Uint32Array ? a : new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Fails at the first word that differs, naming it. */
function assertSameBits(got: Float32Array | Uint32Array, want: Float32Array | Uint32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} words, want ${want.length}`);
  const g = bitsOf(got), w = bitsOf(want);
  for (let i = 0; i < w.length; ++i)
    if (g[i] !== w[i]) assert.fail(`${what}: word ${i} is 0x${g[i].toString(16)}, the cpu twin's 0x${w[i].toString(16)}`);
}

interface MmaCase { shape: TcMmaShape; k: number; a: Uint32Array; b: Uint32Array; c: Float32Array }

/** Operands of mixed signs and magnitudes 2^-6 to 2^6; f16 subnormals among the f16 ones; tf32 words
 * with all 32 bits set at random (the mma must ignore the low 13). */
function randomCase(shape: TcMmaShape, seed: number): MmaCase {
  const k = shape === 'm16n8k8_tf32' ? 8 : 16;
  const r = rng(seed);
  const value = (): number => ((r() / 2 ** 32) * 2 - 1) * 2 ** ((r() % 13) - 6);
  const word = (): number => {
    if (shape === 'm16n8k8_tf32') return (f32bits(value()) & 0xffffe000) | (r() & 0x1fff);
    const sign = (r() & 1) << 15;
    if (shape === 'm16n8k16_bf16') return sign | ((127 - 6 + (r() % 13)) << 7) | (r() & 0x7f);
    return sign | (r() % 9 === 0 ? 0 : (15 - 6 + (r() % 13)) << 10) | (r() & 0x3ff);
  };
  const a = Uint32Array.from({ length: 16 * k }, word);
  const b = Uint32Array.from({ length: k * 8 }, word);
  const c = Float32Array.from({ length: 16 * 8 }, value);
  return { shape, k, a, b, c };
}

/** A NaN in row 3 of A, +inf in column 5 of B and column 2 of A positive: D's row 3 is NaN, the
 * rest of column 5 +inf. */
function specialCase(shape: TcMmaShape): MmaCase {
  const m = randomCase(shape, 77);
  const enc = (x: number): number =>
    shape === 'm16n8k8_tf32' ? f32bits(x) : shape === 'm16n8k16_bf16' ? f32bits(x) >>> 16 : f16Of(x);
  for (let row = 0; row < 16; ++row) m.a[row * m.k + 2] = enc(0.5 + row);
  m.a[3 * m.k] = shape === 'm16n8k8_tf32' ? 0x7fc00000 : 0x7fff;
  m.b[2 * 8 + 5] = enc(Infinity);
  return m;
}

/** f16 patterns of the few values specialCase needs: halves of small integers and infinity. */
function f16Of(x: number): number {
  if (x === Infinity) return 0x7c00;
  const e = Math.floor(Math.log2(x));
  return ((e + 15) << 10) | Math.round((x / 2 ** e - 1) * 1024);
}

const magnitudes = (shape: TcMmaShape, w: Uint32Array): Uint32Array => w.map((x) => (x & (shape === 'm16n8k8_tf32' ? 0x7fffffff : 0x7fff)) >>> 0);

/** d from `device` against the cpu twin: the same bits when exact, else within 2^-20 of the
 * magnitudes' sum (a NaN for a NaN, the same infinity). */
function checkMma(device: string, exact: boolean, m: MmaCase, d: Float32Array, what: string): void {
  const want = addon.tensorCoreCheck('cpu', 'mma', m.shape, m.a, m.b, m.c);
  if (exact) return assertSameBits(d, want, `${what} on ${device}`);
  const mag = addon.tensorCoreCheck('cpu', 'mma', m.shape, magnitudes(m.shape, m.a), magnitudes(m.shape, m.b), m.c.map(Math.abs));
  for (let i = 0; i < want.length; ++i) {
    const ok = Number.isNaN(want[i]) ? Number.isNaN(d[i]) : !Number.isFinite(want[i]) ? d[i] === want[i] : Math.abs(d[i] - want[i]) <= mag[i] * 2 ** -20;
    assert.ok(ok, `${what} on ${device}: D[${Math.floor(i / 8)}][${i % 8}] = ${d[i]}, the cpu twin's ${want[i]}`);
  }
}

/** 48 rows of 8 random 16-bit elements, and lane offsets into rows in a shuffled order. */
function ldmatrixInputs(seed: number): { image: Uint16Array; rows: number[] } {
  const r = rng(seed);
  const image = Uint16Array.from({ length: 8 * 48 }, () => r() & 0xffff);
  const rows = Array.from({ length: 48 }, (_, i) => i);
  for (let i = rows.length - 1; i > 0; --i) {
    const j = r() % (i + 1);
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return { image, rows };
}

function conversionInputs(): Float32Array {
  const r = rng(11);
  const words = Array.from({ length: 4096 }, () => r());
  // Ties of tf32, bf16 and f16, f16's overflow edge, f32's largest, subnormals, infinities, NaNs, -0.
  words.push(0x3f808000, 0x3f818000, 0x3f801000, 0x3f803000, 0x477ff000, 0x477fefff, 0x7f7fffff, 0x7f7ff000, 0x00000001,
    0x33000001, 0x7f800000, 0xff800000, 0x7fc00001, 0xff800001, 0x80000000, 0x387fe000);
  return new Float32Array(Uint32Array.from(words).buffer);
}

const cpAsyncSource = (): Uint32Array => Uint32Array.from({ length: CP_ASYNC_SRC_WORDS }, (_, i) => Math.imul(0x9e3779b9, i + 1) >>> 0);

describe('tensor-core checks: the cpu twins', () => {
  it('are usable on cpu device 0', () => {
    assert.equal(addon.tensorCoreCheck('cpu', 'usable'), true);
  });

  it('mma: D = B + C for A = I, whatever the high bits of the 16-bit words and the low 13 of tf32', () => {
    for (const shape of SHAPES) {
      const k = shape === 'm16n8k8_tf32' ? 8 : 16;
      const one = shape === 'm16n8k8_tf32' ? 0x3f801fff : shape === 'm16n8k16_bf16' ? 0xabcd3f80 : 0xabcd3c00;
      const a = Uint32Array.from({ length: 16 * k }, (_, i) => (Math.floor(i / k) === i % k ? one : shape === 'm16n8k8_tf32' ? 0x1fff : 0xabcd0000));
      const bVals = Array.from({ length: k * 8 }, (_, i) => i - 32);
      const b = Uint32Array.from(bVals, (x) => (shape === 'm16n8k8_tf32' ? f32bits(x) : shape === 'm16n8k16_bf16' ? f32bits(x) >>> 16 : x === 0 ? 0 : (x < 0 ? 0x8000 : 0) | f16Of(Math.abs(x))));
      const c = new Float32Array(16 * 8).fill(0.5);
      const d = addon.tensorCoreCheck('cpu', 'mma', shape, a, b, c);
      const want = Float32Array.from({ length: 128 }, (_, i) => (Math.floor(i / 8) < k ? bVals[i] : 0) + 0.5);
      assertSameBits(d, want, shape);
    }
  });

  it('conversions: tf32 ties away from zero, bf16 and f16 to nearest even, canonical NaNs', () => {
    const x = new Float32Array(Uint32Array.of(0x3f801000, 0xbf801000, 0x3f800fff, 0x7fc00001, 0x3f800000, 0xc0000000).buffer);
    const want = Uint32Array.of(0x3f802000, 0xbf802000, 0xbf803f80, 0xbc003c00, 0x3f800000, 0x7fffffff, 0x7fff3f80, 0x7fff3c00,
      0x3f800000, 0xc0000000, 0xc0003f80, 0xc0003c00);
    assertSameBits(addon.tensorCoreCheck('cpu', 'conversions', x), want, 'conversions');
  });

  it('ldmatrix and cp.async: the registers and words the ISA defines', () => {
    const image = Uint16Array.from({ length: 64 }, (_, i) => i);
    const offsets = Int32Array.from({ length: 32 }, (_, l) => 8 * (l < 8 ? l : 7 - (l % 8)));
    const plain = addon.tensorCoreCheck('cpu', 'ldmatrix', 1, false, image, offsets);
    const trans = addon.tensorCoreCheck('cpu', 'ldmatrix', 1, true, image, offsets);
    for (let l = 0; l < 32; ++l) {
      const row = l >> 2, col = 2 * (l & 3);
      assert.equal(plain[l], ((8 * row + col) | ((8 * row + col + 1) << 16)) >>> 0);
      assert.equal(trans[l], ((8 * col + row) | ((8 * (col + 1) + row) << 16)) >>> 0);
    }
    const src = cpAsyncSource();
    const out = addon.tensorCoreCheck('cpu', 'cpAsync', src);
    const n = CP_ASYNC_THREADS;
    assert.equal(out.length, n * 2 * (4 + 2 + 5));
    assert.deepEqual(Array.from(out.subarray(0, 4)), Array.from(src.subarray(0, 4)));
    assert.deepEqual(Array.from(out.subarray(12 * n + 10, 12 * n + 15)), [src[6 * n + 2], src[7 * n + 8], src[7 * n + 9], 0, 0]);
  });

  it('refuse bad arguments as the device checks do', () => {
    expectCode(() => addon.tensorCoreCheck('cpu', 'conversions', new Float32Array(3)), 'ERR_SHAPE', 'check_conversions');
    expectCode(() => addon.tensorCoreCheck('cpu', 'mma', 'm16n8k8_tf32', new Uint32Array(256), new Uint32Array(64), new Float32Array(128)), 'ERR_SHAPE', "'a'");
    expectCode(() => addon.tensorCoreCheck('cpu', 'ldmatrix', 3, false, new Uint16Array(256), new Int32Array(32)), 'ERR_ARG', 'num');
    expectCode(() => addon.tensorCoreCheck('cpu', 'cpAsync', new Float32Array(CP_ASYNC_SRC_WORDS) as unknown as Uint32Array), 'ERR_ARG', "'src'");
    expectCode(() => addon.tensorCoreCheck('cpu', 'mma', 'm8n8k4' as TcMmaShape, new Uint32Array(256), new Uint32Array(128), new Float32Array(128)), 'ERR_ARG', 'shape');
    expectCode(() => addon.tensorCoreCheck('gpu', 'usable'), 'ERR_DEVICE', 'gpu');
  });
});

for (const b of backendStatus().filter((s) => s.backend !== 'cpu')) {
  describe(`tensor-core checks on ${b.backend} against the cpu twins`, () => {
    if (!b.available) {
      it.skip(`${b.backend}: skipped (${b.reason})`);
      return;
    }
    const dev = b.device!;
    if (!addon.tensorCoreCheck(dev, 'usable')) {
      it.skip(`${b.backend}: skipped (${dev} has no sm_80 tensor-core instructions: compute capability below 8.0)`);
      return;
    }
    // The simulator models the mma's accumulation exactly as the twin computes it.
    const exact = b.backend === 'cuda-sim';

    it('mma m16n8k16 bf16, f16 and m16n8k8 tf32 on random operands', () => {
      for (const shape of SHAPES)
        for (const seed of [1, 2, 3]) {
          const m = randomCase(shape, seed * 10 + SHAPES.indexOf(shape));
          checkMma(dev, exact, m, addon.tensorCoreCheck(dev, 'mma', shape, m.a, m.b, m.c), `${shape} seed ${seed}`);
        }
    });

    it('mma with NaN and infinite operands', () => {
      for (const shape of SHAPES) {
        const m = specialCase(shape);
        checkMma(dev, exact, m, addon.tensorCoreCheck(dev, 'mma', shape, m.a, m.b, m.c), `${shape} with NaN and inf`);
      }
    });

    it('ldmatrix x1, x2, x4 with and without .trans; lanes past 8 num change nothing', () => {
      for (const num of [1, 2, 4])
        for (const trans of [false, true]) {
          const { image, rows } = ldmatrixInputs(5 + num * 2 + Number(trans));
          const offsets = Int32Array.from({ length: 32 }, (_, l) => 8 * rows[l]);
          const want = addon.tensorCoreCheck('cpu', 'ldmatrix', num, trans, image, offsets);
          for (let l = 8 * num; l < 32; ++l) offsets[l] = 8 * rows[32 + (l % 16)];
          assertSameBits(addon.tensorCoreCheck(dev, 'ldmatrix', num, trans, image, offsets), want, `ldmatrix x${num}${trans ? '.trans' : ''} on ${dev}`);
        }
    });

    it('ldmatrix.x4 and ldmatrix.x2.trans feeding the bf16 mma', () => {
      const m = randomCase('m16n8k16_bf16', 99);
      const a = Uint16Array.from(m.a), bm = Uint16Array.from(m.b);
      const d = addon.tensorCoreCheck(dev, 'ldmatrixMma', a, bm, m.c);
      assertSameBits(addon.tensorCoreCheck('cpu', 'ldmatrixMma', a, bm, m.c), addon.tensorCoreCheck('cpu', 'mma', 'm16n8k16_bf16', m.a, m.b, m.c), 'the twin of ldmatrixMma');
      checkMma(dev, exact, m, d, 'ldmatrix + mma');
    });

    it('cp.async groups: 16, 8, 4 bytes and zero-filled copies, each waited for', () => {
      const src = cpAsyncSource();
      assertSameBits(addon.tensorCoreCheck(dev, 'cpAsync', src), addon.tensorCoreCheck('cpu', 'cpAsync', src), `cp.async on ${dev}`);
    });

    it('f32_to_tf32, pack_bf16x2 and pack_f16x2', () => {
      const x = conversionInputs();
      assertSameBits(addon.tensorCoreCheck(dev, 'conversions', x), addon.tensorCoreCheck('cpu', 'conversions', x), `conversions on ${dev}`);
    });

    it('refuses the arguments the cpu twin refuses, with the same codes', () => {
      for (const device of ['cpu', dev]) {
        expectCode(() => addon.tensorCoreCheck(device, 'conversions', new Float32Array(3)), 'ERR_SHAPE', 'check_conversions');
        expectCode(() => addon.tensorCoreCheck(device, 'ldmatrix', 1, false, new Uint16Array(256), new Int32Array(32).fill(4)), 'ERR_ARG', 'row offset 4');
        expectCode(() => addon.tensorCoreCheck(device, 'cpAsync', new Uint32Array(5)), 'ERR_SHAPE', "'src'");
      }
    });
  });
}
