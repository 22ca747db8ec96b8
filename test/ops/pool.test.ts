// globalAvgPool and channelScale on every backend (native/{cpu,cuda}/pool.*): forward and both
// backward kernels against f64 references written from the formulas, f64 gradient checks on the
// cpu, determinism, bad arguments; and the residual add ([N,H,W,C] + [N,H,W,C], ap.add).
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { assertClose, assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';

// Odd and prime sizes; C below, at and above the CUDA tile of 32, C % 4 == 0 (the float4 path) and
// not; H*W from 1 to 400 (one and several chunks of the CUDA spatial sum).
const SHAPES: number[][] = [
  [2, 5, 7, 6], [1, 1, 1, 3], [3, 4, 3, 17], [2, 9, 9, 8], [1, 20, 20, 5], [2, 7, 7, 40], [1, 3, 5, 33],
];

// sum over h, w of a[n, h, w, c] * (b ? b[n, h, w, c] : 1), times scale, in f64.
function spatialSum(a: ArrayLike<number>, b: ArrayLike<number> | null, s: number[], scale: number): Float64Array {
  const [n, h, w, c] = s;
  const out = new Float64Array(n * c);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < h * w; p++)
      for (let j = 0; j < c; j++) {
        const e = (i * h * w + p) * c + j;
        out[i * c + j] += a[e] * (b ? b[e] : 1) * scale;
      }
  return out;
}

// a[n, h, w, c] * v[n, c] (a = null: 1), in f64.
function spatialBroadcast(a: ArrayLike<number> | null, v: ArrayLike<number>, s: number[]): Float64Array {
  const [n, h, w, c] = s;
  const out = new Float64Array(n * h * w * c);
  for (let e = 0; e < out.length; e++) {
    const i = Math.floor(e / (h * w * c)), j = e % c;
    out[e] = (a ? a[e] : 1) * v[i * c + j];
  }
  return out;
}

