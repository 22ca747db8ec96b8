import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { forEachBackend } from '../lib/testing/backends.js';
import { assertClose, expectCode, hostRandom } from './helpers.js';

const arr = (t: ap.Tensor | null): number[] => Array.from(t!.toArray());

forEachBackend('autograd', (device) => {
  afterEach(() => ap.autograd.resetStats());

  it('backward() accumulates into .grad of leaves that require grad', () => {
    const x = ap.tensor([1, 2, 3], null, { device, requiresGrad: true });
    const c = ap.tensor([4, 5, 6], null, { device });
    ap.tidy(() => x.mul(c).sum().backward());
    assert.deepEqual(arr(x.grad), [4, 5, 6]);
    assert.equal(c.grad, null);
    ap.tidy(() => x.square().sum().backward());
    assert.deepEqual(arr(x.grad), [6, 9, 12]);
    x.zeroGrad();
    assert.equal(x.grad, null);
    ap.dispose([x, c]);
  });

  it('a tensor used twice gets both contributions', () => {
    const x = ap.tensor([2, -3], null, { device, requiresGrad: true });
    ap.tidy(() => x.mul(x).add(x).sum().backward());
    assert.deepEqual(arr(x.grad), [5, -5]);
    x.dispose();
  });

  it('per-channel broadcast: the [C] operand gets dy summed over N, H, W', () => {
    const hx = hostRandom(2 * 2 * 3 * 5, 1);
    const x = ap.tensor(Float32Array.from(hx), [2, 2, 3, 5], { device, requiresGrad: true });
    const g = ap.tensor([1, 2, 3, 4, 5], null, { device, requiresGrad: true });
    ap.tidy(() => x.mul(g).add(g).sum().backward());
    const expectG = new Float64Array(5);
    for (let i = 0; i < hx.length; i++) expectG[i % 5] += Math.fround(hx[i]) + 1;
    assertClose(arr(g.grad), expectG, 1e-6, 'dgamma');
    assertClose(arr(x.grad), Array.from(hx, (_, i) => (i % 5) + 1), 0, 'dx');
    ap.dispose([x, g]);
  });

  it('an explicit gradOutput seeds non-scalar outputs; scalars are required otherwise', () => {
    const x = ap.tensor([1, 2], null, { device, requiresGrad: true });
    ap.tidy(() => {
      const y = x.scale(3);
      expectCode(() => y.backward(), 'ERR_SHAPE');
      expectCode(() => y.backward(ap.ones([3], { device })), 'ERR_SHAPE');
      y.backward(ap.tensor([1, -1], null, { device }));
    });
    assert.deepEqual(arr(x.grad), [3, -3]);
    x.dispose();
  });

  it('backward through a freed graph throws; retainGraph allows a second pass', () => {
    const x = ap.tensor([1, 2], null, { device, requiresGrad: true });
    ap.tidy(() => {
      const loss = x.silu().sum();
      loss.backward(undefined, { retainGraph: true });
      loss.backward();
      expectCode(() => loss.backward(), 'ERR_ARG', 'already freed');
    });
    const s = (v: number): number => 1 / (1 + Math.exp(-v));
    assertClose(arr(x.grad), [1, 2].map((v) => 2 * s(v) * (1 + v * (1 - s(v)))), 1e-6, 'twice');
    x.dispose();
  });

  it('backward on a tensor that does not require grad is ERR_ARG', () => {
    ap.tidy(() => {
      const x = ap.ones([2], { device });
      expectCode(() => x.sum().backward(), 'ERR_ARG');
      const w = ap.ones([2], { device, requiresGrad: true });
      expectCode(() => ap.noGrad(() => w.mul(2).sum()).backward(), 'ERR_ARG');
    });
  });

  it('noGrad records nothing; enableGrad records inside noGrad', () => {
    ap.tidy(() => {
      const w = ap.ones([2], { device, requiresGrad: true });
      const y = ap.noGrad(() => w.mul(2));
      assert.equal(y.requiresGrad, false);
      assert.equal(ap.isGradEnabled(), true);
      const z = ap.noGrad(() => ap.enableGrad(() => w.mul(2)));
      assert.equal(z.requiresGrad, true);
      assert.equal(w.mul(2).requiresGrad, true);
    });
  });

  it('saved tensors survive disposing the inputs (they hold their own handles)', () => {
    const w = ap.tensor([1, 2, 3], null, { device, requiresGrad: true });
    const x = ap.tensor([0.25, -0.5, 0.75], null, { device });
    const loss = ap.tidy(() => x.mul(w).sigmoid().sum());
    x.dispose();
    assert.ok(ap.memory().numSavedTensors > 0);
    loss.backward();
    assert.equal(ap.memory().numSavedTensors, 0);
    const s = (v: number): number => 1 / (1 + Math.exp(-v));
    assertClose(arr(w.grad), [0.25, -1, 2.25].map((z, i) => s(z) * (1 - s(z)) * [0.25, -0.5, 0.75][i]), 1e-6, 'dw');
    ap.dispose([w, loss]);
  });

  it('grad(fn, inputs) returns gradients for the inputs only and frees what fn made', () => {
    const w = ap.tensor([0.5, -1, 2], null, { device, requiresGrad: true });
    const x = ap.tensor([1, 2, 3], null, { device });
    const before = ap.memory();
    const [gx] = ap.grad(() => x.mul(w).square().sum(), [x]);
    const after = ap.memory();
    assert.equal(after.numTensors, before.numTensors + 1);
    assert.equal(after.numSavedTensors, 0);
    assert.deepEqual(arr(gx), [0.5, 4, 24]);
    assert.equal(w.grad, null, 'grad() must not touch .grad');
    assert.equal(x.requiresGrad, false, 'watching x is temporary');
    ap.dispose([w, x, gx]);
  });

  it('grad() of intermediate (non-leaf) inputs and valueAndGrad', () => {
    const x = ap.tensor([1, 2], null, { device, requiresGrad: true });
    ap.tidy(() => {
      const h = x.scale(3);
      const { value, grads } = ap.valueAndGrad(() => h.square().sum(), [h, x]);
      assert.equal(value.item(), 45);
      assert.deepEqual(arr(grads[0]), [6, 12]);
      assert.deepEqual(arr(grads[1]), [18, 36]);
    });
    x.dispose();
  });

  it('grad() rejects unused inputs unless allowUnused, and non-scalar fn', () => {
    ap.tidy(() => {
      const x = ap.ones([2], { device });
      const y = ap.ones([3], { device });
      expectCode(() => ap.grad(() => x.sum(), [y]), 'ERR_ARG', 'not used');
      const [gy] = ap.grad(() => x.sum(), [y], { allowUnused: true });
      assert.deepEqual(arr(gy), [0, 0, 0]);
      expectCode(() => ap.grad(() => x.scale(2), [x]), 'ERR_SHAPE');
      expectCode(() => ap.grad(() => x.sum(), [3 as unknown as ap.Tensor]), 'ERR_ARG');
      expectCode(() => ap.grad(() => 3 as unknown as ap.Tensor, [x]), 'ERR_ARG');
    });
  });

  it('asking for the input gradient only runs no weight-gradient work', () => {
    // y = sum(silu(x * w + b) * w2): x is the "image", w, b, w2 the "weights".
    const w = ap.randn([5], { device, seed: 1, requiresGrad: true });
    const b = ap.randn([5], { device, seed: 2, requiresGrad: true });
    const w2 = ap.randn([3, 5], { device, seed: 3, requiresGrad: true });
    const x = ap.randn([2, 3, 5], { device, seed: 4 });
    const f = (): ap.Tensor => x.mul(w).add(b).silu().mul(w2).sum();

    ap.autograd.resetStats();
    const [gx] = ap.grad(f, [x]);
    const s = ap.autograd.stats();
    // Only the x path ran: mul(x, w) computed its 'a' gradient, never 'b' (w's).
    assert.deepEqual(s.inputGrads, { 'mul.a': 2, 'add.a': 1, 'silu.x': 1, 'sum.x': 1 });
    assert.equal(s.backwardKernels.sumToShape, undefined, 'no weight gradient was reduced');
    for (const p of [w, b, w2]) assert.equal(p.grad, null);

    // The full backward computes the weight gradients too, with the same dx.
    ap.autograd.resetStats();
    const xl = x.detach();
    xl.requiresGrad = true;
    ap.tidy(() => {
      const loss = xl.mul(w).add(b).silu().mul(w2).sum();
      loss.backward();
    });
    const full = ap.autograd.stats();
    assert.deepEqual(full.inputGrads, { 'mul.a': 2, 'mul.b': 2, 'add.a': 1, 'add.b': 1, 'silu.x': 1, 'sum.x': 1 });
    assert.ok(full.backwardKernels.sumToShape >= 3, 'weight gradients are reduced over the batch');
    assertClose(arr(xl.grad), arr(gx), 0, 'same input gradient');
    ap.dispose([w, b, w2, x, xl, gx]);
  });

  it('the rules of ops no requested input depends on are never called', () => {
    const w = ap.ones([4], { device, requiresGrad: true });
    const x = ap.ones([4], { device });
    ap.autograd.resetStats();
    ap.tidy(() => {
      // The exp branch only involves w; grad w.r.t. x must skip it entirely.
      const [gx] = ap.grad(() => x.mul(2).add(w.exp()).sum(), [x]);
      assert.deepEqual(arr(gx), [2, 2, 2, 2]);
    });
    const s = ap.autograd.stats();
    assert.equal(s.backwardCalls.exp, undefined);
    assert.equal(s.inputGrads['add.b'], undefined);
    assert.equal(s.backwardKernels.expBackward, undefined);
    ap.dispose([w, x]);
  });

  it('a forward on the tape inside tidy releases its saved tensors when the tidy ends', () => {
    const w = ap.ones([4], { device, requiresGrad: true });
    const saved0 = ap.memory().numSavedTensors;
    ap.tidy(() => {
      w.sigmoid().mul(w).sum();
      assert.ok(ap.memory().numSavedTensors > saved0);
    });
    assert.equal(ap.memory().numSavedTensors, saved0);
    // A returned output keeps its graph alive for a later backward.
    const loss = ap.tidy(() => w.sigmoid().mul(w).sum());
    assert.ok(ap.memory().numSavedTensors > saved0);
    loss.backward();
    assert.equal(ap.memory().numSavedTensors, saved0);
    assert.ok(w.grad);
    ap.dispose([w, loss]);
  });

  it('gradients cross devices through to() and dtypes through cast()', () => {
    const x = ap.tensor([1, 2, 3], null, { device, requiresGrad: true });
    ap.tidy(() => x.to('cpu').scale(2).cast('f64').square().sum().backward());
    assert.equal(x.grad!.device, device);
    assert.equal(x.grad!.dtype, 'f32');
    assert.deepEqual(arr(x.grad), [8, 16, 24]);
    x.dispose();
  });

  it('a leaf can be the root: its gradient is ones', () => {
    const x = ap.tensor([5], null, { device, requiresGrad: true });
    x.backward();
    assert.deepEqual(arr(x.grad), [1]);
    x.dispose();
  });
});
