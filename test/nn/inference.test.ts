// The inference path (lib/nn/fused.ts, kernels.conv2dBnEval): an eval forward under noGrad runs
// each convolution with its batch norm, activation and residual in the convolution's epilogue.
// Stated bound: on cpu and cuda-sim the fused forward has the same bits as the plain one (the
// epilogue repeats the batch-norm kernel's operations in its order, see advprop/epilogue.h); on
// cuda, where nvcc may contract the affine differently in two kernels, logits within 1e-5
// relative. Training never takes the path.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertClose, assertSame, expectCode } from '../helpers.js';
import { convBnEval, convBnEvalPooled, seGatePooled } from '../../lib/nn/fused.js';
import { conv2dBnEvalCall } from '../../lib/kernels/conv_bn.js';

const { models } = ap;
type Net = ap.models.EfficientNet;

const TINY_STAGES: ap.models.StageArgs[] = [
  { repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 8, outFilters: 8, seRatio: 0.25 },
  { repeats: 2, kernel: 5, stride: 2, expand: 6, inFilters: 8, outFilters: 12, seRatio: 0.25 },
];
const tiny = (device: string, domains = 2): Net => models.efficientnet('b0', {
  width: 1, depth: 1, stages: TINY_STAGES, stemFilters: 8, headFilters: 16, numClasses: 5, domains,
  dropout: 0.2, dropConnect: 0.2, seed: 7, device,
});

/** Every BN's running statistics and affine parameters set to varied values, per domain. */
function perturbBn(m: Net, seed: number): void {
  const state: Record<string, ap.Tensor> = {};
  let s = seed;
  for (const slot of m.stateSlots()) {
    if (!/\.(running_mean|running_var|weight|bias)$/.test(slot.key) || !/bn\d/.test(slot.key)) continue;
    const isVar = slot.key.endsWith('running_var');
    const t = ap.rand([...slot.shape], { seed: s++ });
    state[slot.key] = isVar ? t.mul(ap.tensor([1.5])).add(ap.tensor([0.25])) : t.sub(ap.tensor([0.5]));
  }
  m.loadStateDict(state, { strict: false });
}

const fusedCalls = (): number => ap.autograd.stats().forwardKernels.conv2dBnEval ?? 0;

function logits(m: Net, x: ap.Tensor, opts: ap.nn.ForwardOptions = {}): Float32Array | Float64Array {
  return ap.tidy(() => ap.noGrad(() => m.forward(x, opts).toArray())) as Float32Array | Float64Array;
}

function same(backend: string, got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  if (backend === 'cuda') assertClose(got, want, 1e-5, label);
  else assertSame(got, want, label);
}

