// squeezeExcite (lib/ops/squeeze_excite.ts) and its kernel channelScaleAdd (native/*/pool.*) on
// every backend: the kernel against a plain reference at odd shapes; the op's forward against
// the composition of globalAvgPool, linear, silu, linear, sigmoid and channelScale it replaces
// (bit for bit) and its five gradients against that composition's; which kernels its backward
// runs; bad arguments; cpu against cuda-sim; f64 finite differences on the cpu.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { deviceOf, forEachBackend } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { assertClose, assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';

type DT = 'f32' | 'f64';

// C not a multiple of 4 or 8, C % 4 == 0 (the CUDA float4 path), C below and above the CUDA
// tile of 32; H·W = 1; N = 1.
const KERNEL_SHAPES: number[][] = [
  [2, 5, 7, 6], [1, 1, 1, 3], [3, 1, 1, 13], [1, 4, 3, 17], [2, 9, 9, 8], [2, 7, 7, 40], [1, 3, 5, 33], [3, 2, 5, 1],
];

// [N, H, W, C, R]: the same kinds of awkward sizes for the op, R the squeeze width.
const SE_SHAPES: number[][] = [[2, 5, 7, 6, 2], [1, 1, 1, 7, 3], [3, 4, 3, 17, 5], [2, 6, 6, 40, 10], [1, 3, 5, 33, 1]];

// The reference of channelScaleAdd: the product rounded to the dtype, then the sum rounded.
function scaleAddRef(x: ArrayLike<number>, s: ArrayLike<number>, b: ArrayLike<number>, shape: number[], dtype: DT): Float64Array {
  const [, h, w, c] = shape;
  const r = dtype === 'f32' ? Math.fround : (v: number) => v;
  const out = new Float64Array(x.length);
  for (let e = 0; e < out.length; e++) {
    const nc = Math.floor(e / (h * w * c)) * c + (e % c);
    out[e] = r(r(x[e] * s[nc]) + b[nc]);
  }
  return out;
}

interface SeInputs { x: ap.Tensor; w1: ap.Tensor; b1: ap.Tensor; w2: ap.Tensor; b2: ap.Tensor }

function seInputs(shape: number[], device: string, dtype: DT, seed: number, requiresGrad = false): SeInputs {
  const [n, h, w, c, r] = shape;
  const make = (dims: number[], k: number, scale: number) =>
    ap.tensor(hostRandom(numel(dims), seed + k, -scale, scale), dims, { device, dtype, requiresGrad });
  // Weights of the usual init scale, so the sigmoid is neither flat nor saturated.
  return {
    x: make([n, h, w, c], 0, 2), w1: make([r, c], 1, 1 / Math.sqrt(c)), b1: make([r], 2, 0.5),
    w2: make([c, r], 3, 1 / Math.sqrt(r)), b2: make([c], 4, 0.5),
  };
}

// What SqueezeExcite.forward computed before squeezeExcite existed.
function composed(x: ap.Tensor, w1: ap.Tensor, b1: ap.Tensor, w2: ap.Tensor, b2: ap.Tensor): ap.Tensor {
  const s = ap.sigmoid(ap.linear(ap.silu(ap.linear(ap.globalAvgPool(x), w1, b1)), w2, b2));
  return ap.channelScale(x, s);
}

const fused = (i: SeInputs): ap.Tensor => ap.squeezeExcite(i.x, i.w1, i.b1, i.w2, i.b2);
const names = ['x', 'w1', 'b1', 'w2', 'b2'] as const;
const list = (i: SeInputs): ap.Tensor[] => names.map((k) => i[k]);

// Gradients of sum(f(inputs) · W) for a fixed random W of y's shape.
function gradsOf(f: (...xs: ap.Tensor[]) => ap.Tensor, i: SeInputs, device: string, dtype: DT): ap.Tensor[] {
  const W = ap.tensor(hostRandom(numel(i.x.shape), 99, -1, 1), i.x.shape, { device, dtype });
  return ap.grad(() => f(...list(i)).mul(W).sum(), list(i));
}

