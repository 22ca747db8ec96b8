// Fused optimizer kernels (ap.kernels.rmspropUpdate / sgdUpdate / emaUpdate) against f64
// references written here from the formulas, over several steps, on every backend, f32 and f64.
// The tensor list mixes awkward sizes: empty, 1, odd, one element past a CUDA chunk (4096), more
// than a CPU parallel chunk (65536, so chunks cross tensor boundaries), and a view whose data is
// not 16-byte aligned (the CUDA kernel's scalar path).
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { deviceOf, forEachBackend } from '../../lib/testing/backends.js';
import { assertClose, expectCode, f32, hostRandom, numel } from '../helpers.js';

type DT = 'f32' | 'f64';
const SHAPES = [[7], [3, 5], [0], [4097], [1], [2, 3, 3, 17], [300, 257]];
const VIEW_ROWS = 4; // params gets one more tensor: rows 1..4 of a [5, 3] tensor (offset 12 bytes)
// f32: each step rounds a handful of operations (~6e-8 each) into values of order 1; after three
// steps 1e-6 (~17 ulp) bounds the norm-wise error with room. f64 likewise at 2^-53.
const TOL: Record<DT, number> = { f32: 1e-6, f64: 1e-13 };

const round = (dt: DT, a: Float64Array): Float64Array => (dt === 'f32' ? f32(a) : a);
const upload = (a: Float64Array, shape: readonly number[], dtype: DT, device: string): ap.Tensor =>
  ap.tensor(Float64Array.from(a), shape, { device, dtype });

interface Lists { host: Float64Array[]; dev: ap.Tensor[] }

/** One list: host copies (rounded to the dtype) and device tensors; the last entry is a view. */
function makeList(dt: DT, device: string, seed: number, lo: number, hi: number, keepView: ap.Tensor[]): Lists {
  const host = SHAPES.map((s, i) => round(dt, hostRandom(numel(s), seed * 31 + i, lo, hi)));
  const dev = SHAPES.map((s, i) => upload(host[i], s, dt, device));
  const base = upload(round(dt, hostRandom(15, seed * 31 + 99, lo, hi)), [5, 3], dt, device);
  keepView.push(base);
  const view = ap.noGrad(() => ap.slice0(base, 1, VIEW_ROWS));
  host.push(Float64Array.from(view.toArray()));
  dev.push(view);
  return { host, dev };
}

function constList(dt: DT, device: string, value: number, bases: ap.Tensor[]): Lists {
  const host = [...SHAPES, [5, 3]].map((s) => new Float64Array(numel(s)).fill(value));
  const dev = SHAPES.map((s) => ap.full(s, value, { device, dtype: dt }));
  const base = ap.full([5, 3], value, { device, dtype: dt });
  bases.push(base);
  dev.push(ap.noGrad(() => ap.slice0(base, 1, VIEW_ROWS)));
  host[host.length - 1] = new Float64Array(VIEW_ROWS * 3).fill(value);
  return { host, dev };
}

function check(l: Lists, dt: DT, label: string): void {
  l.dev.forEach((t, i) => assertClose(t.toArray(), l.host[i], TOL[dt], `${label}[${i}] [${t.shape}]`));
}

const DECAY = [true, false, true, true, false, true, false, true];

