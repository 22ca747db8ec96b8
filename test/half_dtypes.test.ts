// bf16 and f16 through the public API: creation rounds once to nearest even (from f64 data
// directly), toArray()/item()/toNested() read the exact values back as f32, cast and to() on
// every backend, the gradient of cast, and bytes in ap.memory(). The rounding reference is
// test/half_ref.ts, written without the addon.
import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { forEachBackend } from '../lib/testing/backends.js';
import { assertSame, expectCode } from './helpers.js';
import { roundHalf, roundHalfArray, type HalfDType } from './half_ref.js';

const HALF: HalfDType[] = ['bf16', 'f16'];
/** Float to int32 as cast does it: truncated toward zero, saturated, NaN to 0. */
const toI32 = (v: number): number => (Number.isNaN(v) ? 0 : Math.min(2147483647, Math.max(-2147483648, Math.trunc(v))));

// Ties to even, values just past a tie that an f32 intermediate would turn into a tie (the
// 2^-40 terms), f16's overflow threshold and subnormals, bf16's range, NaN and infinities.
const EDGES = [
  0, -0, 1, -1, 0.1, -1 / 3, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -40, 1 + 2 ** -11, 1 + 3 * 2 ** -11,
  1 + 2 ** -11 + 2 ** -40, -(1 + 2 ** -8 + 2 ** -40), 65504, 65519, 65520, 65536, -1e5, 2 ** -24, 2 ** -25, 3 * 2 ** -25,
  2 ** -14 - 2 ** -25, 2 ** -130, 2 ** -149, 3.4e38, 1e300, -1e300, 1e-300, Infinity, -Infinity, NaN, 16777217, 2147483647,
];

describe('bf16 and f16 dtypes', () => {
  it('are listed, float, 2 bytes an element', () => {
    assert.deepEqual([...ap.DTYPES], ['f32', 'f64', 'i32', 'bf16', 'f16']);
    ap.tidy(() => {
      for (const dtype of HALF) {
        const t = ap.zeros([3, 5], { dtype });
        assert.equal(t.dtype, dtype);
        assert.equal(t.nbytes, 30);
      }
    });
  });

  it('tensor() rounds numbers and Float64Array data once, Float32Array data from its f32 values', () => {
    ap.tidy(() => {
      for (const dtype of HALF) {
        const want = roundHalfArray(EDGES, dtype);
        const fromNumbers = ap.tensor(EDGES, null, { dtype });
        assert.ok(fromNumbers.toArray() instanceof Float32Array);
        assertSame(Float64Array.from(fromNumbers.toArray()), want, `${dtype} from numbers`);
        assertSame(Float64Array.from(ap.tensor(Float64Array.from(EDGES), null, { dtype }).toArray()), want, `${dtype} from f64`);
        const f32 = Float32Array.from(EDGES);
        assertSame(Float64Array.from(ap.tensor(f32, null, { dtype }).toArray()), roundHalfArray(f32, dtype), `${dtype} from f32`);
      }
      // The double-rounding trap, by hand: rounded once it goes up, through f32 it would tie down.
      assert.equal(ap.tensor([1 + 2 ** -8 + 2 ** -40], null, { dtype: 'bf16' }).item(), 1 + 2 ** -7);
      assert.equal(ap.tensor(Float32Array.of(1 + 2 ** -8 + 2 ** -40), null, { dtype: 'bf16' }).item(), 1);
      assert.equal(ap.tensor([65520], null, { dtype: 'f16' }).item(), Infinity);
      assert.equal(ap.tensor([65519], null, { dtype: 'f16' }).item(), 65504);
      assert.equal(ap.tensor([3 * 2 ** -25], null, { dtype: 'f16' }).item(), 2 ** -23);
      assert.equal(ap.tensor([65520], null, { dtype: 'bf16' }).item(), 65536);
    });
  });

  it('toNested, item and printing show the exact values', () => {
    ap.tidy(() => {
      const t = ap.tensor([[0.1, 2], [-3, 1e5]], null, { dtype: 'f16' });
      assert.deepEqual(t.toNested(), [[roundHalf(0.1, 'f16'), 2], [-3, Infinity]]);
      assert.equal(ap.tensor(0.1, null, { dtype: 'bf16' }).item(), roundHalf(0.1, 'bf16'));
      assert.equal(String(ap.tensor([1.5, -2], null, { dtype: 'bf16' })), 'Tensor(bf16 [2] on ' + ap.defaultDevice() + ': 1.5, -2)');
    });
  });

  it('the i32 rules still hold; u8 has no data', () => {
    expectCode(() => ap.tensor([1], null, { dtype: 'u8' as ap.DType }), 'ERR_DTYPE');
    expectCode(() => ap.zeros([1], { dtype: 'u8' as ap.DType }), 'ERR_DTYPE');
  });

  it('requiresGrad is allowed on bf16 and f16 (float types), not on i32', () => {
    ap.tidy(() => {
      for (const dtype of HALF) assert.equal(ap.zeros([2], { dtype, requiresGrad: true }).requiresGrad, true);
      expectCode(() => ap.zeros([2], { dtype: 'i32', requiresGrad: true }), 'ERR_DTYPE');
    });
  });

  it('ap.memory() counts 2 bytes an element', () => {
    ap.tidy(() => {
      const before = ap.memory();
      const t = ap.ones([7, 11], { dtype: 'bf16' });
      const after = ap.memory();
      assert.equal(after.numTensors - before.numTensors, 1);
      assert.equal(after.numBytes - before.numBytes, 2 * 77);
      t.dispose();
      assert.equal(ap.memory().numBytes, before.numBytes);
    });
  });
});

