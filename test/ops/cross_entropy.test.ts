// crossEntropy (softmax cross-entropy with label smoothing) and accuracy on every backend
// (native/{cpu,cuda}/loss.*): per-sample and mean losses and dlogits against f64 references
// written from the formulas, large logits, every label form, f64 gradient checks on the cpu,
// argmax ties, and bad arguments.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { availableDevices, forEachBackend } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { assertClose, expectCode, f32, hostRandom } from '../helpers.js';

// Per-sample loss −Σ_k t_k log softmax(z)_k and dlogits (softmax − t)·g[n], t = (1 − ε)·onehot + ε/K.
function reference(z: ArrayLike<number>, labels: ArrayLike<number>, n: number, k: number, eps: number, g: (row: number) => number) {
  const loss = new Float64Array(n), dz = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, z[i * k + j]);
    let se = 0;
    for (let j = 0; j < k; j++) se += Math.exp(z[i * k + j] - m);
    const lse = m + Math.log(se);
    for (let j = 0; j < k; j++) {
      const t = (j === labels[i] ? 1 - eps : 0) + eps / k;
      loss[i] -= t * (z[i * k + j] - lse);
      dz[i * k + j] = (Math.exp(z[i * k + j] - lse) - t) * g(i);
    }
  }
  return { loss, dz };
}

function labelsFor(n: number, k: number, seed: number): Int32Array {
  return Int32Array.from(hostRandom(n, seed, 0, k), (v) => Math.floor(v));
}

interface Case { name: string; n: number; k: number; eps: number; offset?: number; tol: number }
// K = 1000 strides each CUDA thread over several classes; offset 80 makes exp(z) overflow f32 if
// the row max were not subtracted. Tolerances: f32 exp/log and K-term sums give ~1e-6 relative;
// with offset 80 the saved lse (≈ 80) carries an absolute f32 rounding of ~5e-6, which dlogits
// inherit through exp(z − lse), hence 1e-5 there.
const CASES: Case[] = [
  { name: 'N 5 K 7, no smoothing', n: 5, k: 7, eps: 0, tol: 1e-6 },
  { name: 'N 5 K 7, smoothing 0.1', n: 5, k: 7, eps: 0.1, tol: 1e-6 },
  { name: 'N 3 K 1000, smoothing 0.1 (ImageNet)', n: 3, k: 1000, eps: 0.1, tol: 1e-5 },
  { name: 'N 1 K 1', n: 1, k: 1, eps: 0.1, tol: 1e-6 },
  { name: 'N 4 K 10, logits offset by 80', n: 4, k: 10, eps: 0.2, offset: 80, tol: 1e-5 },
];

