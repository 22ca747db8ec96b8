import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { availableDevices, forEachBackend } from '../lib/testing/backends.js';
import { assertSame, relError } from './helpers.js';

// Philox 4x32-10 written from the paper with BigInt, independent of native/include/advprop/philox.h.
const M32 = 0xffffffffn;
function philox(counter: bigint[], seed: bigint): bigint[] {
  let [c0, c1, c2, c3] = counter;
  let k0 = seed & M32;
  let k1 = (seed >> 32n) & M32;
  for (let r = 0; r < 10; r++) {
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    const [hi0, lo0, hi1, lo1] = [p0 >> 32n, p0 & M32, p1 >> 32n, p1 & M32];
    [c0, c1, c2, c3] = [hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0];
    k0 = (k0 + 0x9e3779b9n) & M32;
    k1 = (k1 + 0xbb67ae85n) & M32;
  }
  return [c0, c1, c2, c3];
}

function block(seed: bigint, offset: bigint, i: number): bigint[] {
  const blk = BigInt(i >> 2);
  return philox([blk & M32, blk >> 32n, offset & M32, offset >> 32n], seed);
}

const u01 = (bits: bigint): number => (Number(bits >> 8n) + 1) / 16777216;

function refUniform(n: number, seed: bigint, offset: bigint, lo: number, hi: number): number[] {
  return Array.from({ length: n }, (_, i) => lo + (hi - lo) * u01(block(seed, offset, i)[i & 3]));
}

function refNormal(n: number, seed: bigint, offset: bigint): number[] {
  return Array.from({ length: n }, (_, i) => {
    const b = block(seed, offset, i);
    const pair = i & 2;
    const r = Math.sqrt(-2 * Math.log(u01(b[pair])));
    const theta = 2 * Math.PI * u01(b[pair + 1]);
    return i & 1 ? r * Math.sin(theta) : r * Math.cos(theta);
  });
}