forEachBackend('bf16 and f16 on a device', (device) => {
  it('zeros, ones, full round the value once', () => {
    ap.tidy(() => {
      for (const dtype of HALF) {
        assertSame(ap.zeros([4], { dtype, device }).toArray(), new Float32Array(4));
        assertSame(ap.ones([2, 3], { dtype, device }).toArray(), new Float32Array(6).fill(1));
        for (const v of [0.1, -1 / 3, 65520, 1 + 2 ** -8 + 2 ** -40, 2 ** -25 * 3, NaN])
          assertSame(Float64Array.from(ap.full([3], v, { dtype, device }).toArray()), new Float64Array(3).fill(roundHalf(v, dtype)), `full ${dtype} ${v}`);
        assert.equal(ap.zerosLike(ap.ones([2], { dtype, device })).dtype, dtype);
      }
    });
  });

  it('cast between every pair of f32, f64, i32, bf16, f16', () => {
    ap.tidy(() => {
      const values = EDGES.filter((v) => Number.isFinite(v) && Math.abs(v) < 2 ** 31);
      const ints = values.map(Math.trunc);
      for (const from of ['f32', 'f64', 'i32', 'bf16', 'f16'] as const) {
        const src = ap.tensor(from === 'i32' ? ints : values, null, { dtype: from, device });
        const exact = Float64Array.from(src.toArray());
        for (const to of HALF) {
          const got = Float64Array.from(src.cast(to).toArray());
          assertSame(got, roundHalfArray(exact, to), `${from} -> ${to}`);
        }
        if (from === 'bf16' || from === 'f16') {
          assertSame(src.cast('f64').toArray(), exact, `${from} -> f64`);
          assertSame(src.cast('f32').toArray(), Float32Array.from(exact), `${from} -> f32`);
          assertSame(src.cast('i32').toArray(), Int32Array.from(exact, toI32), `${from} -> i32`);
        }
      }
      // NaN and infinities survive a cast in either direction.
      const special = ap.tensor([NaN, Infinity, -Infinity], null, { dtype: 'f32', device });
      assertSame(special.cast('bf16').cast('f32').toArray(), Float32Array.of(NaN, Infinity, -Infinity));
      assertSame(special.cast('f16').toArray(), Float32Array.of(NaN, Infinity, -Infinity));
    });
  });

  it('to() and clone() copy the bits; data() reads them asynchronously', async () => {
    const [t, bytes] = ap.tidy(() => {
      const x = ap.keep(ap.tensor(EDGES, null, { dtype: 'f16', device }));
      return [x, x.toArray()] as const;
    });
    try {
      ap.tidy(() => {
        assertSame(t.to('cpu').toArray(), bytes);
        assertSame(t.to('cpu').to(device).toArray(), bytes);
        assertSame(t.clone().toArray(), bytes);
      });
      const d = await t.data();
      assert.ok(d instanceof Float32Array);
      assertSame(d, bytes);
    } finally {
      t.dispose();
    }
  });

  it('the gradient of cast to bf16/f16 is the incoming gradient cast back', () => {
    ap.tidy(() => {
      for (const dtype of HALF) {
        const x = ap.tensor([0.1, -2.5, 3], null, { device, requiresGrad: true });
        const y = ap.cast(x, dtype);
        assert.equal(y.dtype, dtype);
        y.backward(ap.tensor([1 / 3, 0.5, -7], null, { dtype, device }));
        assert.equal(x.grad!.dtype, 'f32');
        assertSame(Float64Array.from(x.grad!.toArray()), roundHalfArray([1 / 3, 0.5, -7], dtype));
        // And from a 16-bit leaf: the f32 gradient rounded once to the leaf's dtype.
        const h = ap.tensor([1, 2], null, { dtype, device, requiresGrad: true });
        ap.cast(h, 'f32').backward(ap.tensor([0.1, 1e5], null, { device }));
        assert.equal(h.grad!.dtype, dtype);
        assertSame(Float64Array.from(h.grad!.toArray()), roundHalfArray([Math.fround(0.1), 1e5], dtype));
        const [g] = ap.grad(() => ap.cast(ap.cast(h, 'f64'), 'f32').mul(ap.tensor([2, 4], null, { device })).sum(), [h]);
        assert.equal(g.dtype, dtype);
        assertSame(g.toArray(), Float32Array.of(2, 4));
      }
    });
  });
});