forEachBackend('crossEntropy', (device) => {
  for (const c of CASES) {
    it(`per-sample, mean and dlogits against f64: ${c.name}`, () => {
      ap.tidy(() => {
        const hz = f32(hostRandom(c.n * c.k, 1, -4, 4).map((v) => v + (c.offset ?? 0)));
        const labels = labelsFor(c.n, c.k, 2);
        const hdy = f32(hostRandom(c.n, 3, -1, 1));
        const z = ap.tensor(Float32Array.from(hz), [c.n, c.k], { device, requiresGrad: true });
        const none = ap.crossEntropy(z, labels, { labelSmoothing: c.eps, reduction: 'none' });
        const refNone = reference(hz, labels, c.n, c.k, c.eps, (i) => hdy[i]);
        assert.deepEqual([...none.shape], [c.n]);
        assertClose(none.toArray(), refNone.loss, c.tol, 'per-sample loss');
        const mean = ap.crossEntropy(z, labels, { labelSmoothing: c.eps });
        assert.deepEqual([...mean.shape], []);
        const refMean = refNone.loss.reduce((a, b) => a + b, 0) / c.n;
        assertClose([mean.item()], [refMean], c.tol, 'mean loss');

        const dy = ap.tensor(Float32Array.from(hdy), [c.n], { device });
        const [gNone] = ap.grad(() => ap.crossEntropy(z, labels, { labelSmoothing: c.eps, reduction: 'none' }).mul(dy).sum(), [z]);
        assertClose(gNone.toArray(), refNone.dz, c.tol, 'dlogits (none)');
        const [gMean] = ap.grad(() => ap.crossEntropy(z, labels, { labelSmoothing: c.eps }), [z]);
        assertClose(gMean.toArray(), reference(hz, labels, c.n, c.k, c.eps, () => 1 / c.n).dz, c.tol, 'dlogits (mean)');
        ap.dispose(z);
      });
    });
  }

  it('f64 logits agree with the f64 reference to rounding', () => {
    ap.tidy(() => {
      const n = 6, k = 300, hz = hostRandom(n * k, 4, -10, 10), labels = labelsFor(n, k, 5);
      const z = ap.tensor(hz, [n, k], { device, dtype: 'f64', requiresGrad: true });
      const ref = reference(hz, labels, n, k, 0.1, () => 1 / n);
      assertClose(ap.crossEntropy(z, labels, { labelSmoothing: 0.1, reduction: 'none' }).toArray(), ref.loss, 1e-13, 'loss');
      assertClose(ap.grad(() => ap.crossEntropy(z, labels, { labelSmoothing: 0.1 }), [z])[0].toArray(), ref.dz, 1e-13, 'dlogits');
      ap.dispose(z);
    });
  });

  it('labels as Int32Array, number[] and an i32 tensor on the device give the same loss; a tensor on another device is ERR_DEVICE', () => {
    ap.tidy(() => {
      const z = ap.randn([4, 6], { device, seed: 6 });
      const labels = [5, 0, 3, 3];
      const want = ap.crossEntropy(z, Int32Array.from(labels), { reduction: 'none' }).toArray();
      for (const l of [labels, ap.tensor(Int32Array.from(labels), [4], { dtype: 'i32', device })])
        assert.deepEqual(Array.from(ap.crossEntropy(z, l, { reduction: 'none' }).toArray()), Array.from(want));
      // Tensor labels follow the rule of every op with two tensor inputs: one device, no silent copy.
      const other = device === 'cpu' ? availableDevices().find((d) => d !== 'cpu') : 'cpu';
      if (other) {
        const elsewhere = ap.tensor(Int32Array.from(labels), [4], { dtype: 'i32', device: other });
        expectCode(() => ap.crossEntropy(z, elsewhere), 'ERR_DEVICE', /labels are on/);
        expectCode(() => ap.accuracy(z, elsewhere), 'ERR_DEVICE', /labels are on/);
      }
    });
  });

  it('labels outside [0, K) give ERR_ARG naming the index and value, for host arrays and tensors', () => {
    ap.tidy(() => {
      const z = ap.randn([4, 6], { device, seed: 7 });
      expectCode(() => ap.crossEntropy(z, [1, 2, 6, 0]), 'ERR_ARG', /labels\[2\] = number 6 .*\[0, 6\)/);
      expectCode(() => ap.crossEntropy(z, Int32Array.from([1, -1, 0, 0])), 'ERR_ARG', /labels\[1\]/);
      expectCode(() => ap.crossEntropy(z, [1, 2, 0.5, 0]), 'ERR_ARG', /labels\[2\]/);
      expectCode(() => ap.crossEntropy(z, ap.tensor(Int32Array.from([0, 1, 2, 9]), [4], { dtype: 'i32', device })), 'ERR_ARG', /labels\[3\] = 9 is outside \[0, 6\)/);
      expectCode(() => ap.accuracy(z, [0, 0, 0, 7]), 'ERR_ARG', /accuracy: labels\[3\]/);
    });
  });

  it('bad arguments give ERR_SHAPE / ERR_DTYPE / ERR_ARG / ERR_DISPOSED naming the op and shapes', () => {
    ap.tidy(() => {
      const z = ap.randn([4, 6], { device, seed: 8 });
      expectCode(() => ap.crossEntropy(z, [1, 2, 3]), 'ERR_SHAPE', /3 labels for logits with 4 rows/);
      expectCode(() => ap.crossEntropy(ap.zeros([4, 6, 1], { device }), [0, 0, 0, 0]), 'ERR_SHAPE', /\[4, 6, 1\]/);
      expectCode(() => ap.crossEntropy(z, ap.zeros([4], { device })), 'ERR_DTYPE', /labels must be i32/);
      expectCode(() => ap.crossEntropy(z, ap.tensor(Int32Array.from([0, 1]), [2], { dtype: 'i32', device })), 'ERR_SHAPE', /\[2\] must be \[4\]/);
      expectCode(() => ap.crossEntropy(z, [0, 0, 0, 0], { labelSmoothing: 1.5 }), 'ERR_ARG', /labelSmoothing/);
      expectCode(() => ap.crossEntropy(z, [0, 0, 0, 0], { reduction: 'sum' as never }), 'ERR_ARG', /reduction/);
      expectCode(() => ap.crossEntropy(z, 'cat' as never), 'ERR_ARG', /labels must be/);
      expectCode(() => ap.crossEntropy(ap.zeros([4, 6], { device, dtype: 'i32' }), [0, 0, 0, 0]), 'ERR_DTYPE', /logits/);
      expectCode(() => ap.crossEntropy(ap.zeros([0, 6], { device }), []), 'ERR_SHAPE', /empty batch/);
      const lse = ap.zeros([4], { device });
      expectCode(() => ap.kernels.crossEntropyBackward(z, ap.tensor(Int32Array.from([0, 0, 0, 0]), [4], { dtype: 'i32', device }), lse, ap.zeros([3], { device })), 'ERR_SHAPE', /dy/);
      const gone = ap.randn([4, 6], { device, seed: 9 });
      gone.dispose();
      expectCode(() => ap.crossEntropy(gone, [0, 0, 0, 0]), 'ERR_DISPOSED', /crossEntropy/);
      // No per-sample losses for an empty batch with reduction 'none' is fine.
      assert.equal(ap.crossEntropy(ap.zeros([0, 6], { device }), [], { reduction: 'none' }).numel, 0);
    });
  });
});

