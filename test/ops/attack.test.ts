// pgdStep and pgdRandomStart on every backend (native/{cpu,cuda}/attack.*): against f64
// references written from the formulas (and a BigInt Philox for the random start), the ε-ball
// and [min, max] for every element (zero gradients and values at the bounds included), cpu vs
// device bit for bit, and bad arguments.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertClose, assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';
import { refNormalAt, refUniformAt } from '../philox_ref.js';

type Dt = 'f32' | 'f64';
const arr = (a: Float64Array, dtype: Dt) => (dtype === 'f32' ? Float32Array.from(a) : a);
const round = (a: Float64Array, dtype: Dt) => (dtype === 'f32' ? f32(a) : a);
const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
const per = (v: number | number[], n: number) => (typeof v === 'number' ? v : v[n]);
// Half an ulp of |v| in f32: the largest error of rounding v to f32.
const halfUlp32 = (v: number) => (Math.abs(v) || 1e-38) * 2 ** -24;

function refLinf(xa: Float64Array, g: Float64Array, x: Float64Array, d: number, eps: number | number[], alpha: number | number[], lo: number, hi: number) {
  return Float64Array.from(x, (xi, i) => {
    const n = Math.floor(i / d);
    const v = xa[i] + per(alpha, n) * Math.sign(g[i]);
    return clamp(clamp(v, xi - per(eps, n), xi + per(eps, n)), lo, hi);
  });
}

function refL2(xa: Float64Array, g: Float64Array, x: Float64Array, d: number, eps: number | number[], alpha: number | number[], lo: number, hi: number) {
  const out = new Float64Array(x.length);
  for (let n = 0; n < x.length / d; n++) {
    let gg = 0;
    for (let j = 0; j < d; j++) gg += g[n * d + j] ** 2;
    const a = gg > 0 ? per(alpha, n) / Math.sqrt(gg) : 0;
    const delta = Array.from({ length: d }, (_, j) => xa[n * d + j] + a * g[n * d + j] - x[n * d + j]);
    const norm = Math.sqrt(delta.reduce((s, v) => s + v * v, 0));
    const s = norm > per(eps, n) ? per(eps, n) / norm : 1;
    for (let j = 0; j < d; j++) out[n * d + j] = clamp(x[n * d + j] + s * delta[j], lo, hi);
  }
  return out;
}

// Clean images in [0, 1] with exact 0s and 1s; adversarial images near them, some on the box
// bounds and some on the ε-ball's edge; gradients with exact zeros (whole zero samples when asked).
function inputs(shape: number[], seed: number, eps: number, zeroSample = -1) {
  const n = numel(shape), d = n / shape[0];
  const x = hostRandom(n, seed, 0, 1), xa = new Float64Array(n), g = hostRandom(n, seed + 1, -1, 1);
  const r = hostRandom(n, seed + 2, -1.5, 1.5);
  for (let i = 0; i < n; i++) {
    if (i % 7 === 0) x[i] = 0;
    if (i % 11 === 0) x[i] = 1;
    xa[i] = clamp(x[i] + eps * r[i], 0, 1);
    if (i % 5 === 0) xa[i] = x[i] + eps;
    if (i % 13 === 0) xa[i] = i % 2 ? 0 : 1;
    if (i % 3 === 0) g[i] = 0;
    if (Math.floor(i / d) === zeroSample) g[i] = 0;
  }
  return { x, xa, g, d };
}

const SHAPES = [[3, 5, 7, 2], [4, 8], [1, 1], [2, 3, 3, 3], [2, 1100]];

