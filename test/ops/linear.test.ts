// linear: y = x · wᵀ + b through the GEMM kernels (native/{cpu,cuda}/gemm.*), on every backend
// against a plain f64 reference, its f64 gradient check, and the needs-propagation of its rule.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { assertClose, expectCode, f32, hostRandom } from '../helpers.js';

function reference(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, n: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(n * outF);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let j = 0; j < inF; j++) s += x[i * inF + j] * w[o * inF + j];
      y[i * outF + o] = s;
    }
  return y;
}

// [batch, in, out]: batch 1, primes, a head-like 1280 -> 10, and an SE-like 1 -> 8.
const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 7, 3], [5, 13, 97], [7, 1280, 10], [3, 1, 8], [64, 97, 33]];

forEachBackend('linear', (device) => {
  for (const [n, inF, outF] of SHAPES) {
    it(`forward [${n}, ${inF}] x [${outF}, ${inF}]^T with and without bias`, () => {
      ap.tidy(() => {
        const hx = f32(hostRandom(n * inF, n + inF, -1, 1));
        const hw = f32(hostRandom(outF * inF, outF, -1, 1));
        const hb = f32(hostRandom(outF, 3, -1, 1));
        const x = ap.tensor(Float32Array.from(hx), [n, inF], { device });
        const w = ap.tensor(Float32Array.from(hw), [outF, inF], { device });
        const b = ap.tensor(Float32Array.from(hb), [outF], { device });
        const y = ap.linear(x, w, b);
        assert.deepEqual([...y.shape], [n, outF]);
        // f32 sums of `inF` terms: rounding grows like sqrt(inF) * 2^-24.
        assertClose(y.toArray(), reference(hx, hw, hb, n, inF, outF), 1e-6, 'with bias');
        assertClose(ap.linear(x, w).toArray(), reference(hx, hw, null, n, inF, outF), 1e-6, 'without bias');
      });
    });
  }

  it('gradients match the reference: dx = dy·w, dw = dyᵀ·x, db = Σ dy', () => {
    ap.tidy(() => {
      const [n, inF, outF] = [6, 11, 5];
      const hx = f32(hostRandom(n * inF, 1)), hw = f32(hostRandom(outF * inF, 2)), hdy = f32(hostRandom(n * outF, 3));
      const x = ap.tensor(Float32Array.from(hx), [n, inF], { device, requiresGrad: true });
      const w = ap.tensor(Float32Array.from(hw), [outF, inF], { device, requiresGrad: true });
      const b = ap.zeros([outF], { device, requiresGrad: true });
      const dy = ap.tensor(Float32Array.from(hdy), [n, outF], { device });
      ap.linear(x, w, b).mul(dy).sum().backward();
      const dx = new Float64Array(n * inF), dw = new Float64Array(outF * inF), db = new Float64Array(outF);
      for (let i = 0; i < n; i++)
        for (let o = 0; o < outF; o++) {
          db[o] += hdy[i * outF + o];
          for (let j = 0; j < inF; j++) {
            dx[i * inF + j] += hdy[i * outF + o] * hw[o * inF + j];
            dw[o * inF + j] += hdy[i * outF + o] * hx[i * inF + j];
          }
        }
      assertClose(x.grad!.toArray(), dx, 1e-6, 'dx');
      assertClose(w.grad!.toArray(), dw, 1e-6, 'dw');
      assertClose(b.grad!.toArray(), db, 1e-6, 'db');
      ap.dispose([x, w, b]);
    });
  });

  it('asking only for the input gradient runs no weight-gradient GEMM', () => {
    ap.tidy(() => {
      const x = ap.randn([4, 9], { device, seed: 1 });
      const w = ap.randn([3, 9], { device, seed: 2, requiresGrad: true });
      const b = ap.randn([3], { device, seed: 3, requiresGrad: true });
      ap.autograd.resetStats();
      const [gx] = ap.grad(() => ap.linear(x, w, b).square().sum(), [x]);
      const s = ap.autograd.stats();
      assert.deepEqual([...gx.shape], [4, 9]);
      assert.equal(s.backwardKernels.linearBackwardInput, 1);
      assert.equal(s.backwardKernels.linearBackwardWeight ?? 0, 0);
      assert.equal(s.backwardKernels.sum ?? 0, 0, 'the bias gradient was computed');
      ap.dispose([w, b]);
    });
  });

  it('bad arguments give AdvpropError with the shapes', () => {
    ap.tidy(() => {
      const x = ap.zeros([2, 3], { device }), w = ap.zeros([4, 5], { device });
      expectCode(() => ap.linear(x, w), 'ERR_SHAPE', /\[2, 3\].*\[4, 5\]/);
      expectCode(() => ap.linear(ap.zeros([2, 3, 1], { device }), ap.zeros([4, 3], { device })), 'ERR_SHAPE', /2-D/);
      expectCode(() => ap.linear(x, ap.zeros([4, 3], { device }), ap.zeros([5], { device })), 'ERR_SHAPE', /\[5\]/);
      expectCode(() => ap.linear(x, ap.zeros([4, 3], { device, dtype: 'f64' })), 'ERR_DTYPE');
      expectCode(() => ap.linear(x, ap.zeros([4, 3], { device, dtype: 'i32' })), 'ERR_DTYPE');
      if (device !== 'cpu') expectCode(() => ap.linear(x, ap.zeros([4, 3], { device: 'cpu' })), 'ERR_DEVICE');
    });
  });
});

describe('linear gradient check (f64, cpu)', () => {
  const input = (shape: number[], seed: number) =>
    ap.tensor(hostRandom(shape[0] * shape[1] * (shape[2] ?? 1), seed, -2, 2), shape, { dtype: 'f64', device: 'cpu' });
  it('x, w and b', () => {
    ap.tidy(() => {
      const r = assertGradcheck((x, w, b) => ap.linear(x, w, b).silu(), [input([4, 7], 1), input([5, 7], 2), ap.tensor(hostRandom(5, 3), [5], { dtype: 'f64', device: 'cpu' })], { tol: 1e-6 });
      assert.ok(r.checked > 0);
    });
  });
});