forEachBackend('optimizer kernels', (device) => {
  for (const dt of ['f32', 'f64'] as const) {
    it(`rmspropUpdate, 3 steps with weight decay on a mask, ${dt}`, () => {
      ap.tidy(() => {
        const bases: ap.Tensor[] = [];
        const p = makeList(dt, device, 1, -2, 2, bases);
        const ms = constList(dt, device, 1, bases);
        const mom = constList(dt, device, 0, bases);
        const h = { rho: 0.9, momentum: 0.9, eps: 1e-3, weightDecay: 0.05 };
        for (const [step, lr] of [0.05, 0.02, 0.1].entries()) {
          const g = makeList(dt, device, 10 + step, -1, 1, bases);
          ap.kernels.rmspropUpdate(p.dev, g.dev, ms.dev, mom.dev, { lr, ...h, decay: DECAY });
          p.host.forEach((pp, i) => {
            for (let j = 0; j < pp.length; j++) {
              const gj = g.host[i][j] + (DECAY[i] ? h.weightDecay * pp[j] : 0);
              ms.host[i][j] = h.rho * ms.host[i][j] + (1 - h.rho) * gj * gj;
              mom.host[i][j] = h.momentum * mom.host[i][j] + (lr * gj) / Math.sqrt(ms.host[i][j] + h.eps);
              pp[j] -= mom.host[i][j];
            }
          });
        }
        check(p, dt, 'params');
        check(ms, dt, 'ms');
        check(mom, dt, 'mom');
      });
    });

    for (const nesterov of [false, true]) {
      it(`sgdUpdate, 3 steps, momentum 0.9${nesterov ? ', Nesterov' : ''}, weight decay on a mask, ${dt}`, () => {
        ap.tidy(() => {
          const bases: ap.Tensor[] = [];
          const p = makeList(dt, device, 2, -2, 2, bases);
          const buf = constList(dt, device, 0, bases);
          const mu = 0.9, wd = 0.1;
          for (const [step, lr] of [0.1, 0.05, 0.2].entries()) {
            const g = makeList(dt, device, 20 + step, -1, 1, bases);
            ap.kernels.sgdUpdate(p.dev, g.dev, buf.dev, { lr, momentum: mu, nesterov, weightDecay: wd, decay: DECAY });
            p.host.forEach((pp, i) => {
              for (let j = 0; j < pp.length; j++) {
                const gj = g.host[i][j] + (DECAY[i] ? wd * pp[j] : 0);
                buf.host[i][j] = mu * buf.host[i][j] + gj;
                pp[j] -= lr * (nesterov ? gj + mu * buf.host[i][j] : buf.host[i][j]);
              }
            });
          }
          check(p, dt, 'params');
          check(buf, dt, 'bufs');
        });
      });
    }

    it(`sgdUpdate without momentum or decay is p - lr·g, ${dt}`, () => {
      ap.tidy(() => {
        const bases: ap.Tensor[] = [];
        const p = makeList(dt, device, 3, -2, 2, bases);
        const buf = constList(dt, device, 0, bases);
        const g = makeList(dt, device, 30, -1, 1, bases);
        ap.kernels.sgdUpdate(p.dev, g.dev, buf.dev, { lr: 0.25 });
        p.host.forEach((pp, i) => pp.forEach((v, j) => (pp[j] = v - 0.25 * g.host[i][j])));
        check(p, dt, 'params');
      });
    });

    it(`emaUpdate, 3 updates with changing decay, ${dt}`, () => {
      ap.tidy(() => {
        const bases: ap.Tensor[] = [];
        const e = makeList(dt, device, 4, -2, 2, bases);
        for (const [step, d] of [0.1, 0.5, 0.9999].entries()) {
          const s = makeList(dt, device, 40 + step, -2, 2, bases);
          ap.kernels.emaUpdate(e.dev, s.dev, d);
          e.host.forEach((ee, i) => ee.forEach((v, j) => (ee[j] = d * v + (1 - d) * s.host[i][j])));
        }
        check(e, dt, 'emas');
      });
    });
  }

  it('emaUpdate with decay 0 copies exactly, even over NaN and inf', () => {
    ap.tidy(() => {
      const e = ap.tensor([NaN, Infinity, 1, -Infinity, 5], [5], { device });
      const s = ap.tensor([1.5, -2, 3e-40, 7, -0], [5], { device });
      ap.kernels.emaUpdate([e], [s], 0);
      assert.deepEqual(Array.from(e.toArray()), Array.from(s.toArray()));
    });
  });

  // On CUDA a launch carries at most 192 gradient pointers and the device keeps at most 32
  // tables (native/cuda/optim.cu): 450 tensors take three launches, and 40 distinct lists run
  // past the cache into per-call tables. The sources alternate between aligned tensors and views
  // one element in, while the state stays aligned, so the per-call alignment check has work.
  it('rmspropUpdate and emaUpdate over 450 tensors and over 40 distinct lists, sources misaligned alone', () => {
    ap.tidy(() => {
      const sizes = Array.from({ length: 450 }, (_, i) => 1 + ((i * 37) % 23));
      const make = (seed: number, lo: number, hi: number) => sizes.map((n, i) => hostRandom(n, seed * 1000 + i, lo, hi).map(Math.fround));
      const up = (h: Float64Array[], misalign: boolean) => h.map((a, i) => {
        if (!misalign || i % 2 === 0) return ap.tensor(Float32Array.from(a), [a.length], { device });
        const base = ap.tensor(Float32Array.from([0, ...a]), [a.length + 1], { device });
        return ap.noGrad(() => ap.slice0(base, 1, a.length));
      });
      const p = make(1, -2, 2), g = make(2, -1, 1), e = make(3, -2, 2);
      const pd = up(p, false), gd = up(g, true), ed = up(e, false);
      const ms = sizes.map((n) => ap.full([n], 1, { device })), mom = sizes.map((n) => ap.full([n], 0, { device }));
      for (let step = 0; step < 2; step++) {
        ap.kernels.rmspropUpdate(pd, gd, ms, mom, { lr: 0.1, rho: 0.9, momentum: 0.9, eps: 1e-3 });
        ap.kernels.emaUpdate(ed, gd, 0.75);
      }
      const m1 = g.map((a) => a.map((v) => 0.9 + 0.1 * v * v)), v1 = g.map((a, i) => a.map((v, j) => (0.1 * v) / Math.sqrt(m1[i]![j]! + 1e-3)));
      const m2 = m1.map((a, i) => a.map((m, j) => 0.9 * m + 0.1 * g[i]![j]! ** 2));
      const v2 = v1.map((a, i) => a.map((v, j) => 0.9 * v + (0.1 * g[i]![j]!) / Math.sqrt(m2[i]![j]! + 1e-3)));
      pd.forEach((t, i) => assertClose(t.toArray(), p[i]!.map((v, j) => v - v1[i]![j]! - v2[i]![j]!), 1e-6, `params[${i}]`));
      ed.forEach((t, i) => assertClose(t.toArray(), e[i]!.map((v, j) => 0.75 * (0.75 * v + 0.25 * g[i]![j]!) + 0.25 * g[i]![j]!), 1e-6, `emas[${i}]`));
      // 40 lists of 3, all alive at once so that no two share addresses.
      for (let k = 0; k < 40; k++) {
        const src = [k + 1, 2, 3].map((n, i) => hostRandom(n, 5000 + k * 3 + i, -1, 1).map(Math.fround));
        const dst = src.map((a) => ap.full([a.length], k, { device }));
        ap.kernels.emaUpdate(dst, up(src, true), 0.5);
        dst.forEach((t, i) => assertClose(t.toArray(), src[i]!.map((v) => 0.5 * k + 0.5 * v), 1e-7, `list ${k}[${i}]`));
      }
    });
  });

  // A device scalar (f64 [1]) in place of lr or the EMA decay: what a captured CUDA graph reads at
  // each replay. Two identical states stepped with the number and with the scalar stay bit-equal,
  // in f32 (where the kernel rounds the f64 value) and in f64; the scalar's value is the one at
  // the time the kernel runs.
  for (const dt of ['f32', 'f64'] as const) {
    it(`lr and the EMA decay from a device scalar give the by-value bits, ${dt}`, () => {
      ap.tidy(() => {
        const bases: ap.Tensor[] = [];
        const grads = [1, 2, 3].map((k) => makeList(dt, device, 60 + k, -1, 1, bases).dev);
        const states = [0, 1].map(() => ({
          p: makeList(dt, device, 5, -2, 2, bases).dev, ms: constList(dt, device, 1, bases).dev,
          mom: constList(dt, device, 0, bases).dev, buf: constList(dt, device, 0, bases).dev, e: makeList(dt, device, 6, -2, 2, bases).dev,
        }));
        const lrAt = ap.zeros([1], { device, dtype: 'f64' }), dAt = ap.zeros([1], { device, dtype: 'f64' });
        const rates = [0.1, 0.0123456789, 0.37], decays = [0.5, 0.1 / 0.7, 0];  // 0 is the exact copy
        rates.forEach((lr, k) => {
          const [a, b] = states;
          const h = { rho: 0.9, momentum: 0.9, eps: 1e-3, weightDecay: 0.05, decay: DECAY };
          ap.kernels.rmspropUpdate(a!.p, grads[k]!, a!.ms, a!.mom, { ...h, lr });
          ap.kernels.sgdUpdate(a!.p, grads[k]!, a!.buf, { lr, momentum: 0.9, nesterov: k === 1 });
          ap.kernels.emaUpdate(a!.e, a!.p, decays[k]!);
          ap.copyInto(lrAt, ap.tensor(Float64Array.of(lr), [1], { dtype: 'f64', device: 'cpu' }));
          ap.copyInto(dAt, ap.tensor(Float64Array.of(decays[k]!), [1], { dtype: 'f64', device: 'cpu' }));
          ap.kernels.rmspropUpdate(b!.p, grads[k]!, b!.ms, b!.mom, { ...h, lr: lrAt });
          ap.kernels.sgdUpdate(b!.p, grads[k]!, b!.buf, { lr: lrAt, momentum: 0.9, nesterov: k === 1 });
          ap.kernels.emaUpdate(b!.e, b!.p, dAt);
        });
        for (const key of ['p', 'ms', 'mom', 'buf', 'e'] as const)
          states[0]![key].forEach((t, i) => assert.deepEqual(Array.from(states[1]![key][i]!.toArray()), Array.from(t.toArray()), `${key}[${i}]`));
      });
    });
  }

  it('empty lists are a no-op', () => {
    ap.kernels.rmspropUpdate([], [], [], [], { lr: 0.1 });
    ap.kernels.sgdUpdate([], [], [], { lr: 0.1 });
    ap.kernels.emaUpdate([], [], 0.5);
  });
});