forEachBackend('pgdStep', (device) => {
  for (const norm of ['linf', 'l2'] as const) {
    for (const shape of SHAPES) {
      it(`${norm} ${JSON.stringify(shape)}: matches the f64 formula, stays in the ε-ball and [0, 1]`, () => {
        ap.tidy(() => {
          const eps = norm === 'linf' ? 8 / 255 : 0.5, alpha = norm === 'linf' ? 2 / 255 : 0.2;
          const { x, xa, g, d } = inputs(shape, 3 + shape.length, eps, norm === 'l2' ? 0 : -1);
          const [X, XA, G] = [x, xa, g].map((a) => round(a, 'f32'));
          const t = (a: Float64Array) => ap.tensor(arr(a, 'f32'), shape, { device });
          const out = ap.pgdStep(t(XA), t(G), t(X), { eps, alpha, norm }).toArray();
          const epsF = Math.fround(eps), alphaF = Math.fround(alpha);
          const ref = (norm === 'linf' ? refLinf : refL2)(XA, G, X, d, epsF, alphaF, 0, 1);
          // One f32 rounding per output (x ± eps, or x + s·d); the error measure is relative.
          assertClose(out, ref, 2 ** -23, 'out');
          const N = shape[0];
          for (let n = 0; n < N; n++) {
            let sq = 0;
            for (let j = 0; j < d; j++) {
              const i = n * d + j, diff = out[i] - X[i];
              assert.ok(out[i] >= 0 && out[i] <= 1, `element ${i} = ${out[i]} outside [0, 1]`);
              if (norm === 'linf')
                assert.ok(Math.abs(diff) <= epsF + halfUlp32(X[i] + epsF), `element ${i}: |${out[i]} - ${X[i]}| > eps`);
              sq += diff * diff;
            }
            // Each element carries at most one f32 rounding (half an ulp of 1 in [0, 1]).
            if (norm === 'l2') assert.ok(Math.sqrt(sq) <= epsF * (1 + 1e-12) + Math.sqrt(d) * 2 ** -24, `sample ${n}: ‖out - x‖ = ${Math.sqrt(sq)} > ${epsF}`);
          }
          if (norm === 'l2') for (let j = 0; j < d; j++) assert.ok(!Number.isNaN(out[j]), 'zero-gradient sample gave NaN');
        });
      });
    }

    it(`${norm}: per-sample eps and alpha tensors`, () => {
      ap.tidy(() => {
        const shape = [3, 4, 5, 3], N = 3;
        const epsV = [0, 0.05, 0.3], alphaV = [0.01, 0.5, 0.1];
        const { x, xa, g, d } = inputs(shape, 21, 0.1);
        const [X, XA, G] = [x, xa, g].map((a) => round(a, 'f32'));
        const t = (a: Float64Array, s = shape) => ap.tensor(arr(a, 'f32'), s, { device });
        const out = ap.pgdStep(t(XA), t(G), t(X), { eps: t(Float64Array.from(epsV), [N]), alpha: t(Float64Array.from(alphaV), [N]), norm }).toArray();
        const ref = (norm === 'linf' ? refLinf : refL2)(XA, G, X, d, epsV.map(Math.fround), alphaV.map(Math.fround), 0, 1);
        assertClose(out, ref, 2 ** -23, 'out');
        for (let j = 0; j < d; j++) assert.equal(out[j], X[j], 'eps 0 must give back x');
      });
    });

    it(`${norm}: f32 on this backend equals the cpu bit for bit`, () => {
      ap.tidy(() => {
        const shape = [5, 9, 7, 3];
        const { x, xa, g } = inputs(shape, 31, 0.03);
        const run = (dev: string) => {
          const t = (a: Float64Array) => ap.tensor(Float32Array.from(a), shape, { device: dev });
          return ap.pgdStep(t(xa), t(g), t(x), { eps: 0.03, alpha: 0.01, norm }).toArray();
        };
        assertSame(run(device), run('cpu'), 'out');
      });
    });
  }

  it('a zero gradient leaves xAdv unchanged (linf and l2) when it is inside the ball and the box', () => {
    ap.tidy(() => {
      const shape = [2, 6];
      const x = hostRandom(12, 41, 0.2, 0.8), xa = Float64Array.from(x, (v, i) => v + (i % 2 ? 0.01 : -0.01));
      const t = (a: Float64Array) => ap.tensor(Float32Array.from(a), shape, { device });
      for (const norm of ['linf', 'l2'] as const)
        assertSame(ap.pgdStep(t(xa), ap.zeros(shape, { device }), t(x), { eps: 0.1, alpha: 0.05, norm }).toArray(), f32(xa), norm);
    });
  });

  it('FGSM is one step from x with alpha = eps: clamp(x + eps·sign(g), 0, 1)', () => {
    ap.tidy(() => {
      const shape = [3, 4, 4, 3], x = f32(hostRandom(144, 45, 0, 1)), g = f32(hostRandom(144, 46, -1, 1));
      for (let i = 0; i < 144; i += 4) g[i] = 0;
      const X = ap.tensor(Float32Array.from(x), shape, { device });
      const out = ap.pgdStep(X, ap.tensor(Float32Array.from(g), shape, { device }), X, { eps: 4 / 255, alpha: 4 / 255 }).toArray();
      const e = Math.fround(4 / 255);
      assertClose(out, Float64Array.from(x, (v, i) => clamp(v + e * Math.sign(g[i]), 0, 1)), 2 ** -23, 'fgsm');
    });
  });

  it('min and max other than [0, 1] (normalised images)', () => {
    ap.tidy(() => {
      const shape = [2, 3, 3, 2];
      const x = f32(hostRandom(36, 51, -2, 2)), xa = f32(hostRandom(36, 52, -2.2, 2.2)), g = f32(hostRandom(36, 53, -1, 1));
      const t = (a: Float64Array) => ap.tensor(Float32Array.from(a), shape, { device });
      const out = ap.pgdStep(t(xa), t(g), t(x), { eps: 0.25, alpha: 0.1, min: -1.5, max: 1.75 }).toArray();
      assertClose(out, refLinf(xa, g, x, 18, 0.25, Math.fround(0.1), -1.5, 1.75), 2 ** -23, 'out');
    });
  });

  it('bad arguments give AdvpropErrors naming the op and argument', () => {
    ap.tidy(() => {
      const a = ap.zeros([2, 3], { device }), b = ap.zeros([2, 3], { device });
      expectCode(() => ap.pgdStep(a, b, a, { eps: -0.1, alpha: 0.1 }), 'ERR_ARG', /pgdStep: 'eps'/);
      expectCode(() => ap.pgdStep(a, b, a, { eps: 0.1, alpha: -1 }), 'ERR_ARG', /'alpha'/);
      expectCode(() => ap.pgdStep(a, b, a, { eps: NaN, alpha: 0.1 }), 'ERR_ARG', /'eps'/);
      expectCode(() => ap.pgdStep(a, ap.zeros([3, 2], { device }), a, { eps: 0.1, alpha: 0.1 }), 'ERR_SHAPE', /\[3, 2\]/);
      expectCode(() => ap.pgdStep(a, b, a, { eps: ap.zeros([3], { device }), alpha: 0.1 }), 'ERR_SHAPE', /per-sample 'eps' \[3\] must be \[2\]/);
      expectCode(() => ap.pgdStep(a, b, a, { eps: 0.1, alpha: ap.zeros([2, 1], { device }) }), 'ERR_SHAPE', /'alpha'/);
      expectCode(() => ap.pgdStep(a, b, a, { eps: 0.1, alpha: 0.1, norm: 'l1' as never }), 'ERR_ARG', /norm/);
      expectCode(() => ap.pgdStep(a, b, a, { eps: 0.1, alpha: 0.1, min: 1, max: 0 }), 'ERR_ARG', /min <= max/);
      expectCode(() => ap.pgdStep(a, b, a, { alpha: 0.1 } as never), 'ERR_ARG', /'eps' is required/);
      expectCode(() => ap.pgdStep(a, b, a, null as never), 'ERR_ARG', /options/);
      expectCode(() => ap.pgdStep(a, b, ap.zeros([2, 3], { device, dtype: 'f64' }), { eps: 0.1, alpha: 0.1 }), 'ERR_DTYPE', /'x' is f64/);
      if (device !== 'cpu') expectCode(() => ap.pgdStep(a, ap.zeros([2, 3], { device: 'cpu' }), a, { eps: 0.1, alpha: 0.1 }), 'ERR_DEVICE', /'grad' is on cpu/);
      expectCode(() => ap.pgdRandomStart(a, { eps: -1 }), 'ERR_ARG', /pgdRandomStart: 'eps'/);
      expectCode(() => ap.pgdRandomStart(a, { eps: ap.zeros([1], { device }), seed: 1 }), 'ERR_SHAPE', /\[1\]/);
      const dead = ap.zeros([2, 3], { device });
      dead.dispose();
      expectCode(() => ap.pgdStep(dead, b, a, { eps: 0.1, alpha: 0.1 }), 'ERR_DISPOSED');
    });
  });
});

