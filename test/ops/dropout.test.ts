// dropout and dropConnect on every backend (native/{cpu,cuda}/dropout.*): the mask against a
// BigInt Philox written from the paper, identical masks on every backend, the backward reusing
// the forward's mask, rate 0 drawing nothing, f64 gradient checks and bad arguments.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';
import { refUniformAt } from '../philox_ref.js';

// out_i = keep ? x_i * (1 / (1 - rate) rounded to the dtype) : 0. The product of two f32 values is
// exact in double, so Math.fround of it is the f32 product: the reference is exact.
function refDrop(x: Float64Array, rate: number, perSample: boolean, d: number, seed: bigint, offset: bigint, dtype: 'f32' | 'f64') {
  const scale = dtype === 'f32' ? Math.fround(1 / (1 - rate)) : 1 / (1 - rate);
  return Float64Array.from(x, (v, i) => {
    const keep = refUniformAt(seed, offset, perSample ? Math.floor(i / d) : i) <= 1 - rate;
    if (!keep) return 0;
    return dtype === 'f32' ? Math.fround(v * scale) : v * scale;
  });
}

const OPS = [
  { name: 'dropout', perSample: false, fn: ap.dropout },
  { name: 'dropConnect', perSample: true, fn: ap.dropConnect },
] as const;

forEachBackend('dropout / dropConnect', (device) => {
  for (const { name, perSample, fn } of OPS) {
    for (const [shape, rate] of [[[3, 5, 7, 2], 0.2], [[1, 13], 0.5], [[64, 3], 0.9], [[2, 3, 1, 4], 0.05]] as [number[], number][]) {
      it(`${name} ${JSON.stringify(shape)} rate ${rate}: the Philox mask, scaled by 1/(1 - rate)`, () => {
        ap.tidy(() => {
          const x = f32(hostRandom(numel(shape), 3, -2, 2));
          const out = fn(ap.tensor(Float32Array.from(x), shape, { device }), rate, { seed: 42, offset: 7 }).toArray();
          assertSame(out, refDrop(x, rate, perSample, numel(shape) / shape[0], 42n, 7n, 'f32'), name);
        });
      });
    }

    it(`${name}: the backward applies the forward's mask to dy`, () => {
      ap.tidy(() => {
        const shape = [6, 11], x = f32(hostRandom(66, 5, -1, 1)), w = f32(hostRandom(66, 6, -1, 1));
        const X = ap.tensor(Float32Array.from(x), shape, { device, requiresGrad: true });
        const W = ap.tensor(Float32Array.from(w), shape, { device });
        const [gx] = ap.grad(() => fn(X, 0.4, { seed: 9n, offset: 2n }).mul(W).sum(), [X]);
        assertSame(gx.toArray(), refDrop(w, 0.4, perSample, 11, 9n, 2n, 'f32'), 'dx');
        X.dispose();
      });
    });

    it(`${name}: rate 0 returns x itself and draws nothing`, () => {
      ap.tidy(() => {
        const x = ap.randn([3, 4], { device, seed: 1 });
        const before = ap.getRngState();
        assert.equal(fn(x, 0), x);
        assert.deepEqual(ap.getRngState(), before);
        fn(x, 0.5);
        assert.equal(ap.getRngState().offset, before.offset + 1n, 'a drawing call takes one key');
      });
    });

    it(`${name}: keeps about 1 - rate of the ${perSample ? 'samples' : 'elements'}`, () => {
      ap.tidy(() => {
        const n = perSample ? 4000 : 40000, rate = 0.3;
        const out = fn(ap.ones(perSample ? [n, 2] : [n], { device }), rate, { seed: 3 }).toArray();
        let kept = 0;
        for (let i = 0; i < out.length; i += perSample ? 2 : 1) kept += out[i] !== 0 ? 1 : 0;
        const sd = Math.sqrt(n * rate * (1 - rate));
        assert.ok(Math.abs(kept - n * (1 - rate)) < 5 * sd, `kept ${kept} of ${n}`);
      });
    });

    it(`${name}: bad arguments`, () => {
      ap.tidy(() => {
        const x = ap.zeros([2, 3], { device });
        for (const r of [-0.1, 1, 1.5, NaN]) expectCode(() => fn(x, r), 'ERR_ARG', new RegExp(`${name}: 'rate'`));
        expectCode(() => fn(x, '0.5' as never), 'ERR_ARG', /'rate'/);
        expectCode(() => fn(ap.zeros([2], { device, dtype: 'i32' }), 0.5), 'ERR_DTYPE');
        expectCode(() => fn(x, 0.5, { offset: 3 }), 'ERR_ARG', /'offset' needs 'seed'/);
        expectCode(() => fn(null as never, 0.5), 'ERR_ARG');
      });
    });
  }

  it('dropConnect on a scalar (no batch dimension) is ERR_SHAPE', () => {
    ap.tidy(() => expectCode(() => ap.dropConnect(ap.tensor(1, null, { device }), 0.5), 'ERR_SHAPE', /batch dimension/));
  });
});

describe('dropout / dropConnect in f64 (cpu)', () => {
  for (const { name, perSample, fn } of OPS) {
    it(`${name}: the f64 mask and scale`, () => {
      ap.tidy(() => {
        const x = hostRandom(60, 11, -1, 1);
        const out = fn(ap.tensor(x, [5, 12], { dtype: 'f64' }), 0.35, { seed: 8, offset: 1 }).toArray();
        assertSame(out, refDrop(x, 0.35, perSample, 12, 8n, 1n, 'f64'), name);
      });
    });

    it(`${name}: f64 gradient check`, () => {
      ap.tidy(() => {
        const x = ap.tensor(hostRandom(40, 12, -1, 1), [8, 5], { dtype: 'f64' });
        const r = assertGradcheck((t) => fn(t, 0.5, { seed: 4, offset: 6 }).square(), [x], { tol: 1e-6, samples: 40 });
        assert.equal(r.checked, 40);
      });
    });
  }
});
