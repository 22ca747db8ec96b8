import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertClose, assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';

/** Sum over `axes` of a row-major array, in f64. */
function refSum(x: ArrayLike<number>, shape: number[], axes: number[], mean: boolean): { out: Float64Array; shape: number[] } {
  const rank = shape.length;
  const red = axes.length ? axes.map((a) => (a < 0 ? a + rank : a)) : shape.map((_, i) => i);
  const outShape = shape.map((s, i) => (red.includes(i) ? 1 : s));
  const out = new Float64Array(numel(outShape));
  const idx = new Array(rank).fill(0);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    for (let d = 0; d < rank; d++) o = o * outShape[d] + (red.includes(d) ? 0 : idx[d]);
    out[o] += x[i];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  const count = red.reduce((p, a) => p * shape[a], 1);
  if (mean) for (let i = 0; i < out.length; i++) out[i] /= count;
  return { out, shape: outShape };
}

const CASES: [number[], number[]][] = [
  [[1], []], [[7], []], [[97], [0]], [[1000], []], [[1000], [-1]],
  [[2, 3, 5, 17], []], [[2, 3, 5, 17], [0, 1, 2]], [[2, 3, 5, 17], [1, 2]], [[2, 3, 5, 17], [-1]],
  [[2, 3, 5, 17], [0, 2]], [[3, 7, 1, 5], [0]], [[3, 7, 1, 5], [2, 3]], [[5, 1], [1]], [[4, 97, 3], [1]],
];