// The random start: x + noise with the Philox numbers of philox_ref.ts.
function refStart(x: Float64Array, d: number, eps: number | number[], norm: 'linf' | 'l2', seed: bigint, offset: bigint, lo: number, hi: number, dtype: Dt) {
  const out = new Float64Array(x.length);
  const N = x.length / d;
  if (norm === 'linf') return Float64Array.from(x, (xi, i) => clamp(xi + per(eps, Math.floor(i / d)) * (2 * refUniformAt(seed, offset, i) - 1), lo, hi));
  const base = Math.ceil(x.length / 4) * 4;
  for (let n = 0; n < N; n++) {
    const z = Array.from({ length: d }, (_, j) => refNormalAt(seed, offset, n * d + j)).map((v) => (dtype === 'f32' ? Math.fround(v) : v));
    const zn = Math.sqrt(z.reduce((s, v) => s + v * v, 0));
    const r = (per(eps, n) * refUniformAt(seed, offset, base + n) ** (1 / d)) / zn;
    for (let j = 0; j < d; j++) out[n * d + j] = clamp(x[n * d + j] + r * z[j], lo, hi);
  }
  return out;
}

forEachBackend('pgdRandomStart', (device) => {
  for (const norm of ['linf', 'l2'] as const) {
    for (const shape of [[3, 5, 7, 2], [1, 3], [4, 1029]]) {
      it(`${norm} ${JSON.stringify(shape)}: the Philox formula, inside the ε-ball and [0, 1]`, () => {
        ap.tidy(() => {
          const eps = norm === 'linf' ? 8 / 255 : 0.7, d = numel(shape) / shape[0];
          const x = f32(hostRandom(numel(shape), 61, 0, 1));
          for (let i = 0; i < x.length; i += 9) x[i] = i % 2 ? 1 : 0;
          const out = ap.pgdRandomStart(ap.tensor(Float32Array.from(x), shape, { device }), { eps, norm, seed: 77, offset: 5 }).toArray();
          const ref = refStart(x, d, Math.fround(eps), norm, 77n, 5n, 0, 1, 'f32');
          // f32 rounding of each element (the JS and C libm may differ in the last bit of a double).
          assertClose(out, ref, 2 ** -23, 'out');
          for (let n = 0; n < shape[0]; n++) {
            let sq = 0;
            for (let j = 0; j < d; j++) {
              const i = n * d + j, diff = out[i] - x[i];
              assert.ok(out[i] >= 0 && out[i] <= 1, `element ${i} = ${out[i]} outside [0, 1]`);
              if (norm === 'linf') assert.ok(Math.abs(diff) <= Math.fround(eps) + halfUlp32(x[i] + eps), `element ${i} outside the ball`);
              sq += diff * diff;
            }
            if (norm === 'l2') assert.ok(Math.sqrt(sq) <= Math.fround(eps) * (1 + 1e-12) + Math.sqrt(d) * 2 ** -24, `sample ${n} outside the ball`);
          }
        });
      });
    }

    it(`${norm}: identical to the cpu (f32), per-sample eps`, () => {
      ap.tidy(() => {
        const shape = [3, 1500], x = hostRandom(4500, 71, 0.3, 0.7);
        const run = (dev: string) => ap.pgdRandomStart(ap.tensor(Float32Array.from(x), shape, { device: dev }),
          { eps: ap.tensor(new Float32Array([0.1, 0, 0.25]), [3], { device: dev }), norm, seed: 2n ** 40n + 3n, offset: 9 }).toArray();
        const here = run(device);
        assertSame(here, run('cpu'), 'random start');
        for (let j = 0; j < 1500; j++) assert.equal(here[1500 + j], Math.fround(x[1500 + j]), 'eps 0 gives x');
      });
    });
  }

  it('unseeded calls take the global key: different each call, reproducible after manualSeed', () => {
    ap.tidy(() => {
      const x = ap.full([2, 50], 0.5, { device });
      ap.manualSeed(123);
      const a = ap.pgdRandomStart(x, { eps: 0.1 }).toArray(), b = ap.pgdRandomStart(x, { eps: 0.1 }).toArray();
      ap.manualSeed(123);
      const c = ap.pgdRandomStart(x, { eps: 0.1 }).toArray();
      assertSame(c, a, 'after manualSeed');
      assert.ok(a.some((v, i) => v !== b[i]), 'two calls drew the same numbers');
    });
  });
});

describe('pgdStep / pgdRandomStart in f64 (cpu)', () => {
  for (const norm of ['linf', 'l2'] as const) {
    it(`${norm}: the step matches the f64 formula`, () => {
      ap.tidy(() => {
        const shape = [3, 4, 4, 3];
        const { x, xa, g, d } = inputs(shape, 81, 0.05, 1);
        const t = (a: Float64Array) => ap.tensor(a, shape, { dtype: 'f64' });
        const out = ap.pgdStep(t(xa), t(g), t(x), { eps: 0.05, alpha: 0.02, norm }).toArray();
        assertClose(out, (norm === 'linf' ? refLinf : refL2)(xa, g, x, d, 0.05, 0.02, 0, 1), 1e-14, 'out');
      });
    });

    it(`${norm}: the random start matches the Philox formula`, () => {
      ap.tidy(() => {
        const shape = [2, 37], x = hostRandom(74, 91, 0, 1);
        const out = ap.pgdRandomStart(ap.tensor(x, shape, { dtype: 'f64' }), { eps: 0.2, norm, seed: 5, offset: 1 }).toArray();
        assertClose(out, refStart(x, 37, 0.2, norm, 5n, 1n, 0, 1, 'f64'), 1e-14, 'out');
      });
    });
  }
});
