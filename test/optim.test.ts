// ap.optim classes over several steps against f64 references written from the formulas
// (TF RMSProp, SGD with Nesterov, the EMA with TensorFlow's warm-up), their state round trips,
// and their argument checks. The fused kernels themselves are tested in test/ops/optim.test.ts.
import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { forEachBackend } from '../lib/testing/backends.js';
import { assertClose, assertSame, expectCode, f32, hostRandom, numel } from './helpers.js';

type DT = 'f32' | 'f64';
const SHAPES = [[3, 4], [5], [2, 2, 3], [1]];
// A few roundings (~6e-8 in f32) per step into values of order 1, over at most 5 steps.
const TOL: Record<DT, number> = { f32: 2e-6, f64: 1e-13 };

function hostList(dt: DT, seed: number, lo = -1, hi = 1): Float64Array[] {
  return SHAPES.map((s, i) => {
    const a = hostRandom(numel(s), seed * 17 + i, lo, hi);
    return dt === 'f32' ? f32(a) : a;
  });
}
const upload = (h: Float64Array[], dt: DT, device: string): ap.Tensor[] =>
  h.map((a, i) => ap.tensor(Float64Array.from(a), SHAPES[i], { device, dtype: dt }));

function checkList(ts: readonly ap.Tensor[], ref: Float64Array[], dt: DT, label: string): void {
  ts.forEach((t, i) => assertClose(t.toArray(), ref[i], TOL[dt], `${label}[${i}]`));
}

forEachBackend('ap.optim', (device) => {
  for (const dt of ['f32', 'f64'] as const) {
    it(`RMSProp: 4 steps, lr changed mid-way, decay mask by predicate, ${dt}`, () => {
      ap.tidy(() => {
        const hp = hostList(dt, 1, -2, 2);
        const params = upload(hp, dt, device);
        const opt = new ap.optim.RMSProp(params, { lr: 0.05, weightDecay: 0.1, decayMask: (i) => i % 2 === 0 });
        assert.deepEqual([...opt.decay], [true, false, true, false]);
        const ms = hp.map((a) => new Float64Array(a.length).fill(1));
        const mom = hp.map((a) => new Float64Array(a.length));
        for (let step = 0; step < 4; step++) {
          if (step === 2) opt.lr = 0.01;
          const hg = hostList(dt, 10 + step);
          ap.tidy(() => opt.step(upload(hg, dt, device)));
          hp.forEach((p, i) => {
            for (let j = 0; j < p.length; j++) {
              const g = hg[i][j] + (i % 2 === 0 ? 0.1 * p[j] : 0);
              ms[i][j] = 0.9 * ms[i][j] + 0.1 * g * g;
              mom[i][j] = 0.9 * mom[i][j] + (opt.lr * g) / Math.sqrt(ms[i][j] + 1e-3);
              p[j] -= mom[i][j];
            }
          });
        }
        checkList(params, hp, dt, 'params');
        const sd = opt.stateDict();
        checkList(SHAPES.map((_, i) => sd[`ms.${i}`]), ms, dt, 'ms');
        checkList(SHAPES.map((_, i) => sd[`mom.${i}`]), mom, dt, 'mom');
        opt.dispose();
      });
    });

    it(`SGD: 3 Nesterov steps, decay mask by array, ${dt}`, () => {
      ap.tidy(() => {
        const hp = hostList(dt, 2, -2, 2);
        const params = upload(hp, dt, device);
        const mask = [false, true, true, false];
        const opt = new ap.optim.SGD(params, { lr: 0.1, momentum: 0.8, nesterov: true, weightDecay: 0.05, decayMask: mask });
        const buf = hp.map((a) => new Float64Array(a.length));
        for (let step = 0; step < 3; step++) {
          const hg = hostList(dt, 20 + step);
          ap.tidy(() => opt.step(upload(hg, dt, device)));
          hp.forEach((p, i) => {
            for (let j = 0; j < p.length; j++) {
              const g = hg[i][j] + (mask[i] ? 0.05 * p[j] : 0);
              buf[i][j] = 0.8 * buf[i][j] + g;
              p[j] -= 0.1 * (g + 0.8 * buf[i][j]);
            }
          });
        }
        checkList(params, hp, dt, 'params');
        checkList(SHAPES.map((_, i) => opt.stateDict()[`buf.${i}`]), buf, dt, 'bufs');
        opt.dispose();
      });
    });

    it(`ExponentialMovingAverage: TensorFlow's warm-up min(d, (1 + t)/(10 + t)) over 5 updates, ${dt}`, () => {
      ap.tidy(() => {
        const hs = hostList(dt, 3, -2, 2);
        const sources = upload(hs, dt, device);
        const ema = new ap.optim.ExponentialMovingAverage(sources, { decay: 0.2 });
        const ref = hs.map((a) => Float64Array.from(a));
        for (let t = 0; t < 5; t++) {
          // t = 0, 1 use the warm-up value 0.1, 2/11; from t = 2 on, 3/12 > 0.2 so d = 0.2.
          const d = Math.min(0.2, (1 + t) / (10 + t));
          assert.equal(ema.numUpdates, t);
          assert.equal(ema.currentDecay(), d);
          const next = hostList(dt, 30 + t, -2, 2);
          ap.tidy(() => ap.kernels.emaUpdate(sources, upload(next, dt, device), 0)); // sources change between updates
          ema.update();
          ref.forEach((e, i) => e.forEach((v, j) => (e[j] = d * v + (1 - d) * next[i][j])));
        }
        checkList(ema.tensors(), ref, dt, 'ema');
        const targets = SHAPES.map((s) => ap.full(s, NaN, { device, dtype: dt }));
        ema.copyTo(targets);
        targets.forEach((t, i) => assertSame(t.toArray(), ema.tensors()[i].toArray(), `copyTo[${i}]`));
        ema.dispose();
      });
    });
  }

  it('ExponentialMovingAverage without warm-up uses the decay from the first update', () => {
    ap.tidy(() => {
      const s = ap.tensor([1, 2, 3], [3], { device });
      const ema = new ap.optim.ExponentialMovingAverage([s], { decay: 0.75, warmup: false });
      ap.kernels.emaUpdate([s], [ap.tensor([5, 6, 7], [3], { device })], 0);
      ema.update();
      assertClose(ema.tensors()[0].toArray(), [0.75 * 1 + 0.25 * 5, 0.75 * 2 + 0.25 * 6, 0.75 * 3 + 0.25 * 7], 1e-7, 'ema');
      ema.dispose();
    });
  });

  it('stateDict / loadStateDict continue a run exactly (RMSProp, SGD, EMA)', () => {
    ap.tidy(() => {
      const hp = hostList('f32', 4, -2, 2);
      const grads = [0, 1, 2, 3].map((k) => upload(hostList('f32', 40 + k), 'f32', device));
      const pa = upload(hp, 'f32', device);
      const pb = upload(hp, 'f32', device);
      const make = (p: ap.Tensor[]) => ({
        rms: new ap.optim.RMSProp(p, { lr: 0.02, weightDecay: 0.01 }),
        sgd: new ap.optim.SGD(p, { lr: 0.03, momentum: 0.9 }),
        ema: new ap.optim.ExponentialMovingAverage(p),
      });
      const a = make(pa);
      for (const g of grads.slice(0, 2)) {
        a.rms.step(g);
        a.sgd.step(g);
        a.ema.update();
      }
      // b starts from a's parameters and state, then both take the same two steps.
      pb.forEach((t, i) => ap.kernels.emaUpdate([t], [pa[i]], 0));
      const b = make(pb);
      b.rms.loadStateDict(a.rms.stateDict());
      b.sgd.loadStateDict(a.sgd.stateDict());
      b.ema.loadStateDict(a.ema.stateDict());
      assert.equal(b.ema.numUpdates, 2);
      for (const g of grads.slice(2)) {
        for (const o of [a, b]) {
          o.rms.step(g);
          o.sgd.step(g);
          o.ema.update();
        }
      }
      pa.forEach((t, i) => assertSame(pb[i].toArray(), t.toArray(), `params[${i}]`));
      a.ema.tensors().forEach((t, i) => assertSame(b.ema.tensors()[i].toArray(), t.toArray(), `ema[${i}]`));
      for (const o of [a, b]) for (const x of [o.rms, o.sgd, o.ema]) x.dispose();
    });
  });
});

