// multiBatchNorm on every backend (native/{cpu,cuda}/batchnorm.*): the fused forward and backward
// kernels against an f64 reference written as K separate ordinary batch norms (one per segment),
// running-stat updates over several steps, 'train-frozen' leaving them bit-identical, 'eval',
// f64 gradient checks of the op for each activation, mode and several segment layouts, and bad
// arguments.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import type { BatchNormAct, BatchNormMode, Segments } from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { assertClose, assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';

interface Layout { name: string; x: [number, number, number, number]; k: number; segs: [number, number][] }

// Equal halves (AdvProp's 2N batch), the attack's and evaluation's single segment, unequal sizes
// with K = 3 and a domain used twice, a segment of one sample at 1x1 spatial (count·H·W = 1),
// C a multiple of 4 (the vectorised CUDA path) and not.
const LAYOUTS: Layout[] = [
  { name: 'AdvProp 2N [[0,2],[1,2]]', x: [4, 3, 5, 8], k: 2, segs: [[0, 2], [1, 2]] },
  { name: 'attack [[1,3]]', x: [3, 4, 3, 5], k: 2, segs: [[1, 3]] },
  { name: 'K=3 unequal [[2,1],[0,3],[1,2],[0,1]]', x: [7, 2, 3, 6], k: 3, segs: [[2, 1], [0, 3], [1, 2], [0, 1]] },
  { name: 'single-element segment at 1x1 [[1,1],[0,3]]', x: [4, 1, 1, 7], k: 2, segs: [[1, 1], [0, 3]] },
];
const ACTS: BatchNormAct[] = ['none', 'silu', 'relu'];
const MODES: BatchNormMode[] = ['train', 'train-frozen', 'eval'];

interface Host { x: Float64Array; gamma: Float64Array; beta: Float64Array; rm: Float64Array; rv: Float64Array }

function hostData(l: Layout, seed: number): Host {
  const kc = l.k * l.x[3];
  return {
    x: f32(hostRandom(numel(l.x), seed, -2, 3)),
    gamma: f32(hostRandom(kc, seed + 1, 0.5, 1.5)),
    beta: f32(hostRandom(kc, seed + 2, -0.5, 0.5)),
    rm: f32(hostRandom(kc, seed + 3, -0.5, 0.5)),
    rv: f32(hostRandom(kc, seed + 4, 0.5, 2)),
  };
}

const sig = (z: number) => 1 / (1 + Math.exp(-z));
function act(a: BatchNormAct, z: number): number {
  return a === 'silu' ? z * sig(z) : a === 'relu' ? Math.max(z, 0) : z;
}
function actGrad(a: BatchNormAct, z: number): number {
  return a === 'silu' ? sig(z) * (1 + z * (1 - sig(z))) : a === 'relu' ? (z > 0 ? 1 : 0) : 1;
}

// One ordinary batch norm over rows [r0, r0 + rows) of an [*, C] matrix with domain d's params.
function plainBatchNorm(x: Float64Array, r0: number, rows: number, C: number, h: Host, d: number, mode: BatchNormMode,
  a: BatchNormAct, eps: number) {
  const mean = new Float64Array(C), varb = new Float64Array(C);
  if (mode === 'eval') {
    for (let c = 0; c < C; c++) { mean[c] = h.rm[d * C + c]; varb[c] = h.rv[d * C + c]; }
  } else {
    for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) mean[c] += x[(r0 + r) * C + c] / rows;
    for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) varb[c] += (x[(r0 + r) * C + c] - mean[c]) ** 2 / rows;
  }
  const invstd = Float64Array.from(varb, (v) => 1 / Math.sqrt(v + eps));
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < C; c++)
      y[r * C + c] = act(a, h.gamma[d * C + c] * (x[(r0 + r) * C + c] - mean[c]) * invstd[c] + h.beta[d * C + c]);
  return { y, mean, varb, invstd };
}

interface RefOpts { mode: BatchNormMode; act: BatchNormAct; momentum: number; eps: number }