describe('Philox reference', () => {
  it('matches the Random123 known-answer vectors', () => {
    // philox4x32_10 known answers from Random123's kat_vectors.
    assert.deepEqual(philox([0n, 0n, 0n, 0n], 0n).map((v) => v.toString(16)), ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    assert.deepEqual(
      philox([M32, M32, M32, M32], M32 | (M32 << 32n)).map((v) => v.toString(16)),
      ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd'],
    );
    assert.deepEqual(
      philox([0x243f6a88n, 0x85a308d3n, 0x13198a2en, 0x03707344n], 0xa4093822n | (0x299f31d0n << 32n)).map((v) => v.toString(16)),
      ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
    );
  });
});

forEachBackend('random fills', (device) => {
  for (const n of [1, 7, 97, 1000]) {
    it(`rand of ${n} equals the JS Philox reference exactly (f32 and f64)`, () => {
      const seed = 42n;
      for (const [lo, hi] of [[0, 1], [-1, 1], [2, 6]] as const) {
        const ref = refUniform(n, seed, 5n, lo, hi);
        const t32 = ap.rand([n], { device, seed, offset: 5, lo, hi });
        assertSame(t32.toArray(), Float32Array.from(ref), `rand f32 [${lo}, ${hi}]`);
        t32.dispose();
        if (device === 'cpu') {
          const t64 = ap.rand([n], { device, seed, offset: 5, lo, hi, dtype: 'f64' });
          assertSame(t64.toArray(), Float64Array.from(ref), `rand f64 [${lo}, ${hi}]`);
          t64.dispose();
        }
      }
    });

    it(`randn of ${n} matches Box-Muller on the JS reference`, () => {
      const ref = refNormal(n, 7n, 3n);
      const t = ap.randn([n], { device, seed: 7, offset: 3 });
      const out = t.toArray();
      // JS and C libm may differ in the last bit of log/cos, which can move an f32 by one ulp.
      assert.ok(relError(out, ref) < 1e-6, `randn error ${relError(out, ref)}`);
      let exact = 0;
      for (let i = 0; i < n; i++) if (out[i] === Math.fround(ref[i])) exact++;
      assert.ok(exact >= n - Math.ceil(n / 100), `${n - exact} of ${n} values differ from the reference`);
      t.dispose();
    });
  }

  it('rejects infinite or NaN bounds, means and deviations with ERR_ARG', () => {
    const cases: [string, () => unknown][] = [
      ['rand lo -Infinity', () => ap.rand([3], { device, seed: 1, lo: -Infinity, hi: 1 })],
      ['rand hi Infinity', () => ap.rand([3], { device, seed: 1, lo: 0, hi: Infinity })],
      ['rand hi NaN', () => ap.rand([3], { device, seed: 1, lo: 0, hi: NaN })],
      ['randn mean Infinity', () => ap.randn([3], { device, seed: 1, mean: Infinity })],
      ['randn std NaN', () => ap.randn([3], { device, seed: 1, std: NaN })],
    ];
    for (const [what, fn] of cases)
      assert.throws(fn, (e: unknown) => e instanceof ap.AdvpropError && e.code === 'ERR_ARG', what);
  });

  it('mean/std option scale the draw; std 0 gives the mean', () => {
    const t = ap.randn([5], { device, seed: 1, mean: 3, std: 0 });
    assert.deepEqual(Array.from(t.toArray()), [3, 3, 3, 3, 3]);
    const big = ap.randn([4000], { device, seed: 9, mean: 1, std: 2 });
    const v = Array.from(big.toArray());
    const m = v.reduce((p, x) => p + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((p, x) => p + (x - m) ** 2, 0) / v.length);
    // 4000 samples: the mean's standard error is 2/sqrt(4000) ≈ 0.032; 5 of them bound it.
    assert.ok(Math.abs(m - 1) < 0.16, `mean ${m}`);
    assert.ok(Math.abs(sd - 2) < 0.1, `std ${sd}`);
    ap.dispose([t, big]);
  });

  it('manualSeed makes unseeded draws reproducible and each draw advances the offset', () => {
    ap.manualSeed(123);
    const a1 = ap.rand([33], { device });
    const a2 = ap.rand([33], { device });
    ap.manualSeed(123);
    const b1 = ap.rand([33], { device });
    const b2 = ap.randn([33], { device });
    assertSame(a1.toArray(), b1.toArray(), 'same seed, first draw');
    assert.notDeepEqual(Array.from(a1.toArray()), Array.from(a2.toArray()));
    // Offsets: first draw at 0, second at 1.
    assertSame(a2.toArray(), Float32Array.from(refUniform(33, 123n, 1n, 0, 1)), 'second draw uses offset 1');
    const c = ap.randn([33], { device, seed: 123, offset: 1 });
    assertSame(b2.toArray(), c.toArray(), 'global key equals explicit key');
    assert.deepEqual(ap.getRngState(), { seed: 123n, offset: 2n });
    ap.dispose([a1, a2, b1, b2, c]);
  });

  it('accepts 64-bit bigint seeds', () => {
    const seed = 0xfedcba9876543210n;
    const t = ap.rand([9], { device, seed, offset: 2n ** 40n });
    assertSame(t.toArray(), Float32Array.from(refUniform(9, seed, 2n ** 40n, 0, 1)), 'bigint seed');
    t.dispose();
  });
});

describe('random fills across backends', () => {
  const devs = availableDevices();
  it(`are bit-identical on ${devs.join(', ')} for the same key`, () => {
    for (const n of [1, 7, 97, 1000, 4099]) {
      const ref = ap.tidy(() => [ap.rand([n], { device: 'cpu', seed: 11, offset: n }).toArray(), ap.randn([n], { device: 'cpu', seed: 11, offset: n }).toArray()]);
      for (const device of devs) {
        ap.tidy(() => {
          assertSame(ap.rand([n], { device, seed: 11, offset: n }).toArray(), ref[0], `rand ${n} on ${device}`);
          assertSame(ap.randn([n], { device, seed: 11, offset: n }).toArray(), ref[1], `randn ${n} on ${device}`);
        });
      }
    }
  });
});