forEachBackend('sum / mean', (device) => {
  for (const [shape, axes] of CASES) {
    for (const mean of [false, true]) {
      const name = mean ? 'mean' : 'sum';
      it(`${name} of [${shape}] over [${axes}] (keepdims and not) equals the f64 reference`, () => {
        const hx = f32(hostRandom(numel(shape), numel(shape) + axes.length, -1, 1));
        const ref = refSum(hx, shape, axes, mean);
        ap.tidy(() => {
          const x = ap.tensor(Float32Array.from(hx), shape, { device });
          const kept = mean ? ap.mean(x, axes, true) : ap.sum(x, axes, true);
          assert.deepEqual([...kept.shape], ref.shape);
          // Accumulation is in double, so only the final rounding to f32 remains (≤ 6e-8).
          assertClose(kept.toArray(), ref.out, 1e-7, `${name} keepdims`);
          const dropped = mean ? x.mean(axes) : x.sum(axes);
          const red = axes.length ? axes.map((a) => (a < 0 ? a + shape.length : a)) : shape.map((_, i) => i);
          assert.deepEqual([...dropped.shape], shape.filter((_, i) => !red.includes(i)));
          assertSame(dropped.toArray(), kept.toArray(), 'keepdims changes only the shape');
        });
      });
    }
  }

  it('sum is deterministic: the same input gives bit-identical sums', () => {
    ap.tidy(() => {
      const x = ap.randn([64, 33, 17], { device, seed: 5 });
      const a = x.sum([0, 1]).toArray();
      for (let i = 0; i < 3; i++) assertSame(x.sum([0, 1]).toArray(), a, 'repeat');
    });
  });

  it('a single axis number works and empty reductions give 0 (sum) or ERR_SHAPE (mean)', () => {
    ap.tidy(() => {
      const x = ap.tensor([[1, 2], [3, 4]], null, { device });
      assert.deepEqual(Array.from(x.sum(1).toArray()), [3, 7]);
      assert.deepEqual(Array.from(x.sum(-2).toArray()), [4, 6]);
      const e = ap.zeros([0, 3], { device });
      assert.deepEqual(Array.from(e.sum(0).toArray()), [0, 0, 0]);
      expectCode(() => e.mean(0), 'ERR_SHAPE');
    });
  });

  it('sumToShape reduces a broadcast gradient to the operand shape', () => {
    ap.tidy(() => {
      const hg = f32(hostRandom(2 * 3 * 5, 8));
      const g = ap.tensor(Float32Array.from(hg), [2, 3, 5], { device });
      const c = ap.kernels.sumToShape(g, [5]);
      assertClose(c.toArray(), refSum(hg, [2, 3, 5], [0, 1], false).out, 1e-7, 'to [C]');
      const wc = ap.kernels.sumToShape(g, [1, 3, 5]);
      assertClose(wc.toArray(), refSum(hg, [2, 3, 5], [0], false).out, 1e-7, 'to [1, W, C]');
      const s = ap.kernels.sumToShape(g, []);
      assertClose(s.toArray(), [hg.reduce((p, v) => p + v, 0)], 1e-7, 'to scalar');
      expectCode(() => ap.kernels.sumToShape(g, [4]), 'ERR_SHAPE');
      // Divides the element count but does not broadcast to [2, 3, 5].
      expectCode(() => ap.kernels.sumToShape(g, [2]), 'ERR_SHAPE');
      expectCode(() => ap.kernels.sumToShape(g, [3, 1]), 'ERR_SHAPE');
      expectCode(() => ap.kernels.sumToShape(g, [2, 3, 1]), 'ERR_SHAPE');
    });
  });

  it('sumToShape of a zero-size broadcast, and the gradient of add with a zero-size operand', () => {
    ap.tidy(() => {
      const z = ap.kernels.sumToShape(ap.zeros([2, 0], { device }), [0]);
      assert.deepEqual([...z.shape], [0]);
      const a = ap.zeros([2, 0], { device, requiresGrad: true });
      const b = ap.zeros([0], { device, requiresGrad: true });
      const [ga, gb] = ap.grad(() => a.add(b).sum(), [a, b]);
      assert.deepEqual([...ga.shape], [2, 0]);
      assert.deepEqual([...gb.shape], [0]);
    });
  });

  for (const [shape, axes] of [[[2, 3, 5, 3], [0, 1, 2]], [[2, 3, 5, 3], []], [[2, 3, 5, 3], [1, 2]], [[4, 6], [1]], [[3, 4, 5], [0, 2]]] as [number[], number[]][]) {
    it(`sumBackward spreads dy over [${axes}] of [${shape}]`, () => {
      ap.tidy(() => {
        const ref = refSum(new Float64Array(numel(shape)), shape, axes, false);
        const hdy = f32(hostRandom(ref.out.length, 3));
        const dy = ap.tensor(Float32Array.from(hdy), ref.shape, { device });
        const count = numel(shape) / ref.out.length;
        for (const mean of [false, true]) {
          const dx = ap.kernels.sumBackward(dy, shape, axes, mean);
          assert.deepEqual([...dx.shape], shape);
          const expect = new Float64Array(numel(shape));
          const idx = new Array(shape.length).fill(0);
          for (let i = 0; i < expect.length; i++) {
            let o = 0;
            for (let d = 0; d < shape.length; d++) o = o * ref.shape[d] + (ref.shape[d] === 1 ? 0 : idx[d]);
            expect[i] = mean ? hdy[o] / count : hdy[o];
            for (let d = shape.length - 1; d >= 0; d--) {
              if (++idx[d] < shape[d]) break;
              idx[d] = 0;
            }
          }
          assertClose(dx.toArray(), expect, 1e-7, `sumBackward mean=${mean}`);
        }
      });
    });
  }

  it('rejects bad axes and integer tensors', () => {
    ap.tidy(() => {
      const x = ap.zeros([2, 3], { device });
      expectCode(() => x.sum([2]), 'ERR_ARG');
      expectCode(() => x.sum([0, 0]), 'ERR_ARG');
      expectCode(() => x.sum([0.5]), 'ERR_ARG');
      expectCode(() => x.sum('0' as unknown as number), 'ERR_ARG');
      expectCode(() => ap.zeros([2], { device, dtype: 'i32' }).sum(), 'ERR_DTYPE');
    });
  });
});