/** The forward as one plain batch norm per segment; updates h.rm / h.rv in 'train'. */
function refForward(l: Layout, h: Host, o: RefOpts) {
  const C = l.x[3], hw = l.x[1] * l.x[2];
  const y = new Float64Array(h.x.length);
  const mean: number[] = [], invstd: number[] = [];
  let start = 0;
  for (const [d, count] of l.segs) {
    const rows = count * hw;
    const r = plainBatchNorm(h.x, start * hw, rows, C, h, d, o.mode, o.act, o.eps);
    y.set(r.y, start * hw * C);
    mean.push(...r.mean);
    invstd.push(...r.invstd);
    if (o.mode === 'train')
      for (let c = 0; c < C; c++) {
        const unbiased = rows > 1 ? r.varb[c] * rows / (rows - 1) : r.varb[c];
        h.rm[d * C + c] = o.momentum * h.rm[d * C + c] + (1 - o.momentum) * r.mean[c];
        h.rv[d * C + c] = o.momentum * h.rv[d * C + c] + (1 - o.momentum) * unbiased;
      }
    start += count;
  }
  return { y, mean, invstd };
}

/** Gradients from the textbook formulas, segment by segment, with the statistics in f64. */
function refBackward(l: Layout, h: Host, dy: Float64Array, o: RefOpts) {
  const C = l.x[3], hw = l.x[1] * l.x[2];
  const { mean, invstd } = refForward(l, { ...h, rm: h.rm.slice(), rv: h.rv.slice() }, { ...o, mode: o.mode === 'eval' ? 'eval' : 'train-frozen' });
  const dx = new Float64Array(h.x.length), dg = new Float64Array(l.k * C), db = new Float64Array(l.k * C);
  let start = 0;
  l.segs.forEach(([d, count], s) => {
    const rows = count * hw, base = start * hw * C;
    const sg = new Float64Array(C), sgx = new Float64Array(C);
    const xhat = (i: number, c: number) => (h.x[base + i * C + c] - mean[s * C + c]) * invstd[s * C + c];
    const g = (i: number, c: number) => dy[base + i * C + c] * actGrad(o.act, h.gamma[d * C + c] * xhat(i, c) + h.beta[d * C + c]);
    for (let i = 0; i < rows; i++) for (let c = 0; c < C; c++) { sg[c] += g(i, c); sgx[c] += g(i, c) * xhat(i, c); }
    for (let c = 0; c < C; c++) { db[d * C + c] += sg[c]; dg[d * C + c] += sgx[c]; }
    for (let i = 0; i < rows; i++)
      for (let c = 0; c < C; c++) {
        const k = h.gamma[d * C + c] * invstd[s * C + c];
        dx[base + i * C + c] = o.mode === 'eval' ? k * g(i, c) : k * (g(i, c) - sg[c] / rows - xhat(i, c) * sgx[c] / rows);
      }
    start += count;
  });
  return { dx, dg, db };
}

function upload(l: Layout, h: Host, device: string, dtype: 'f32' | 'f64' = 'f32') {
  const C = l.x[3];
  const t = (a: Float64Array, shape: number[]) => ap.tensor(dtype === 'f32' ? Float32Array.from(a) : Float64Array.from(a), shape, { device, dtype });
  return {
    x: t(h.x, l.x),
    params: { gamma: t(h.gamma, [l.k, C]), beta: t(h.beta, [l.k, C]), runningMean: t(h.rm, [l.k, C]), runningVar: t(h.rv, [l.k, C]) },
  };
}

const clone = (h: Host): Host => ({ x: h.x.slice(), gamma: h.gamma.slice(), beta: h.beta.slice(), rm: h.rm.slice(), rv: h.rv.slice() });

// f32 tolerances. Forward: each output is a handful of f32 roundings of O(1) values after f64
// statistics (observed <= 1e-7), and the running statistics are one f32 rounding of an f64
// update. Backward: dx subtracts two per-channel means from g and loses some digits to that
// cancellation (observed <= 2.4e-7). A wrong term in any formula is off by O(1e-2) or more.
const TOL_FWD = 1e-6;
const TOL_BWD = 2e-6;