forEachBackend('channelScaleAdd', (device) => {
  for (const dtype of ['f32', 'f64'] as const) {
    for (const s of KERNEL_SHAPES) {
      it(`${dtype} [${s.join(', ')}]: x · s + b, the product rounded before the add`, () => {
        ap.tidy(() => {
          const nc = [s[0], s[3]];
          const round = dtype === 'f32' ? f32 : (a: Float64Array) => a;
          const hx = round(hostRandom(numel(s), 1)), hs = round(hostRandom(numel(nc), 2)), hb = round(hostRandom(numel(nc), 3));
          const x = ap.tensor(hx, s, { device, dtype }), sc = ap.tensor(hs, nc, { device, dtype }), b = ap.tensor(hb, nc, { device, dtype });
          const y = ap.kernels.channelScaleAdd(x, sc, b);
          assert.deepEqual([...y.shape], s);
          assert.equal(y.dtype, dtype);
          // One rounding per operation, as specified: the reference gives every bit.
          assertSame(y.toArray(), scaleAddRef(hx, hs, hb, s, dtype), 'channelScaleAdd');
          // Hence also channelScale(x, s) + b exactly (what the old SE backward formed in two passes).
          const bFull = ap.kernels.channelScale(ap.ones(s, { device, dtype }), b);
          assertSame(y.toArray(), ap.kernels.add(ap.kernels.channelScale(x, sc), bFull).toArray(), 'vs channelScale + add');
        });
      });
    }
  }

  it('empty tensors: nothing to write', () => {
    ap.tidy(() => {
      const y = ap.kernels.channelScaleAdd(ap.zeros([2, 0, 3, 4], { device }), ap.ones([2, 4], { device }), ap.ones([2, 4], { device }));
      assert.deepEqual([...y.shape], [2, 0, 3, 4]);
      const z = ap.kernels.channelScaleAdd(ap.zeros([0, 3, 3, 4], { device }), ap.ones([0, 4], { device }), ap.ones([0, 4], { device }));
      assert.equal(z.numel, 0);
    });
  });

  it('bad arguments give ERR_SHAPE / ERR_DTYPE / ERR_DEVICE / ERR_DISPOSED / ERR_ARG naming the op, argument and shapes', () => {
    ap.tidy(() => {
      const x = ap.zeros([2, 3, 3, 4], { device }), s = ap.zeros([2, 4], { device }), b = ap.zeros([2, 4], { device });
      const op = ap.kernels.channelScaleAdd;
      expectCode(() => op(x, s, ap.zeros([2, 5], { device })), 'ERR_SHAPE', /channelScaleAdd.*'b' \[2, 5\].*\[2, 4\].*\[2, 3, 3, 4\]/);
      expectCode(() => op(x, ap.zeros([4], { device }), b), 'ERR_SHAPE', /channelScaleAdd.*'s' \[4\]/);
      expectCode(() => op(ap.zeros([2, 9, 4], { device }), s, b), 'ERR_SHAPE', /channelScaleAdd.*NHWC.*\[2, 9, 4\]/);
      expectCode(() => op(x, s, ap.zeros([2, 4], { device, dtype: 'f64' })), 'ERR_DTYPE', /channelScaleAdd.*'b'/);
      expectCode(() => op(ap.zeros([2, 3, 3, 4], { device, dtype: 'i32' }), s, b), 'ERR_DTYPE', /channelScaleAdd.*'x'.*i32/);
      if (device !== 'cpu') expectCode(() => op(x, s, ap.zeros([2, 4], { device: 'cpu' })), 'ERR_DEVICE', /channelScaleAdd.*'b'/);
      expectCode(() => op(x, s, [1, 2] as unknown as ap.Tensor), 'ERR_ARG', /channelScaleAdd.*'b'/);
      const gone = ap.zeros([2, 4], { device });
      gone.dispose();
      expectCode(() => op(x, s, gone), 'ERR_DISPOSED', /channelScaleAdd.*'b'/);
    });
  });
});