forEachBackend('globalAvgPool and channelScale', (device) => {
  for (const s of SHAPES) {
    const nc = [s[0], s[3]];
    const hw = s[1] * s[2];
    it(`forward and backward kernels against f64 references: [${s.join(', ')}]`, () => {
      ap.tidy(() => {
        const hx = f32(hostRandom(numel(s), 1, -1, 1)), hs = f32(hostRandom(numel(nc), 2, -1, 1));
        const hdy = f32(hostRandom(numel(s), 3, -1, 1)), hdp = f32(hostRandom(numel(nc), 4, -1, 1));
        const x = ap.tensor(Float32Array.from(hx), s, { device }), sc = ap.tensor(Float32Array.from(hs), nc, { device });
        const dy = ap.tensor(Float32Array.from(hdy), s, { device }), dp = ap.tensor(Float32Array.from(hdp), nc, { device });
        // Spatial sums of up to 400 f32 terms (cpu: in f64, gpu: 8 strided partials and a tree):
        // rounding error of order sqrt(400) * 6e-8 relative, well under 1e-5.
        const y = ap.kernels.globalAvgPool(x);
        assert.deepEqual([...y.shape], nc);
        assertClose(y.toArray(), spatialSum(hx, null, s, 1 / hw), 1e-5, 'globalAvgPool');
        const g = ap.kernels.channelScaleBackward(x, sc, dy);
        assertClose(g.ds!.toArray(), spatialSum(hdy, hx, s, 1), 1e-5, 'channelScale ds');
        // Elementwise: one or two roundings of an f32 product.
        assertClose(ap.kernels.globalAvgPoolBackward(dp, s).toArray(), spatialBroadcast(null, hdp, s).map((v) => v / hw), 1e-6, 'globalAvgPool dx');
        assertClose(ap.kernels.channelScale(x, sc).toArray(), spatialBroadcast(hx, hs, s), 1e-6, 'channelScale y');
        assertClose(g.dx!.toArray(), spatialBroadcast(hdy, hs, s), 1e-6, 'channelScale dx');
      });
    });
  }

  it('f64 kernels agree with the f64 references to rounding', () => {
    ap.tidy(() => {
      const s = [2, 6, 5, 9], nc = [2, 9];
      const hx = hostRandom(numel(s), 5), hs = hostRandom(numel(nc), 6), hdy = hostRandom(numel(s), 7);
      const x = ap.tensor(hx, s, { device, dtype: 'f64' }), sc = ap.tensor(hs, nc, { device, dtype: 'f64' });
      const dy = ap.tensor(hdy, s, { device, dtype: 'f64' });
      assertClose(ap.kernels.globalAvgPool(x).toArray(), spatialSum(hx, null, s, 1 / 30), 1e-13, 'pool');
      const g = ap.kernels.channelScaleBackward(x, sc, dy);
      assertClose(g.ds!.toArray(), spatialSum(hdy, hx, s, 1), 1e-13, 'ds');
      assertClose(g.dx!.toArray(), spatialBroadcast(hdy, hs, s), 1e-15, 'dx');
    });
  });

  it('only the requested gradient of channelScale is computed', () => {
    ap.tidy(() => {
      const x = ap.randn([2, 3, 3, 4], { device, seed: 1 }), s = ap.randn([2, 4], { device, seed: 2 });
      const dy = ap.randn([2, 3, 3, 4], { device, seed: 3 });
      const onlyDs = ap.kernels.channelScaleBackward(x, s, dy, { ds: true });
      assert.equal(onlyDs.dx, null);
      assert.deepEqual([...onlyDs.ds!.shape], [2, 4]);
      const onlyDx = ap.kernels.channelScaleBackward(x, s, dy, { dx: true });
      assert.equal(onlyDx.ds, null);
      assert.deepEqual([...onlyDx.dx!.shape], [2, 3, 3, 4]);
      // Through the tape: the image gradient alone, with s a constant.
      const xl = ap.randn([2, 3, 3, 4], { device, seed: 4, requiresGrad: true });
      const [gx] = ap.grad(() => ap.channelScale(xl, s).sum(), [xl]);
      assertClose(gx.toArray(), spatialBroadcast(null, s.toArray(), [2, 3, 3, 4]), 1e-6, 'dx = s');
      ap.dispose(xl);
    });
  });

  it('spatial sums are bitwise reproducible', () => {
    ap.tidy(() => {
      const x = ap.randn([2, 23, 19, 37], { device, seed: 8 }), s = ap.randn([2, 37], { device, seed: 9 });
      assertSame(ap.kernels.globalAvgPool(x).toArray(), ap.kernels.globalAvgPool(x).toArray(), 'pool');
      assertSame(ap.kernels.channelScaleBackward(x, s, x, { ds: true }).ds!.toArray(),
        ap.kernels.channelScaleBackward(x, s, x, { ds: true }).ds!.toArray(), 'ds');
    });
  });

  it('empty spatial extent: the pool is 0 and ds is 0', () => {
    ap.tidy(() => {
      const x = ap.zeros([2, 0, 3, 4], { device });
      assert.deepEqual(Array.from(ap.globalAvgPool(x).toArray()), new Array(8).fill(0));
      const g = ap.kernels.channelScaleBackward(x, ap.ones([2, 4], { device }), x);
      assert.deepEqual(Array.from(g.ds!.toArray()), new Array(8).fill(0));
      assert.equal(g.dx!.numel, 0);
    });
  });

  it('residual add [N,H,W,C] + [N,H,W,C]: forward and gradient to both operands', () => {
    ap.tidy(() => {
      const s = [2, 5, 3, 8];
      const ha = f32(hostRandom(numel(s), 10)), hb = f32(hostRandom(numel(s), 11));
      const a = ap.tensor(Float32Array.from(ha), s, { device, requiresGrad: true });
      const b = ap.tensor(Float32Array.from(hb), s, { device, requiresGrad: true });
      const w = f32(hostRandom(numel(s), 12));
      const W = ap.tensor(Float32Array.from(w), s, { device });
      assertClose(ap.add(a, b).toArray(), ha.map((v, i) => v + hb[i]), 1e-7, 'a + b');
      const [ga, gb] = ap.grad(() => ap.add(a, b).mul(W).sum(), [a, b]);
      assertClose(ga.toArray(), w, 1e-7, 'd/da');
      assertClose(gb.toArray(), w, 1e-7, 'd/db');
      ap.dispose([a, b]);
    });
  });

  it('bad arguments give ERR_SHAPE / ERR_DTYPE / ERR_DEVICE / ERR_DISPOSED naming the op and shapes', () => {
    ap.tidy(() => {
      const x = ap.zeros([2, 3, 3, 4], { device });
      expectCode(() => ap.globalAvgPool(ap.zeros([2, 3, 4], { device })), 'ERR_SHAPE', /globalAvgPool.*NHWC.*\[2, 3, 4\]/);
      expectCode(() => ap.channelScale(x, ap.zeros([2, 5], { device })), 'ERR_SHAPE', /channelScale.*\[2, 5\].*\[2, 4\]/);
      expectCode(() => ap.channelScale(x, ap.zeros([4], { device })), 'ERR_SHAPE', /\[4\]/);
      expectCode(() => ap.channelScale(x, ap.zeros([2, 4], { device, dtype: 'f64' })), 'ERR_DTYPE', /channelScale/);
      expectCode(() => ap.globalAvgPool(ap.zeros([2, 3, 3, 4], { device, dtype: 'i32' })), 'ERR_DTYPE', /globalAvgPool/);
      expectCode(() => ap.kernels.globalAvgPoolBackward(ap.zeros([2, 5], { device }), [2, 3, 3, 4]), 'ERR_SHAPE', /\[2, 5\]/);
      expectCode(() => ap.kernels.channelScaleBackward(x, ap.zeros([2, 4], { device }), ap.zeros([2, 3, 3, 5], { device })), 'ERR_SHAPE', /dy/);
      if (device !== 'cpu') expectCode(() => ap.channelScale(x, ap.zeros([2, 4], { device: 'cpu' })), 'ERR_DEVICE', /channelScale/);
      const gone = ap.zeros([2, 4], { device });
      gone.dispose();
      expectCode(() => ap.channelScale(x, gone), 'ERR_DISPOSED', /channelScale/);
    });
  });
});