forEachBackend('multiBatchNorm', (device) => {
  for (const l of LAYOUTS)
    for (const mode of MODES)
      for (const a of ACTS) {
        it(`forward and backward kernels vs f64 reference: ${l.name}, ${mode}, ${a}`, () => {
          ap.tidy(() => {
            const h = hostData(l, 11);
            const o = { mode, act: a, momentum: 0.9, eps: 1e-3 };
            const ref = clone(h);
            const rf = refForward(l, ref, o);
            const { x, params } = upload(l, h, device);
            const f = ap.kernels.multiBatchNorm(x, params, l.segs, o);
            assert.deepEqual([...f.mean.shape], [l.segs.length, l.x[3]]);
            assertClose(f.y.toArray(), rf.y, TOL_FWD, 'y');
            assertClose(f.mean.toArray(), rf.mean, TOL_FWD, 'mean');
            assertClose(f.invstd.toArray(), rf.invstd, TOL_FWD, 'invstd');
            assertClose(params.runningMean.toArray(), ref.rm, TOL_FWD, 'runningMean');
            assertClose(params.runningVar.toArray(), ref.rv, TOL_FWD, 'runningVar');
            if (mode !== 'train') {
              assertSame(params.runningMean.toArray(), Float32Array.from(h.rm), 'runningMean untouched');
              assertSame(params.runningVar.toArray(), Float32Array.from(h.rv), 'runningVar untouched');
            }
            const hdy = f32(hostRandom(h.x.length, 12, -1, 1));
            const rb = refBackward(l, h, hdy, o);
            const dy = ap.tensor(Float32Array.from(hdy), l.x, { device });
            const g = ap.kernels.multiBatchNormBackward(dy, x, params, f.mean, f.invstd, l.segs, o);
            assertClose(g.dx.toArray(), rb.dx, TOL_BWD, 'dx');
            assertClose(g.dgamma.toArray(), rb.dg, TOL_BWD, 'dgamma');
            assertClose(g.dbeta.toArray(), rb.db, TOL_BWD, 'dbeta');
          });
        });
      }

  it('many chunks (rows beyond one reduction chunk on every backend), silu', () => {
    ap.tidy(() => {
      const l: Layout = { name: 'big', x: [6, 61, 67, 3], k: 2, segs: [[0, 4], [1, 2]] };
      const h = hostData(l, 21);
      const o = { mode: 'train' as const, act: 'silu' as const, momentum: 0.99, eps: 1e-3 };
      const ref = clone(h);
      const rf = refForward(l, ref, o);
      const { x, params } = upload(l, h, device);
      const f = ap.kernels.multiBatchNorm(x, params, l.segs, o);
      assertClose(f.y.toArray(), rf.y, TOL_FWD, 'y');
      assertClose(params.runningVar.toArray(), ref.rv, TOL_FWD, 'runningVar');
      const hdy = f32(hostRandom(h.x.length, 22, -1, 1));
      const rb = refBackward(l, h, hdy, o);
      const g = ap.kernels.multiBatchNormBackward(ap.tensor(Float32Array.from(hdy), l.x, { device }), x, params, f.mean, f.invstd, l.segs, o);
      assertClose(g.dx.toArray(), rb.dx, TOL_BWD, 'dx');
      assertClose(g.dgamma.toArray(), rb.dg, TOL_BWD, 'dgamma');
      assertClose(g.dbeta.toArray(), rb.db, TOL_BWD, 'dbeta');
    });
  });

  it('running statistics after several train steps; train-frozen leaves them bit-identical', () => {
    ap.tidy(() => {
      const l = LAYOUTS[2];
      const h = hostData(l, 31);
      const ref = clone(h);
      const { params } = upload(l, h, device);
      const o = { mode: 'train' as const, act: 'none' as const, momentum: 0.8, eps: 1e-3 };
      for (let step = 0; step < 4; step++) {
        ref.x = f32(hostRandom(h.x.length, 40 + step, -1 - step, 2 + step));
        refForward(l, ref, o);
        ap.kernels.multiBatchNorm(ap.tensor(Float32Array.from(ref.x), l.x, { device }), params, l.segs, o);
      }
      assertClose(params.runningMean.toArray(), ref.rm, TOL_FWD, 'runningMean after 4 steps');
      assertClose(params.runningVar.toArray(), ref.rv, TOL_FWD, 'runningVar after 4 steps');
      const before = [params.runningMean.toArray(), params.runningVar.toArray()];
      const x = ap.tensor(Float32Array.from(ref.x), l.x, { device });
      const frozen = ap.multiBatchNorm(x, params, l.segs, { ...o, mode: 'train-frozen' });
      assertSame(params.runningMean.toArray(), before[0], 'runningMean after train-frozen');
      assertSame(params.runningVar.toArray(), before[1], 'runningVar after train-frozen');
      // Same batch statistics as 'train', which does move the running stats.
      const trained = ap.multiBatchNorm(x, params, l.segs, o);
      assertSame(frozen.toArray(), trained.toArray(), 'train-frozen output equals train output');
      assert.notDeepEqual([...params.runningMean.toArray()], [...before[0]]);
    });
  });

  it('default options are train, momentum 0.99, eps 1e-3, no activation', () => {
    ap.tidy(() => {
      const l = LAYOUTS[0];
      const h = hostData(l, 51);
      const ref = clone(h);
      const rf = refForward(l, ref, { mode: 'train', act: 'none', momentum: 0.99, eps: 1e-3 });
      const { x, params } = upload(l, h, device);
      assertClose(ap.multiBatchNorm(x, params, l.segs).toArray(), rf.y, TOL_FWD, 'y');
      assertClose(params.runningVar.toArray(), ref.rv, TOL_FWD, 'runningVar');
    });
  });

  it('is deterministic: the same inputs give the same bits', () => {
    ap.tidy(() => {
      const l: Layout = { name: 'det', x: [4, 17, 19, 13], k: 2, segs: [[0, 2], [1, 2]] };
      const h = hostData(l, 61);
      const run = () => {
        const { x, params } = upload(l, h, device);
        const f = ap.kernels.multiBatchNorm(x, params, l.segs, { act: 'silu' });
        const g = ap.kernels.multiBatchNormBackward(f.y, x, params, f.mean, f.invstd, l.segs, { act: 'silu' });
        return [f.y.toArray(), g.dx.toArray(), g.dgamma.toArray(), params.runningVar.toArray()];
      };
      const [a, b] = [run(), run()];
      a.forEach((v, i) => assertSame(v, b[i], `output ${i}`));
    });
  });

  it('bad arguments give AdvpropErrors naming the argument and shapes', () => {
    ap.tidy(() => {
      const l = LAYOUTS[0];
      const { x, params } = upload(l, hostData(l, 71), device);
      const bn = (segs: Segments, p = params, xx = x, o = {}) => ap.multiBatchNorm(xx, p, segs, o);
      expectCode(() => bn([[0, 2], [1, 1]]), 'ERR_SHAPE', /sum to 3 but the batch has N = 4/);
      expectCode(() => bn([[0, 2], [1, 3]]), 'ERR_SHAPE', /sum to 5/);
      expectCode(() => bn([[0, 2], [2, 2]]), 'ERR_ARG', /segments\[1\] has domain 2, which is not in \[0, K = 2\)/);
      expectCode(() => bn([[0, 0], [1, 4]]), 'ERR_ARG', /segments\[0\]/);
      expectCode(() => bn([]), 'ERR_ARG', /segments/);
      expectCode(() => bn([[0, 4]], { ...params, gamma: ap.zeros([2, 9], { device }) }), 'ERR_SHAPE', /gamma \[2, 9\].*\[4, 3, 5, 8\]/);
      expectCode(() => bn([[0, 4]], { ...params, beta: ap.zeros([3, 8], { device }) }), 'ERR_SHAPE', /'beta' \[3, 8\] must be \[K, C\] = \[2, 8\]/);
      expectCode(() => bn([[0, 4]], { ...params, runningVar: ap.zeros([2, 8], { device, dtype: 'f64' }) }), 'ERR_DTYPE', /runningVar/);
      expectCode(() => bn([[0, 4]], params, ap.zeros([4, 15, 8], { device })), 'ERR_SHAPE', /NHWC/);
      expectCode(() => bn([[0, 4]], params, x, { mode: 'test' }), 'ERR_ARG', /mode/);
      expectCode(() => bn([[0, 4]], params, x, { act: 'gelu' }), 'ERR_ARG', /act/);
      expectCode(() => bn([[0, 4]], params, x, { momentum: 1.5 }), 'ERR_ARG', /momentum/);
      expectCode(() => bn([[0, 4]], params, x, { eps: 0 }), 'ERR_ARG', /eps/);
      expectCode(() => bn([[0, 4]], params, x, { mode: 'eval', trainingMath: 1 as never }), 'ERR_ARG', /multiBatchNorm: trainingMath must be a boolean, got number 1/);
      const gone = ap.zeros([2, 8], { device });
      gone.dispose();
      expectCode(() => bn([[0, 4]], { ...params, runningMean: gone }), 'ERR_DISPOSED', /runningMean/);
      const f = ap.kernels.multiBatchNorm(x, params, [[0, 4]]);
      expectCode(() => ap.kernels.multiBatchNormBackward(x, x, params, f.mean, f.invstd, [[0, 2], [1, 2]]), 'ERR_SHAPE', /'mean' \[1, 8\] must be \[S, C\] = \[2, 8\]/);
    });
  });
});