forEachBackend('squeezeExcite against the composed ops', (device) => {
  for (const dtype of ['f32', 'f64'] as const) {
    for (const shape of SE_SHAPES) {
      it(`${dtype} [${shape.join(', ')}] (N, H, W, C, R): forward bit for bit, five gradients to rounding`, () => {
        ap.tidy(() => {
          const i = seInputs(shape, device, dtype, 10 * shape[3] + shape[4], true);
          assertSame(fused(i).toArray(), composed(i.x, i.w1, i.b1, i.w2, i.b2).toArray(), 'forward');
          const gNew = gradsOf(ap.squeezeExcite, i, device, dtype);
          const gOld = gradsOf(composed, i, device, dtype);
          // Both run the same kernels on the same values except where the old graph broadcast
          // dpool / (H·W) and added it in a second pass; one rounding apart at most.
          const tol = dtype === 'f32' ? 1e-6 : 1e-12;
          names.forEach((n, k) => {
            assert.deepEqual([...gNew[k].shape], [...list(i)[k].shape], `d${n} shape`);
            assertClose(gNew[k].toArray(), gOld[k].toArray(), tol, `d${n}`);
          });
          ap.dispose(list(i));
        });
      });
    }
  }

  it('the backward makes two passes over dy and one each over x and dx, and nothing else full-size', () => {
    ap.tidy(() => {
      const i = seInputs([2, 5, 5, 12, 3], device, 'f32', 7, true);
      ap.autograd.resetStats();
      ap.grad(() => fused(i).sum(), list(i));
      const s = ap.autograd.stats().backwardKernels;
      assert.equal(s.channelScaleBackward, 1);
      assert.equal(s.channelScaleAdd, 1);
      assert.equal(s.globalAvgPoolBackward ?? 0, 0, 'no broadcast of the pool gradient');
      assert.equal(s.add ?? 0, 0, 'no accumulation of two input gradients');
      assert.equal(s.linearBackwardWeight, 2);
      assert.equal(s.sum, 2, 'the two bias gradients');
      ap.dispose(list(i));
    });
  });

  it('only the gradients asked for are computed', () => {
    ap.tidy(() => {
      const i = seInputs([2, 4, 4, 8, 2], device, 'f32', 8, true);
      const run = (wrt: ap.Tensor[]) => {
        ap.autograd.resetStats();
        ap.grad(() => fused(i).sum(), wrt);
        return ap.autograd.stats();
      };
      // An attack's input gradient: no weight or bias gradient.
      let s = run([i.x]);
      assert.equal(s.backwardKernels.linearBackwardWeight ?? 0, 0);
      assert.equal(s.backwardKernels.sum ?? 0, 0);
      assert.equal(s.backwardKernels.channelScaleAdd, 1);
      assert.deepEqual(Object.keys(s.inputGrads).filter((k) => k.startsWith('squeezeExcite')), ['squeezeExcite.x']);
      // The expand FC's bias alone: nothing below the sigmoid.
      s = run([i.b2]);
      assert.equal(s.backwardKernels.sum, 1);
      assert.equal(s.backwardKernels.linearBackwardInput ?? 0, 0);
      assert.equal(s.backwardKernels.siluBackward ?? 0, 0);
      assert.equal(s.backwardKernels.channelScaleAdd ?? 0, 0);
      // The reduce FC's weight: through the silu, but no input gradient of the pool.
      s = run([i.w1]);
      assert.equal(s.backwardKernels.linearBackwardWeight, 1);
      assert.equal(s.backwardKernels.linearBackwardInput, 1);
      assert.equal(s.backwardKernels.channelScaleAdd ?? 0, 0);
      ap.dispose(list(i));
    });
  });

  it('saves no more tensors than the composition did, and frees them all after backward', () => {
    ap.tidy(() => {
      const i = seInputs([2, 3, 3, 8, 2], device, 'f32', 9, true);
      const before = ap.memory().numSavedTensors;
      const saved = (f: (...xs: ap.Tensor[]) => ap.Tensor): number => ap.tidy(() => {
        const y = f(...list(i));
        const n = ap.memory().numSavedTensors - before;
        ap.grad(() => y.sum(), list(i));
        return n;
      });
      const nNew = saved(ap.squeezeExcite), nOld = saved(composed);
      assert.ok(nNew <= nOld, `squeezeExcite saves ${nNew} tensors, the composition ${nOld}`);
      assert.equal(ap.memory().numSavedTensors, before);
      // In no-grad mode nothing is saved and only y outlives the call.
      const live = ap.memory().numTensors;
      const y = ap.noGrad(() => fused(i));
      assert.equal(ap.memory().numSavedTensors, before);
      assert.equal(ap.memory().numTensors, live + 1);
      y.dispose();
      ap.dispose(list(i));
    });
  });

  it('bad arguments give AdvpropErrors with stable codes naming squeezeExcite, the argument and the shapes', () => {
    ap.tidy(() => {
      const { x, w1, b1, w2, b2 } = seInputs([2, 3, 3, 8, 2], device, 'f32', 11);
      const se = ap.squeezeExcite;
      expectCode(() => se(ap.zeros([2, 9, 8], { device }), w1, b1, w2, b2), 'ERR_SHAPE', /squeezeExcite.*'x'.*NHWC.*\[2, 9, 8\]/);
      expectCode(() => se(x, ap.zeros([2, 7], { device }), b1, w2, b2), 'ERR_SHAPE', /squeezeExcite.*'w1'.*\[2, 7\].*\[2, 8\].*\[2, 3, 3, 8\]/);
      expectCode(() => se(x, ap.zeros([8], { device }), b1, w2, b2), 'ERR_SHAPE', /squeezeExcite.*'w1'.*\[8\]/);
      expectCode(() => se(x, w1, ap.zeros([3], { device }), w2, b2), 'ERR_SHAPE', /squeezeExcite.*'b1'.*\[3\].*\[2\]/);
      expectCode(() => se(x, w1, b1, ap.zeros([2, 8], { device }), b2), 'ERR_SHAPE', /squeezeExcite.*'w2'.*\[2, 8\].*\[8, 2\]/);
      expectCode(() => se(x, w1, b1, w2, ap.zeros([2, 8], { device })), 'ERR_SHAPE', /squeezeExcite.*'b2'.*\[2, 8\].*\[8\]/);
      expectCode(() => se(x, w1, b1, w2, ap.zeros([8], { device, dtype: 'f64' })), 'ERR_DTYPE', /squeezeExcite.*'b2'.*f64/);
      expectCode(() => se(ap.zeros([2, 3, 3, 8], { device, dtype: 'i32' }), w1, b1, w2, b2), 'ERR_DTYPE', /squeezeExcite.*'x'.*i32/);
      if (device !== 'cpu') expectCode(() => se(x, w1, b1, ap.zeros([8, 2], { device: 'cpu' }), b2), 'ERR_DEVICE', /squeezeExcite.*'w2'.*cpu/);
      expectCode(() => se(x, w1, null as unknown as ap.Tensor, w2, b2), 'ERR_ARG', /squeezeExcite.*'b1'/);
      const gone = ap.zeros([2], { device });
      gone.dispose();
      expectCode(() => se(x, w1, gone, w2, b2), 'ERR_DISPOSED', /squeezeExcite.*'b1'/);
    });
  });
});

