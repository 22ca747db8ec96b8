import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import type { UnaryOpName } from '../../lib/native.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertClose, expectCode, f32, hostRandom, numel } from '../helpers.js';

const sig = (x: number): number => 1 / (1 + Math.exp(-x));

interface Case {
  op: UnaryOpName;
  alpha: number;
  f: (x: number) => number;
  df: (x: number) => number;
  lo: number;
  hi: number;
}

// Inputs for log are positive; relu's stay clear of 0, where its derivative jumps.
const CASES: Case[] = [
  { op: 'scale', alpha: -1.75, f: (x) => -1.75 * x, df: () => -1.75, lo: -3, hi: 3 },
  { op: 'addScalar', alpha: 0.625, f: (x) => x + 0.625, df: () => 1, lo: -3, hi: 3 },
  { op: 'neg', alpha: 0, f: (x) => -x, df: () => -1, lo: -3, hi: 3 },
  { op: 'silu', alpha: 0, f: (x) => x * sig(x), df: (x) => sig(x) * (1 + x * (1 - sig(x))), lo: -8, hi: 8 },
  { op: 'sigmoid', alpha: 0, f: sig, df: (x) => sig(x) * (1 - sig(x)), lo: -8, hi: 8 },
  { op: 'relu', alpha: 0, f: (x) => Math.max(x, 0), df: (x) => (x > 0 ? 1 : 0), lo: -3, hi: 3 },
  { op: 'exp', alpha: 0, f: Math.exp, df: Math.exp, lo: -5, hi: 5 },
  { op: 'log', alpha: 0, f: Math.log, df: (x) => 1 / x, lo: 0.05, hi: 20 },
  { op: 'square', alpha: 0, f: (x) => x * x, df: (x) => 2 * x, lo: -3, hi: 3 },
];

const SHAPES = [[1], [7], [97], [1000], [2, 3, 5, 3], [3, 1, 7, 17]];

function forward(t: ap.Tensor, c: Case): ap.Tensor {
  switch (c.op) {
    case 'scale': return ap.scale(t, c.alpha);
    case 'addScalar': return ap.addScalar(t, c.alpha);
    default: return (ap[c.op] as (x: ap.Tensor) => ap.Tensor)(t);
  }
}

forEachBackend('unary ops', (device) => {
  for (const c of CASES) {
    for (const shape of SHAPES) {
      it(`${c.op} [${shape}] forward and backward kernels equal the JS reference`, () => {
        const n = numel(shape);
        const hx = f32(hostRandom(n, n + 3, c.lo, c.hi));
        const hdy = f32(hostRandom(n, n + 4, -1, 1));
        ap.tidy(() => {
          const x = ap.tensor(Float32Array.from(hx), shape, { device });
          const dy = ap.tensor(Float32Array.from(hdy), shape, { device });
          const y = forward(x, c);
          assert.deepEqual([...y.shape], shape);
          // f32 libm functions are within a few ulp; 1e-6 is ~16 ulp of f32.
          assertClose(y.toArray(), Array.from(hx, c.f), 1e-6, `${c.op} forward`);
          const dx = ap.kernels.unaryBackward(c.op, x, dy, c.alpha);
          assertClose(dx.toArray(), Array.from(hx, (v, i) => hdy[i] * c.df(v)), 1e-6, `${c.op} backward`);
          const viaKernel = ap.kernels.unary(c.op, x, c.alpha);
          assert.deepEqual(Array.from(viaKernel.toArray()), Array.from(y.toArray()));
        });
      });
    }
  }

  it('the named kernels match the generic entry points', () => {
    ap.tidy(() => {
      const x = ap.tensor(Float32Array.from(hostRandom(19, 2, 0.1, 3)), [19], { device });
      const dy = ap.ones([19], { device });
      const pairs: [ap.Tensor, ap.Tensor][] = [
        [ap.kernels.silu(x), ap.kernels.unary('silu', x)],
        [ap.kernels.sigmoidBackward(x, dy), ap.kernels.unaryBackward('sigmoid', x, dy)],
        [ap.kernels.reluBackward(x, dy), ap.kernels.unaryBackward('relu', x, dy)],
        [ap.kernels.logBackward(x, dy), ap.kernels.unaryBackward('log', x, dy)],
        [ap.mulScalar(x, 2), ap.kernels.scale(x, 2)],
      ];
      for (const [a, b] of pairs) assert.deepEqual(Array.from(a.toArray()), Array.from(b.toArray()));
    });
  });

  it('sigmoid and silu gradients keep f32 accuracy where sigmoid saturates', () => {
    // Computing 1 - sigmoid(x) by subtraction loses every digit once sigmoid(x) rounds near 1;
    // sigmoid(-x) gives it without cancellation.
    const xs = [-30, -20, -8, -1, 0, 1, 8, 12, 16, 20, 30];
    ap.tidy(() => {
      const x = ap.tensor(xs, null, { device });
      const dy = ap.onesLike(x);
      for (const [op, df] of [['sigmoid', (v: number) => sig(v) * sig(-v)], ['silu', (v: number) => sig(v) * (1 + v * sig(-v))]] as const) {
        const got = ap.kernels.unaryBackward(op, x, dy).toArray();
        const bad = xs.map((v, i) => ({ x: v, got: got[i], want: df(v), rel: Math.abs(got[i] - df(v)) / Math.abs(df(v)) })).filter((r) => !(r.rel < 1e-6));
        assert.ok(bad.length === 0, `${op} backward loses accuracy:\n${bad.map((r) => `  x=${r.x}: got ${r.got}, expected ${r.want} (rel ${r.rel.toExponential(2)})`).join('\n')}`);
      }
    });
  });

  it('special values: relu(0) = 0 with zero gradient, exp overflow, log(0)', () => {
    ap.tidy(() => {
      const x = ap.tensor([0, -0, 100, 0], null, { device });
      assert.deepEqual(Array.from(ap.relu(x).toArray()).map((v) => v + 0), [0, 0, 100, 0]);
      assert.deepEqual(Array.from(ap.kernels.reluBackward(x, ap.onesLike(x)).toArray()), [0, 0, 1, 0]);
      assert.equal(ap.exp(x).toArray()[2], Infinity);
      assert.equal(ap.log(x).toArray()[0], -Infinity);
    });
  });

  it('rejects integer tensors, a non-number alpha and unknown ops', () => {
    ap.tidy(() => {
      const i = ap.zeros([3], { device, dtype: 'i32' });
      const x = ap.zeros([3], { device });
      expectCode(() => ap.silu(i), 'ERR_DTYPE');
      expectCode(() => ap.kernels.unaryBackward('relu', x, i), 'ERR_DTYPE');
      expectCode(() => ap.kernels.unaryBackward('relu', x, ap.zeros([4], { device })), 'ERR_SHAPE');
      expectCode(() => ap.scale(x, '2' as unknown as number), 'ERR_ARG');
      expectCode(() => ap.addScalar(x, undefined as unknown as number), 'ERR_ARG');
      expectCode(() => ap.kernels.unary('tanh' as UnaryOpName, x), 'ERR_ARG');
      expectCode(() => ap.relu(null as unknown as ap.Tensor), 'ERR_ARG');
    });
  });
});
