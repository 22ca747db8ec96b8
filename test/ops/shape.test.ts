import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertSame, expectCode, hostRandom, numel } from '../helpers.js';

forEachBackend('reshape / slice0 / concat0', (device) => {
  it('reshape keeps the values in row-major order and infers one -1', () => {
    ap.tidy(() => {
      const h = Float32Array.from(hostRandom(2 * 3 * 5 * 17, 1));
      const x = ap.tensor(h, [2, 3, 5, 17], { device });
      for (const s of [[30, 17], [-1], [2, -1, 17], [510, 1], [1, 2, 255]]) {
        const r = x.reshape(s);
        assert.equal(r.numel, x.numel);
        assertSame(r.toArray(), h, `reshape to [${s}]`);
      }
      assert.deepEqual([...x.reshape([2, -1, 17]).shape], [2, 15, 17]);
      expectCode(() => x.reshape([7, -1]), 'ERR_SHAPE');
      expectCode(() => x.reshape([-1, -1]), 'ERR_SHAPE');
      expectCode(() => x.reshape([511]), 'ERR_SHAPE');
      expectCode(() => x.reshape([-2, 255]), 'ERR_SHAPE');
      expectCode(() => x.reshape('2' as unknown as number[]), 'ERR_ARG');
    });
  });

  it('slice0 takes rows along the batch axis', () => {
    ap.tidy(() => {
      const shape = [7, 3, 2, 5];
      const row = numel(shape) / 7;
      const h = Float32Array.from(hostRandom(numel(shape), 2));
      const x = ap.tensor(h, shape, { device });
      for (const [start, len] of [[0, 7], [0, 1], [3, 4], [6, 1], [2, 0]]) {
        const s = x.slice0(start, len);
        assert.deepEqual([...s.shape], [len, 3, 2, 5]);
        assertSame(s.toArray(), h.subarray(start * row, (start + len) * row), `slice0(${start}, ${len})`);
      }
      expectCode(() => x.slice0(5, 3), 'ERR_SHAPE');
      expectCode(() => x.slice0(-1, 1), 'ERR_ARG');
      expectCode(() => x.slice0(1.5, 1), 'ERR_ARG');
      expectCode(() => ap.tensor(1, null, { device }).slice0(0, 1), 'ERR_SHAPE');
    });
  });

  it('concat0 stacks along axis 0 and its inverse is slice0', () => {
    ap.tidy(() => {
      const parts = [1, 4, 2].map((n, i) => Float32Array.from(hostRandom(n * 17, 10 + i)));
      const xs = parts.map((p, i) => ap.tensor(p, [[1, 4, 2][i], 17], { device }));
      const c = ap.concat0(xs);
      assert.deepEqual([...c.shape], [7, 17]);
      const all = new Float32Array(7 * 17);
      all.set(parts[0], 0);
      all.set(parts[1], 17);
      all.set(parts[2], 5 * 17);
      assertSame(c.toArray(), all, 'concat0');
      assertSame(c.slice0(1, 4).toArray(), parts[1], 'slice back');
      assertSame(ap.concat0([xs[1]]).toArray(), parts[1], 'single');
      expectCode(() => ap.concat0([]), 'ERR_ARG');
      expectCode(() => ap.concat0([xs[0], ap.zeros([1, 16], { device })]), 'ERR_SHAPE');
      expectCode(() => ap.concat0([xs[0], ap.zeros([1, 17], { device, dtype: 'i32' })]), 'ERR_DTYPE');
      expectCode(() => ap.concat0([xs[0], 3 as unknown as ap.Tensor]), 'ERR_ARG');
      expectCode(() => ap.concat0(xs[0] as unknown as ap.Tensor[]), 'ERR_ARG');
    });
  });

  it('slice0Backward writes dy into zero rows', () => {
    ap.tidy(() => {
      const dy = ap.tensor([1, 2, 3, 4], [2, 2], { device });
      const dx = ap.kernels.slice0Backward(dy, 4, 1);
      assert.deepEqual([...dx.shape], [4, 2]);
      assert.deepEqual(Array.from(dx.toArray()), [0, 0, 1, 2, 3, 4, 0, 0]);
      expectCode(() => ap.kernels.slice0Backward(dy, 2, 1), 'ERR_SHAPE');
    });
  });
});