describe('ap.optim: bad arguments', () => {
  it('options', () => {
    ap.tidy(() => {
      const p = [ap.zeros([2]), ap.zeros([3])];
      expectCode(() => new ap.optim.RMSProp(p, { lr: -1 }), 'ERR_ARG', "'lr'");
      expectCode(() => new ap.optim.RMSProp(p, { lr: 0.1, eps: 0 }), 'ERR_ARG', "'eps'");
      expectCode(() => new ap.optim.RMSProp(p, { lr: 0.1, beta: 1 } as unknown as ap.optim.RMSPropOptions), 'ERR_ARG', "unknown option 'beta'");
      expectCode(() => new ap.optim.RMSProp(p, { lr: 0.1, decayMask: [true] }), 'ERR_ARG', 'decayMask');
      expectCode(() => new ap.optim.RMSProp(p, { lr: 0.1, decayMask: (() => 1) as unknown as () => boolean }), 'ERR_ARG', 'decayMask(0)');
      expectCode(() => new ap.optim.SGD(p, { lr: 0.1, nesterov: true }), 'ERR_ARG', 'nesterov');
      expectCode(() => new ap.optim.ExponentialMovingAverage(p, { decay: 2 }), 'ERR_ARG', "'decay'");
      const opt = new ap.optim.SGD(p, { lr: 0.1 });
      assert.throws(() => (opt.lr = NaN), /'lr'/);
      assert.equal(opt.lr, 0.1);
      opt.dispose();
    });
  });

  it('parameter lists, gradients and state dicts', () => {
    ap.tidy(() => {
      const p = [ap.zeros([2]), ap.zeros([3])];
      expectCode(() => new ap.optim.SGD([p[0], ap.zeros([2], { dtype: 'f64' })], { lr: 0.1 }), 'ERR_DTYPE', 'params[1]');
      expectCode(() => new ap.optim.SGD([ap.zeros([2], { dtype: 'i32' })], { lr: 0.1 }), 'ERR_DTYPE', 'params[0]');
      const opt = new ap.optim.RMSProp(p, { lr: 0.1 });
      expectCode(() => opt.step([ap.zeros([2])]), 'ERR_ARG', 'grads');
      expectCode(() => opt.step([ap.zeros([2]), ap.zeros([4])]), 'ERR_SHAPE', "'grads[1]' [4] and 'params[1]' [3]");
      const sd = { ...opt.stateDict(), 'ms.1': ap.zeros([5]) };
      expectCode(() => opt.loadStateDict(sd), 'ERR_SHAPE', "stateDict['ms.1'] is [5]");
      const { 'mom.0': _drop, ...missing } = opt.stateDict();
      expectCode(() => opt.loadStateDict(missing), 'ERR_ARG', "stateDict['mom.0']");
      const ema = new ap.optim.ExponentialMovingAverage(p);
      expectCode(() => ema.copyTo([p[0]]), 'ERR_ARG', 'targets');
      ema.dispose();
      opt.dispose();
    });
  });
});