forEachBackend('accuracy', (device) => {
  it('argmax per row with ties to the lowest index, NaN never wins, and the correct count', () => {
    ap.tidy(() => {
      const k = 1000, n = 5;
      const hz = hostRandom(n * k, 10, -1, 1);
      // Row 0: equal maxima at 3 and 700 (different CUDA threads); row 1: at 300 and 44.
      hz[3] = hz[700] = 5;
      hz[k + 300] = hz[k + 44] = 5;
      // Row 2: NaN first, largest real value at 999.
      hz[2 * k] = NaN;
      hz[2 * k + 999] = 9;
      // Row 3: all equal: class 0.
      for (let j = 0; j < k; j++) hz[3 * k + j] = 0.25;
      // Row 4: the plain maximum, computed from the data.
      let best = 0;
      for (let j = 1; j < k; j++) if (hz[4 * k + j] > hz[4 * k + best]) best = j;
      const expected = [3, 44, 999, 0, best];
      const z = ap.tensor(Float32Array.from(hz), [n, k], { device });
      const labels = [3, 300, 999, 1, best];
      const r = ap.accuracy(z, labels);
      assert.ok(r.predictions instanceof Int32Array);
      assert.deepEqual(Array.from(r.predictions), expected);
      assert.equal(r.total, n);
      assert.equal(r.correct, expected.filter((p, i) => p === labels[i]).length);
      const rt = ap.accuracy(z, ap.tensor(Int32Array.from(labels), [n], { dtype: 'i32', device }));
      assert.equal(rt.correct, r.correct);
    });
  });
});

describe('crossEntropy gradient checks (f64, cpu)', () => {
  const logits = (n: number, k: number, seed: number) => ap.tensor(hostRandom(n * k, seed, -3, 3), [n, k], { dtype: 'f64', device: 'cpu' });
  for (const eps of [0, 0.1]) {
    it(`mean, smoothing ${eps}`, () => {
      ap.tidy(() => assert.ok(assertGradcheck((z) => ap.crossEntropy(z, [2, 0, 4], { labelSmoothing: eps }), [logits(3, 5, 11)], { tol: 1e-6 }).checked > 0));
    });
    it(`per-sample, smoothing ${eps}`, () => {
      ap.tidy(() => assert.ok(assertGradcheck((z) => ap.crossEntropy(z, [1, 6, 0, 3], { labelSmoothing: eps, reduction: 'none' }), [logits(4, 7, 12)], { tol: 1e-6 }).checked > 0));
    });
  }
  it('through a linear layer (the classifier head)', () => {
    ap.tidy(() => assert.ok(assertGradcheck((x, w) => ap.crossEntropy(ap.linear(x, w), [0, 3], { labelSmoothing: 0.1 }),
      [logits(2, 6, 13), logits(4, 6, 14)], { tol: 1e-6 }).checked > 0));
  });
});