describe('globalAvgPool and channelScale gradient checks (f64, cpu)', () => {
  const input = (shape: number[], seed: number) => ap.tensor(hostRandom(numel(shape), seed, -1, 1), shape, { dtype: 'f64', device: 'cpu' });
  for (const s of [[2, 3, 4, 5], [1, 5, 3, 9]]) {
    it(`globalAvgPool [${s.join(', ')}]`, () => {
      ap.tidy(() => assert.ok(assertGradcheck((x) => ap.globalAvgPool(x).square(), [input(s, 1)], { tol: 1e-6 }).checked > 0));
    });
    it(`channelScale x and s [${s.join(', ')}]`, () => {
      ap.tidy(() => assert.ok(assertGradcheck((x, sc) => ap.channelScale(x, sc).square(), [input(s, 2), input([s[0], s[3]], 3)], { tol: 1e-6 }).checked > 0));
    });
    it(`squeeze-excite shape x * sigmoid(pool(x)) [${s.join(', ')}] (x reaches the output twice)`, () => {
      ap.tidy(() => assert.ok(assertGradcheck((x) => ap.channelScale(x, ap.globalAvgPool(x).sigmoid()), [input(s, 4)], { tol: 1e-6 }).checked > 0));
    });
  }
  it('residual add', () => {
    ap.tidy(() => assert.ok(assertGradcheck((a, b) => ap.add(a, b).square(), [input([2, 3, 3, 4], 5), input([2, 3, 3, 4], 6)], { tol: 1e-6 }).checked > 0));
  });
});