describe('optimizer kernels: bad arguments', () => {
  // Written for tensors on cpu; pinned so the suite also runs with ADVPROP_DEVICE=cuda-sim.
  let previousDevice = '';
  before(() => { previousDevice = ap.defaultDevice(); ap.setDefaultDevice('cpu'); });
  after(() => ap.setDefaultDevice(previousDevice));
  const four = (): ap.Tensor[] => [ap.zeros([2, 3]), ap.zeros([2, 3]), ap.ones([2, 3]), ap.zeros([2, 3])];

  it('list lengths and decay flags', () => {
    ap.tidy(() => {
      const [p, g, ms, mom] = four();
      expectCode(() => ap.kernels.rmspropUpdate([p], [g, g], [ms], [mom], { lr: 0.1 }), 'ERR_ARG', "'grads' has 2 tensors but 'params' has 1");
      expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [mom], { lr: 0.1, decay: [true, false] }), 'ERR_ARG', 'decay');
      expectCode(() => ap.kernels.sgdUpdate([p], [g], [ms], { lr: 0.1, decay: [1 as unknown as boolean] }), 'ERR_ARG', 'decay');
      expectCode(() => ap.kernels.emaUpdate([p], 'x' as unknown as ap.Tensor[], 0.5), 'ERR_ARG', 'sources');
      expectCode(() => ap.kernels.emaUpdate([p], [5 as unknown as ap.Tensor], 0.5), 'ERR_ARG', 'sources[0]');
    });
  });

  it('shapes, dtypes and disposed tensors name the list and index', () => {
    ap.tidy(() => {
      const [p, g, ms, mom] = four();
      const q = ap.zeros([4]);
      expectCode(() => ap.kernels.rmspropUpdate([q, p], [q, ap.zeros([3, 2])], [ap.ones([4]), ms], [ap.zeros([4]), mom], { lr: 0.1 }),
        'ERR_SHAPE', "'grads[1]' [3, 2] and 'params[1]' [2, 3]");
      expectCode(() => ap.kernels.sgdUpdate([p], [g], [ap.zeros([2, 3], { dtype: 'f64' })], { lr: 0.1 }), 'ERR_DTYPE', 'bufs[0]');
      expectCode(() => ap.kernels.emaUpdate([ap.zeros([3], { dtype: 'i32' })], [ap.zeros([3], { dtype: 'i32' })], 0.5), 'ERR_DTYPE', 'emas[0]');
      const gone = ap.zeros([2, 3]);
      gone.dispose();
      expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [gone], { lr: 0.1 }), 'ERR_DISPOSED', 'mom[0]');
    });
  });

  it('hyper-parameters out of range', () => {
    ap.tidy(() => {
      const [p, g, ms, mom] = four();
      expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [mom], { lr: 0.1, eps: 0 }), 'ERR_ARG', "'eps'");
      expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [mom], { lr: 0.1, rho: 1.5 }), 'ERR_ARG', "'rho'");
      expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [mom], { lr: NaN }), 'ERR_ARG', "'lr'");
      expectCode(() => ap.kernels.sgdUpdate([p], [g], [ms], { lr: 0.1, weightDecay: -1 }), 'ERR_ARG', "'weightDecay'");
      expectCode(() => ap.kernels.emaUpdate([p], [g], 1.01), 'ERR_ARG', "'decay'");
      expectCode(() => ap.kernels.sgdUpdate([p], [g], [ms], {} as ap.kernels.SgdUpdateOptions), 'ERR_ARG', "'lr'");
    });
  });

  it('a device scalar must be f64 [1] on the lists\' device', () => {
    ap.tidy(() => {
      const [p, g, ms, mom] = four();
      expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [mom], { lr: ap.zeros([1]) }), 'ERR_DTYPE', "argument 'lr' must be f64, got f32 [1]");
      expectCode(() => ap.kernels.sgdUpdate([p], [g], [ms], { lr: ap.zeros([2], { dtype: 'f64' }) }), 'ERR_SHAPE', "'lr' [2] must be [1]");
      expectCode(() => ap.kernels.emaUpdate([p], [g], ap.zeros([1, 1], { dtype: 'f64' })), 'ERR_SHAPE', "'decay' [1, 1] must be [1]");
      const gone = ap.zeros([1], { dtype: 'f64' });
      gone.dispose();
      expectCode(() => ap.kernels.emaUpdate([p], [g], gone), 'ERR_DISPOSED', 'decay');
      expectCode(() => ap.kernels.emaUpdate([p], [g], 'x' as unknown as number), 'ERR_ARG', 'decay');
      const sim = deviceOf('cuda-sim');
      if (sim) expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [mom], { lr: ap.zeros([1], { dtype: 'f64', device: sim }) }), 'ERR_DEVICE', "'lr' is on cuda-sim:0");
      assert.deepEqual(Array.from(ms.toArray()), [1, 1, 1, 1, 1, 1]);
    });
  });

  it('a tensor listed twice (aliasing) is refused before anything is written', () => {
    ap.tidy(() => {
      const [p, g, ms, mom] = four();
      expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [ms], { lr: 0.1 }), 'ERR_ARG', 'share memory');
      expectCode(() => ap.kernels.sgdUpdate([p, p], [g, g], [ms, mom], { lr: 0.1 }), 'ERR_ARG', 'share memory');
      const view = ap.noGrad(() => ap.slice0(p, 1, 1));
      expectCode(() => ap.kernels.emaUpdate([p, ap.zeros([1, 3])], [g, view], 0.5), 'ERR_ARG', 'share memory');
      assert.deepEqual(Array.from(ms.toArray()), [1, 1, 1, 1, 1, 1]);
    });
  });

  it('tensors on two devices', function () {
    const sim = deviceOf('cuda-sim');
    if (!sim) this.skip();
    ap.tidy(() => {
      const [p, g, ms, mom] = four();
      expectCode(() => ap.kernels.rmspropUpdate([p], [g], [ms], [ap.zeros([2, 3], { device: sim! })], { lr: 0.1 }), 'ERR_DEVICE', 'mom[0]');
    });
  });
});