describe('squeezeExcite: cpu and cuda-sim agree', () => {
  for (const shape of [[2, 7, 5, 19, 4], [1, 1, 1, 40, 10], [3, 12, 11, 8, 2]]) {
    it(`f32 [${shape.join(', ')}]: output and five gradients`, function () {
      const sim = deviceOf('cuda-sim');
      if (!sim) this.skip();
      ap.tidy(() => {
        const run = (device: string) => {
          const i = seInputs(shape, device, 'f32', 21, true);
          return [fused(i).toArray(), ...gradsOf(ap.squeezeExcite, i, device, 'f32').map((g) => g.toArray())];
        };
        const [a, b] = [run('cpu'), run(sim!)];
        // Spatial sums and GEMMs add in different orders on the two backends: a few f32 roundings
        // of sums of at most 132 terms.
        ['y', ...names.map((n) => `d${n}`)].forEach((label, k) => assertClose(b[k], a[k], 1e-5, label));
      });
    });
  }
});

describe('squeezeExcite gradient checks (f64, cpu)', () => {
  for (const shape of [[2, 3, 4, 5, 3], [1, 1, 1, 7, 2], [3, 2, 5, 9, 1]]) {
    it(`x, w1, b1, w2, b2 [${shape.join(', ')}] (N, H, W, C, R)`, () => {
      ap.tidy(() => {
        const i = seInputs(shape, 'cpu', 'f64', 31);
        // w1's gradient is damped by sigmoid' · silu' and 1/(H·W), so it is ~1e-3 of a loss of
        // order 10: at the default step 1e-6 the loss's rounding (~1e-15) alone moves the central
        // difference by ~1e-9, 1e-6 of that gradient (the composed ops fare the same). A step of
        // 1e-5 cuts that tenfold while its truncation error stays ~1e-10.
        const r = assertGradcheck(ap.squeezeExcite, list(i), { tol: 1e-6, eps: 1e-5, samples: 40 });
        assert.equal(r.perInput.length, 5);
        for (const p of r.perInput) assert.ok(p.checked > 0, `input ${p.input} checked`);
      });
    });
  }
});
