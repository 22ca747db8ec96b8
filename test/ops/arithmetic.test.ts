import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertClose, assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';

type Op = 'add' | 'sub' | 'mul' | 'div';
const OPS: Op[] = ['add', 'sub', 'mul', 'div'];
const apply = (op: Op, x: number, y: number): number => (op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : x / y);

/** out[i] = a[i % a.length] op b[i % b.length], in f64. */
function reference(op: Op, a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => apply(op, a[i % a.length], b[i % b.length]));
}

// [shape of a, shape of b]: same shapes of awkward sizes, per-channel [C] over NHWC, scalars,
// leading ones, trailing two dims, and the small operand on the left; operand sizes that are
// multiples of 4 (the CUDA kernels' float4 broadcast path).
const CASES: [number[], number[]][] = [
  [[1], [1]], [[7], [7]], [[97], [97]], [[1000], [1000]], [[2, 5, 3, 17], [2, 5, 3, 17]],
  [[2, 3, 5, 3], [3]], [[3, 7, 1, 5], [5]], [[1, 3, 3, 17], [17]], [[2, 2, 3, 17], [1, 1, 17]],
  [[97], []], [[4, 5], [1]], [[], [7]], [[5], [2, 3, 5]], [[3, 5], [4, 3, 5]], [[3, 2, 2, 5], [2, 5]],
  [[2, 3, 5, 8], [8]], [[3, 4], [2, 3, 4]], [[2, 7, 3, 12], [3, 12]],
];

forEachBackend('add/sub/mul/div', (device) => {
  for (const op of OPS) {
    for (const [sa, sb] of CASES) {
      it(`${op} [${sa}] with [${sb}] equals the JS reference`, () => {
        const ha = f32(hostRandom(numel(sa), 1 + sa.length, -2, 2));
        // Divisors kept away from zero so the reference is well conditioned.
        const hb = f32(hostRandom(numel(sb), 2 + sb.length, 0.5, 2).map((v, i) => (i % 2 ? -v : v)));
        ap.tidy(() => {
          const a = ap.tensor(Float32Array.from(ha), sa, { device });
          const b = ap.tensor(Float32Array.from(hb), sb, { device });
          const out = ap[op](a, b);
          const n = Math.max(numel(sa), numel(sb));
          assert.deepEqual([...out.shape], numel(sa) >= numel(sb) && sa.length >= sb.length ? sa : sb);
          const ref = reference(op, ha, hb, n);
          // One rounding (a few ulp where a GPU divides approximately): 3e-7 ≈ 5 ulp of f32.
          assertClose(out.toArray(), ref, 3e-7, `${op} on ${device}`);
          // IEEE arithmetic is correctly rounded, so the CPU must match exactly.
          if (device === 'cpu') assertSame(out.toArray(), Float32Array.from(ref), `${op} exact`);
        });
      });
    }
  }

  it('the result has the higher rank when the operands differ only by leading 1s, on either side', () => {
    const pairs: [number[], number[], number[]][] = [
      [[3], [1, 3], [1, 3]], [[1, 3], [3], [1, 3]], [[], [1, 1], [1, 1]], [[1, 1], [], [1, 1]],
      [[2, 3], [1, 1, 3], [1, 2, 3]], [[1, 1, 3], [2, 3], [1, 2, 3]],
    ];
    for (const op of OPS) {
      for (const [sa, sb, want] of pairs) {
        ap.tidy(() => {
          const a = ap.tensor(Float32Array.from(hostRandom(numel(sa), 3, 1, 2)), sa, { device, requiresGrad: true });
          const b = ap.tensor(Float32Array.from(hostRandom(numel(sb), 4, 1, 2)), sb, { device, requiresGrad: true });
          assert.deepEqual([...ap[op](a, b).shape], want, `${op} [${sa}] with [${sb}]`);
          const [ga, gb] = ap.grad(() => ap[op](a, b).sum(), [a, b]);
          assert.deepEqual([...ga.shape], sa);
          assert.deepEqual([...gb.shape], sb);
        });
      }
    }
  });

  it('f64 tensors compute in f64', () => {
    ap.tidy(() => {
      if (device !== 'cpu') return;
      const ha = hostRandom(13, 5), hb = hostRandom(13, 6, 1, 2);
      const a = ap.tensor(ha, [13], { device });
      const b = ap.tensor(hb, [13], { device });
      for (const op of OPS) assertSame(ap[op](a, b).toArray(), reference(op, ha, hb, 13), `${op} f64`);
    });
  });

  it('a number operand uses the scalar ops', () => {
    ap.tidy(() => {
      const a = ap.tensor([1, 2, -4], null, { device });
      assert.deepEqual(Array.from(a.add(1.5).toArray()), [2.5, 3.5, -2.5]);
      assert.deepEqual(Array.from(a.sub(1).toArray()), [0, 1, -5]);
      assert.deepEqual(Array.from(a.mul(-2).toArray()), [-2, -4, 8]);
      assert.deepEqual(Array.from(a.div(4).toArray()), [0.25, 0.5, -1]);
    });
  });

  it('rejects shapes that do not broadcast, mixed dtypes and non-tensors', () => {
    ap.tidy(() => {
      const a = ap.zeros([3], { device });
      const b = ap.zeros([4], { device });
      const c = ap.zeros([2, 3], { device });
      const i = ap.zeros([3], { device, dtype: 'i32' });
      for (const op of OPS) {
        expectCode(() => ap[op](a, b), 'ERR_SHAPE', op);
        expectCode(() => ap[op](c, ap.zeros([2], { device })), 'ERR_SHAPE');
        expectCode(() => ap[op](a, i), 'ERR_DTYPE');
        expectCode(() => ap[op](i, i), 'ERR_DTYPE');
        expectCode(() => ap[op](a, 'x' as unknown as ap.Tensor), 'ERR_ARG');
        expectCode(() => ap[op]({} as unknown as ap.Tensor, a), 'ERR_ARG');
      }
    });
  });
});