// Step 1e-5: BN's x-gradients cancel per channel (they sum to 0), so the small ones sit near the
// central difference's rounding noise (~eps_f64 * |loss| / step) at the default 1e-6; the
// truncation error at 1e-5 (step^2 * f''' / 6) stays far below the 1e-6 tolerance.
describe('multiBatchNorm gradient checks (f64, cpu)', () => {
  for (const l of LAYOUTS)
    for (const mode of MODES)
      for (const a of ACTS) {
        it(`x, gamma and beta: ${l.name}, ${mode}, ${a}`, () => {
          ap.tidy(() => {
            const h = hostData(l, 81);
            const { x, params } = upload(l, h, 'cpu', 'f64');
            const r = assertGradcheck((xx, g, b) => ap.multiBatchNorm(xx, { ...params, gamma: g, beta: b }, l.segs, { mode, act: a }),
              [x, params.gamma, params.beta], { tol: 1e-6, samples: 16, eps: 1e-5 });
            assert.ok(r.checked > 0);
          });
        });
      }
});

// The cpu rounds SiLU two ways (native/cpu/bn_math.h): training's forward unfused, eval mode's
// (and the inference epilogue's) on the fused polynomial, within about an ulp of each other.
// trainingMath has 'eval' round as training does, which data-parallel sync BN relies on (it runs
// its training forward through 'eval' with the global statistics). Each channel holds -1 and 1
// equally often, so its batch mean (0) and variance (1) are exact and 'train-frozen' with batch
// statistics and 'eval' with running statistics 0 and 1 normalise with the same numbers.
describe('multiBatchNorm trainingMath (cpu)', () => {
  it("'eval' with trainingMath gives training's bits; without it, the inference rounding", () => {
    ap.tidy(() => {
      const [n, h, w, c] = [8, 4, 4, 64];
      const xs = new Float32Array(n * h * w * c);
      for (let i = 0; i < xs.length; i++) xs[i] = Math.floor(i / c) % 2 ? 1 : -1;
      const device = 'cpu';  // the policy split is the cpu's: pinned, also under ADVPROP_DEVICE
      const x = ap.tensor(xs, [n, h, w, c], { device });
      const gamma = ap.tensor(Float32Array.from(hostRandom(c, 3), (v) => 4 * v), [1, c], { device });
      const beta = ap.tensor(Float32Array.from(hostRandom(c, 4), (v) => 3 * v), [1, c], { device });
      const params = { gamma, beta, runningMean: ap.zeros([1, c], { device }), runningVar: ap.ones([1, c], { device }) };
      const segs: Segments = [[0, n]];
      const train = ap.kernels.multiBatchNorm(x, params, segs, { mode: 'train-frozen', act: 'silu' }).y.toArray();
      const evalTraining = ap.kernels.multiBatchNorm(x, params, segs, { mode: 'eval', act: 'silu', trainingMath: true }).y.toArray();
      const evalInference = ap.kernels.multiBatchNorm(x, params, segs, { mode: 'eval', act: 'silu' }).y.toArray();
      assertSame(evalTraining, train, 'eval with trainingMath vs train-frozen');
      assertClose(evalInference, train, 1e-6, 'eval vs train-frozen');
      let differ = 0;
      for (let i = 0; i < train.length; i++) if (!Object.is(evalInference[i], train[i])) differ++;
      assert.ok(differ > 0, 'the two roundings agreed on all of these values: the test no longer tells them apart');
    });
  });
});