forEachBackend('inference path', (device, backend) => {
  it('a two-domain tiny EfficientNet: fused eval forward = plain eval forward, for domain 0 and domain 1', () => {
    const m = tiny(device);
    try {
      perturbBn(m, 100);
      m.eval();
      const x = ap.rand([3, 17, 15, 3], { seed: 3, device });
      ap.autograd.resetStats();
      const fused = logits(m, x);
      assert.ok(fusedCalls() > 0, 'the eval forward under noGrad takes the inference path');
      ap.autograd.resetStats();
      const plain = logits(m, x, { fuse: false });
      assert.equal(fusedCalls(), 0, '{ fuse: false } keeps the plain path');
      same(backend, fused, plain, 'domain 0 logits');
      const fused1 = logits(m, x, { segments: [[1, 3]] });
      const plain1 = logits(m, x, { segments: [[1, 3]], fuse: false });
      same(backend, fused1, plain1, 'domain 1 logits');
      assert.notDeepEqual(Array.from(fused1), Array.from(fused), 'the domains differ');
      // Two domains in one batch: the plain path, as before.
      ap.autograd.resetStats();
      logits(m, x, { segments: [[0, 2], [1, 1]] });
      assert.equal(fusedCalls(), 0, 'a split batch does not take the inference path');
      x.dispose();
    } finally {
      m.dispose();
    }
  });

  it('B0 (1 domain, 40x40, batch 2): fused = plain, f32 and f64', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      if (dtype === 'f64' && backend === 'cuda') continue; // f64 on a GPU: covered by cuda-sim
      const m = models.efficientnet('b0', { numClasses: 10, domains: 1, seed: 11 });
      try {
        perturbBn(m, 200);
        m.cast(dtype).to(device).eval();
        const x = ap.rand([2, 40, 40, 3], { seed: 4 }).cast(dtype).to(device);
        same(backend, logits(m, x), logits(m, x, { fuse: false }), `B0 ${dtype} logits`);
        x.dispose();
      } finally {
        m.dispose();
      }
    }
  });

  it('training never takes the inference path; gradients through an eval model keep the plain path', () => {
    const m = tiny(device);
    try {
      const x = ap.rand([2, 9, 9, 3], { seed: 5, device });
      ap.autograd.resetStats();
      ap.tidy(() => ap.noGrad(() => m.forward(x)));  // train mode, noGrad
      m.eval();
      ap.tidy(() => ap.grad(() => m.forward(x).sum(), [x]));  // eval, recording (an attack)
      assert.equal(fusedCalls(), 0);
      x.dispose();
    } finally {
      m.dispose();
    }
  });

  it('no stale state: after train-mode statistics, an optimizer step and train()/eval(), fused = plain', () => {
    const m = tiny(device);
    try {
      const x = ap.rand([4, 11, 11, 3], { seed: 6, device });
      m.eval();
      const before = logits(m, x);
      m.train();
      const params = m.parameters();
      const opt = new ap.optim.SGD(params, { lr: 0.1, momentum: 0.9 });
      ap.tidy(() => {
        const g = ap.grad(() => m.forward(x, { segments: [[0, 2], [1, 2]] }).square().sum(), params);
        opt.step(g);
      });
      assert.equal(fusedCalls() >= 0, true);
      m.eval();
      const after = logits(m, x);
      same(backend, after, logits(m, x, { fuse: false }), 'logits after the update');
      assert.notDeepEqual(Array.from(after), Array.from(before), 'the update changed the logits');
      // A loaded checkpoint replaces the tensors: the next forward reads the new ones.
      perturbBn(m, 300);
      same(backend, logits(m, x), logits(m, x, { fuse: false }), 'logits after loadStateDict');
      opt.dispose?.();
      x.dispose();
    } finally {
      m.dispose();
    }
  });

  it('the packed weights the cpu keeps between calls follow every in-place write made in eval mode', () => {
    // The cpu keeps the packed weights of the eval forward's GEMMs and depthwise layers across
    // calls (native/cpu/gemm_pack_cache.h), keyed on a stamp that every in-place op renews. Each
    // write below happens between two fused forwards with nothing else in between.
    const m = tiny(device);
    try {
      perturbBn(m, 400);
      m.eval();
      const x = ap.rand([2, 13, 13, 3], { seed: 8, device });
      // The 1x1 convolutions that run as GEMMs with an epilogue (the squeeze-excite FCs run as
      // linear layers: one is written below).
      const pointwise = m.namedParameters().filter(([k, t]) => t.shape.length === 4 && t.shape[1] === 1 && t.shape[2] === 1 &&
        !k.includes('.se.'));
      assert.ok(pointwise.length >= 4, 'the tiny model has 1x1 convolutions');
      const check = (label: string, prev: ArrayLike<number>): Float32Array | Float64Array => {
        const fused = logits(m, x);
        same(backend, fused, logits(m, x, { fuse: false }), `fused = plain after ${label}`);
        assert.notDeepEqual(Array.from(fused), Array.from(prev), `${label} changed the logits`);
        return fused;
      };
      let prev = logits(m, x);
      logits(m, x);  // a second forward, from the kept packs
      // The stem runs as a GEMM on gathered rows, linear layers (the classifier, the
      // squeeze-excite FCs) keep their packs too, and depthwise layers their transposed weights.
      const named = (key: string): ap.Tensor => m.namedParameters().find(([k]) => k === key)![1];
      for (const [label, w] of [['copyInto (a 1x1 convolution)', pointwise[0][1]], ['copyInto (the stem)', named('conv_stem.weight')],
        ['copyInto (the classifier)', named('classifier.weight')], ['copyInto (a squeeze-excite FC)', named('blocks.1.1.se.conv_reduce.weight')],
        ['copyInto (a depthwise convolution)', named('blocks.1.0.conv_dw.weight')]] as const) {
        ap.tidy(() => ap.copyInto(w, ap.rand([...w.shape], { seed: 9, device }).addScalar(-0.5)));
        prev = check(label, prev);
      }
      const params = pointwise.map(([, t]) => t);
      const rms = new ap.optim.RMSProp(params, { lr: 0.05 });
      ap.tidy(() => rms.step(params.map((t, i) => ap.rand([...t.shape], { seed: 20 + i, device }))));
      prev = check('an RMSProp step', prev);
      const sources = params.map((t) => ap.rand([...t.shape], { seed: 40, device }));
      const ema = new ap.optim.ExponentialMovingAverage(sources, { decay: 0.5 });
      ema.copyTo(params);
      prev = check('EMA copyTo', prev);
      ap.emptyCache(device);
      same(backend, logits(m, x), prev, 'after emptyCache, the same logits');
      for (const t of sources) t.dispose();
      ema.dispose();
      rms.dispose();
      x.dispose();
    } finally {
      m.dispose();
    }
  });

  it('the kept packs go with their model: memory in use after dispose() is what it was before the model', () => {
    const inUse = (): number => ap.memory().devices[device].bytesInUse;
    const x = ap.rand([2, 13, 13, 3], { seed: 8, device });
    const before = inUse();
    const m = tiny(device);
    m.eval();
    logits(m, x);
    logits(m, x);
    m.dispose();
    assert.equal(inUse(), before, 'bytes in use after the model and its packs are gone');
    x.dispose();
  });

  it('kernels.conv2dBnEval = conv2d, multiBatchNorm eval, add for pointwise, strided, depthwise and grouped convolutions', () => {
    const cases: { x: number[]; w: number[]; opts: ap.kernels.Conv2dOptions; residual: boolean }[] = [
      { x: [2, 5, 6, 7], w: [9, 1, 1, 7], opts: {}, residual: false },
      { x: [2, 5, 6, 9], w: [9, 1, 1, 9], opts: {}, residual: true },
      { x: [3, 9, 8, 3], w: [6, 3, 3, 3], opts: { stride: 2 }, residual: false },
      { x: [2, 9, 8, 6], w: [6, 3, 3, 6], opts: { padding: [1, 1, 1, 1] }, residual: true },
      { x: [2, 8, 7, 10], w: [10, 5, 5, 1], opts: { groups: 10, stride: 2 }, residual: false },
      { x: [2, 8, 7, 10], w: [10, 3, 3, 1], opts: { groups: 10 }, residual: true },
      { x: [2, 6, 6, 8], w: [8, 3, 3, 4], opts: { groups: 2 }, residual: false },  // grouped: the plain ops
    ];
    let seed = 50;
    for (const dtype of ['f32', 'f64'] as const)
      for (const c of cases)
        for (const act of ['none', 'silu', 'relu'] as const) ap.tidy(() => {
          const t = (shape: number[], lo = -1, hi = 1) => ap.rand(shape, { seed: seed++, dtype, device }).mul(ap.tensor([hi - lo], [1], { dtype, device })).add(ap.tensor([lo], [1], { dtype, device }));
          const C = c.w[0];
          const x = t(c.x), w = t(c.w);
          const bn = { gamma: t([2, C], 0.5, 1.5), beta: t([2, C]), runningMean: t([2, C]), runningVar: t([2, C], 0.2, 2), domain: 1, eps: 1e-3, act };
          const y0 = ap.kernels.conv2d(x, w, null, c.opts);
          const r = c.residual ? t(y0.shape as number[]) : null;
          const fused = ap.kernels.conv2dBnEval(x, w, bn, r, c.opts);
          const z = ap.kernels.multiBatchNorm(y0, bn, [[1, c.x[0]]], { mode: 'eval', act, eps: 1e-3 }).y;
          const plain = r ? ap.kernels.add(z, r) : z;
          same(backend, fused.toArray(), plain.toArray(), `${dtype} ${JSON.stringify(c)} ${act}`);
        });
  });

  it('conv2dBnEval with xAffine (the input normalisation) = mul, add, then conv2dBnEval; on every path; bad xAffine refused', () => {
    // The stem's implicit GEMM applies it as it gathers x (3x3 stride 2, one group); the 1x1,
    // depthwise and grouped paths run mul and add first.
    const cases: { x: number[]; w: number[]; opts: ap.kernels.Conv2dOptions }[] = [
      { x: [3, 17, 15, 3], w: [8, 3, 3, 3], opts: { stride: 2 } },
      { x: [2, 9, 8, 6], w: [5, 3, 3, 6], opts: { padding: [1, 1, 1, 1] } },
      { x: [2, 5, 6, 7], w: [9, 1, 1, 7], opts: {} },
      { x: [2, 8, 7, 10], w: [10, 3, 3, 1], opts: { groups: 10 } },
      { x: [2, 6, 6, 8], w: [8, 3, 3, 4], opts: { groups: 2 } },
    ];
    let seed = 900;
    for (const dtype of ['f32', 'f64'] as const)
      for (const c of cases) ap.tidy(() => {
        const t = (shape: number[], lo = -1, hi = 1) => ap.rand(shape, { seed: seed++, dtype, device }).mul(ap.tensor([hi - lo], [1], { dtype, device })).add(ap.tensor([lo], [1], { dtype, device }));
        const C = c.w[0], Cin = c.x[3];
        const x = t(c.x, 0, 1), w = t(c.w);
        const bn = { gamma: t([2, C], 0.5, 1.5), beta: t([2, C]), runningMean: t([2, C]), runningVar: t([2, C], 0.2, 2), domain: 0, eps: 1e-3, act: 'silu' as const };
        const scale = t([Cin], 2, 5), shift = t([Cin], -2, 0);
        const both = ap.concat0([scale, shift]).reshape([2, Cin]);
        const o = ap.kernels.normalizeConv(c.opts, 'conv2dBnEval');
        const got = conv2dBnEvalCall(x, w, bn, null, o, null, both);
        const want = ap.kernels.conv2dBnEval(ap.kernels.add(ap.kernels.mul(x, scale), shift), w, bn, null, c.opts);
        assertSame(got.toArray(), want.toArray(), `${dtype} ${JSON.stringify(c)}`);
      });
    ap.tidy(() => {
      const x = ap.rand([1, 6, 6, 3], { device }), w = ap.rand([4, 3, 3, 3], { device });
      const bn = { gamma: ap.ones([1, 4], { device }), beta: ap.zeros([1, 4], { device }), runningMean: ap.zeros([1, 4], { device }), runningVar: ap.ones([1, 4], { device }) };
      const o = ap.kernels.normalizeConv({ stride: 2 }, 'conv2dBnEval');
      expectCode(() => conv2dBnEvalCall(x, w, bn, null, o, null, ap.ones([2, 4], { device })), 'ERR_SHAPE', /conv2dBnEval: .*xAffine/);
      expectCode(() => conv2dBnEvalCall(x, w, bn, null, o, null, ap.ones([2, 3], { device, dtype: 'f64' })), 'ERR_DTYPE', /xAffine/);
      expectCode(() => conv2dBnEvalCall(x, w, bn, null, o, ap.ones([1, 3], { device }), ap.ones([2, 3], { device })), 'ERR_ARG', /xAffine and xScale/);
    });
  });

  it('kernels.conv2dBnEval with xScale (the squeeze-excite gate) = channelScale then the plain ops', () => {
    let seed = 90;
    for (const [xs, ws, opts] of [[[3, 5, 4, 20], [11, 1, 1, 20], {}], [[2, 7, 7, 6], [6, 3, 3, 1], { groups: 6 }]] as const)
      for (const residual of [false, true]) ap.tidy(() => {
        const x = ap.rand([...xs], { seed: seed++, device }), w = ap.rand([...ws], { seed: seed++, device });
        const C = ws[0];
        const bn = { gamma: ap.rand([1, C], { seed: seed++, device }), beta: ap.rand([1, C], { seed: seed++, device }),
          runningMean: ap.rand([1, C], { seed: seed++, device }), runningVar: ap.rand([1, C], { seed: seed++, device }), act: 'silu' as const };
        const gate = ap.rand([xs[0], xs[3]], { seed: seed++, device });
        const y0 = ap.kernels.conv2d(ap.kernels.channelScale(x, gate), w, null, opts);
        const r = residual ? ap.rand(y0.shape as number[], { seed: seed++, device }) : null;
        const z = ap.kernels.multiBatchNorm(y0, bn, [[0, xs[0]]], { mode: 'eval', act: 'silu' }).y;
        const plain = r ? ap.kernels.add(z, r) : z;
        same(backend, ap.kernels.conv2dBnEval(x, w, bn, r, opts, gate).toArray(), plain.toArray(), `xScale ${JSON.stringify(ws)} residual ${residual}`);
      });
    ap.tidy(() => {
      const x = ap.rand([2, 3, 3, 4], { device }), w = ap.rand([5, 1, 1, 4], { device });
      const bn = { gamma: ap.ones([1, 5], { device }), beta: ap.zeros([1, 5], { device }), runningMean: ap.zeros([1, 5], { device }), runningVar: ap.ones([1, 5], { device }) };
      expectCode(() => ap.kernels.conv2dBnEval(x, w, bn, null, {}, ap.ones([2, 5], { device })), 'ERR_SHAPE', /xScale/);
    });
  });

  it('convBnEvalPooled (squeeze-excite\'s pool taken with the depthwise convolution) = conv2dBnEval then globalAvgPool, bit for bit', () => {
    // The cpu sums the pool while each output row is in cache (f32 depthwise with 2 images per
    // thread or more, native/cpu/depthwise_forward.cc); other cases pool after the convolution.
    // Channel counts off the vector widths, and rows the pool's chunks (16384 / C positions) cut.
    const threads = ap.buildInfo().threads;
    const cases: { hw: [number, number]; c: number; k: number; s: number }[] = [
      { hw: [28, 28], c: 37, k: 3, s: 1 }, { hw: [29, 30], c: 24, k: 5, s: 2 }, { hw: [9, 11], c: 144, k: 5, s: 1 },
      { hw: [16, 16], c: 130, k: 3, s: 2 }, { hw: [7, 7], c: 1000, k: 3, s: 1 },
    ];
    let seed = 300;
    for (const dtype of ['f32', 'f64'] as const)
      for (const n of [1, 2 * threads, 2 * threads + 1])
        for (const c of cases) ap.tidy(() => {
          const t = (shape: number[], lo = -1, hi = 1) => ap.rand(shape, { seed: seed++, dtype, device }).mul(ap.tensor([hi - lo], [1], { dtype, device })).add(ap.tensor([lo], [1], { dtype, device }));
          const conv = new ap.nn.Conv2d(c.c, c.c, c.k, { stride: c.s, groups: c.c, seed: seed++, dtype, device });
          const bn = new ap.nn.MultiBatchNorm2d(c.c, { domains: 2, act: 'silu', dtype, device });
          try {
            const state: Record<string, ap.Tensor> = {};
            for (const slot of bn.stateSlots())
              if (/(running_mean|running_var|weight|bias)$/.test(slot.key))
                state[slot.key] = slot.key.endsWith('running_var') ? t([...slot.shape], 0.2, 2) : t([...slot.shape]);
            bn.loadStateDict(state, { strict: false });
            const x = t([n, ...c.hw, c.c]);
            const [y, pooled] = convBnEvalPooled(conv, bn, x, 1);
            const want = convBnEval(conv, bn, x, 1);
            const label = `${dtype} n ${n} ${JSON.stringify(c)}`;
            assertSame(y.toArray(), want.toArray(), `${label}: y`);
            assert.deepEqual(pooled.shape, [n, c.c]);
            assertSame(pooled.toArray(), ap.kernels.globalAvgPool(want).toArray(), `${label}: pooled`);
          } finally {
            conv.dispose();
            bn.dispose();
          }
        });
  });

  it('seGatePooled (squeeze-excite\'s gate in one addon call) = linear, silu, linear, sigmoid, bit for bit; bad arguments refused', () => {
    ap.tidy(() => {
      for (const dtype of ['f32', 'f64'] as const)
        for (const [n, c, r] of [[1, 16, 4], [8, 96, 4], [3, 1152, 48]]) {
          const t = (shape: number[], seed: number) => ap.rand(shape, { seed, dtype, device }).sub(ap.tensor([0.5], [1], { dtype, device }));
          const pooled = t([n, c], 1), w1 = t([r, 1, 1, c], 2), b1 = t([r], 3), w2 = t([c, 1, 1, r], 4), b2 = t([c], 5);
          const m1 = ap.reshape(w1, [r, c]), m2 = ap.reshape(w2, [c, r]);
          const { linear, silu, sigmoid } = ap.kernels;
          const want = sigmoid(linear(silu(linear(pooled, m1, b1)), m2, b2)).toArray();
          const label = `${dtype} n ${n} c ${c} r ${r}`;
          assertSame(seGatePooled(pooled, w1, b1, w2, b2).toArray(), want, `${label}, conv weights`);
          assertSame(seGatePooled(pooled, m1, b1, m2, b2).toArray(), want, `${label}, matrices`);
        }
      const pooled = ap.rand([2, 8], { device }), w1 = ap.rand([2, 1, 1, 8], { device }), b1 = ap.rand([2], { device });
      const w2 = ap.rand([8, 1, 1, 2], { device }), b2 = ap.rand([8], { device });
      expectCode(() => seGatePooled(pooled, w1, b1, w2, ap.rand([7], { device })), 'ERR_SHAPE', /seGate: .*b2 \[7\]/);
      expectCode(() => seGatePooled(pooled, ap.rand([2, 3, 3, 8], { device }), b1, w2, b2), 'ERR_SHAPE', /seGate/);
      expectCode(() => seGatePooled(ap.rand([2, 2, 2, 8], { device }), w1, b1, w2, b2), 'ERR_SHAPE', /seGate: .*pooled/);
      expectCode(() => seGatePooled(pooled, w1, ap.rand([2], { device, dtype: 'f64' }), w2, b2), 'ERR_DTYPE', /seGate: .*b1/);
      const gone = ap.rand([2], { device });
      gone.dispose();
      expectCode(() => seGatePooled(pooled, w1, gone, w2, b2), 'ERR_DISPOSED', /seGate/);
    });
  });

  it('kernels.conv2dBnEval in bf16 (the plain ops inside the call) and against an f64 reference', () => {
    ap.tidy(() => {
      const x = ap.rand([2, 6, 6, 8], { seed: 70, device }), w = ap.rand([8, 1, 1, 8], { seed: 71, device });
      const bn = { gamma: ap.rand([1, 8], { seed: 72, device }), beta: ap.rand([1, 8], { seed: 73, device }),
        runningMean: ap.rand([1, 8], { seed: 74, device }), runningVar: ap.rand([1, 8], { seed: 75, device }).add(ap.tensor([0.5], [1], { device })), act: 'silu' as const };
      const f32 = ap.kernels.conv2dBnEval(x, w, bn, null);
      const bn64 = Object.fromEntries(Object.entries(bn).map(([k, v]) => [k, typeof v === 'string' ? v : v.cast('f64')])) as unknown as typeof bn;
      const ref = ap.kernels.conv2dBnEval(x.cast('f64'), w.cast('f64'), bn64, null, {});
      assertClose(f32.toArray(), ref.toArray(), 1e-5, 'f32 against f64');
      if (backend === 'cuda' || backend === 'cpu') {
        const xb = x.cast('bf16'), wb = w.cast('bf16');
        const fb = ap.kernels.conv2dBnEval(xb, wb, bn, null);
        const pb = ap.kernels.multiBatchNorm(ap.kernels.conv2d(xb, wb, null), bn, [[0, 2]], { mode: 'eval', act: 'silu' }).y;
        assertSame(fb.cast('f32').toArray(), pb.cast('f32').toArray(), 'bf16');
      }
    });
  });

  it('kernels.conv2dBnEval refuses bad arguments with a code naming the op', () => {
    ap.tidy(() => {
      const x = ap.rand([1, 4, 4, 3], { device }), w = ap.rand([5, 1, 1, 3], { device });
      const p = (C: number, K = 2) => ({ gamma: ap.ones([K, C], { device }), beta: ap.zeros([K, C], { device }),
        runningMean: ap.zeros([K, C], { device }), runningVar: ap.ones([K, C], { device }) });
      expectCode(() => ap.kernels.conv2dBnEval(x, w, { ...p(5), domain: 2 }), 'ERR_ARG', /conv2dBnEval: domain 2/);
      expectCode(() => ap.kernels.conv2dBnEval(x, w, p(4)), 'ERR_SHAPE', /conv2dBnEval/);
      expectCode(() => ap.kernels.conv2dBnEval(x, w, { ...p(5), eps: 0 }), 'ERR_ARG', /eps/);
      expectCode(() => ap.kernels.conv2dBnEval(x, w, p(5), ap.zeros([1, 4, 4, 4], { device })), 'ERR_SHAPE', /residual/);
      expectCode(() => ap.kernels.conv2dBnEval(x, w, { ...p(5), act: 'gelu' as 'silu' }), 'ERR_ARG', /act/);
      expectCode(() => ap.kernels.conv2dBnEval(x, w, { ...p(5), runningVar: ap.ones([2, 5], { device, dtype: 'f64' }) }), 'ERR_DTYPE', /runningVar/);
    });
  });
});
