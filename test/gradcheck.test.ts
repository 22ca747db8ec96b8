// f64 central-difference checks of every differentiable op's gradient rule (on the CPU, where
// f64 kernels exist). With eps = 1e-6 the truncation error is ~1e-12 and the rounding error
// ~1e-10 relative, so 1e-6 leaves three orders of magnitude of margin without hiding a wrong rule.
import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { assertGradcheck, gradcheck } from '../lib/testing/gradcheck.js';
import { hostRandom, numel } from './helpers.js';

const TOL = 1e-6;

function input(shape: number[], seed: number, lo = -2, hi = 2): ap.Tensor {
  return ap.tensor(hostRandom(numel(shape), seed, lo, hi), shape, { dtype: 'f64', device: 'cpu' });
}

/** Values in ±[0.2, 2]: clear of relu's kink and of zero divisors. */
function awayFromZero(shape: number[], seed: number): ap.Tensor {
  const h = hostRandom(numel(shape), seed, 0.2, 2).map((v, i) => (i % 3 === 1 ? -v : v));
  return ap.tensor(h, shape, { dtype: 'f64', device: 'cpu' });
}

function check(title: string, fn: (...xs: ap.Tensor[]) => ap.Tensor, make: () => ap.Tensor[]): void {
  it(title, () => {
    ap.tidy(() => {
      const r = assertGradcheck(fn, make(), { tol: TOL });
      assert.ok(r.checked > 0);
    });
  });
}

describe('gradient checks (f64, cpu)', () => {
  const shapes: [number[], number[]][] = [[[7], [7]], [[2, 3, 4, 5], [5]], [[3, 5], [2, 3, 5]], [[2, 3], []], [[4, 1, 3], [1, 3]]];
  for (const [sa, sb] of shapes) {
    check(`add [${sa}] + [${sb}]`, (a, b) => ap.add(a, b), () => [input(sa, 1), input(sb, 2)]);
    check(`sub [${sa}] - [${sb}]`, (a, b) => ap.sub(a, b), () => [input(sa, 3), input(sb, 4)]);
    check(`mul [${sa}] * [${sb}]`, (a, b) => ap.mul(a, b), () => [input(sa, 5), input(sb, 6)]);
    check(`div [${sa}] / [${sb}]`, (a, b) => ap.div(a, b), () => [input(sa, 7), awayFromZero(sb, 8)]);
  }
  check('scale / mulScalar', (x) => ap.mulScalar(ap.scale(x, -1.5), 0.25), () => [input([3, 4], 9)]);
  check('addScalar and number operands', (x) => x.addScalar(0.7).sub(2).add(1).mul(3).div(4), () => [input([11], 10)]);
  check('neg', (x) => ap.neg(x), () => [input([5, 2], 11)]);
  check('silu', (x) => ap.silu(x), () => [input([2, 3, 3, 5], 12, -6, 6)]);
  check('sigmoid', (x) => ap.sigmoid(x), () => [input([2, 3, 3, 5], 13, -6, 6)]);
  check('relu', (x) => ap.relu(x), () => [awayFromZero([4, 7], 14)]);
  check('exp', (x) => ap.exp(x), () => [input([13], 15)]);
  check('log', (x) => ap.log(x), () => [input([13], 16, 0.1, 5)]);
  check('square', (x) => ap.square(x), () => [input([3, 3], 17)]);
  for (const axes of [[], [0], [-1], [0, 1, 2], [1, 2], [0, 2]]) {
    for (const keep of [false, true]) {
      check(`sum over [${axes}] keepdims=${keep}`, (x) => ap.sum(x, axes, keep), () => [input([2, 3, 4, 5], 18)]);
      check(`mean over [${axes}] keepdims=${keep}`, (x) => ap.mean(x, axes, keep), () => [input([2, 3, 4, 5], 19)]);
    }
  }
  check('reshape', (x) => x.reshape([6, -1]).silu(), () => [input([2, 3, 4], 20)]);
  check('slice0', (x) => x.slice0(1, 2).square(), () => [input([4, 3, 2], 21)]);
  check('concat0 of three', (a, b, c) => ap.concat0([a, b.square(), c]), () => [input([1, 3], 22), input([2, 3], 23), input([3, 3], 24)]);
  check('concat0 of a tensor with itself', (a) => ap.concat0([a, a.exp()]), () => [input([2, 2], 25)]);
  check('clone', (x) => ap.clone(x).square(), () => [input([5], 26)]);
  check('cast f64 -> f64', (x) => ap.cast(x, 'f64').square(), () => [input([5], 27)]);
  check('a composite: silu(x * g + b) summed over H, W', (x, g, b) => ap.mean(ap.silu(x.mul(g).add(b)), [1, 2]),
    () => [input([2, 3, 3, 5], 28), input([5], 29), input([5], 30)]);

  it('cast f64 -> f32 -> f64 passes the gradient through (checked at f32 precision)', () => {
    ap.tidy(() => {
      // The f32 round trip quantises the loss, so differences need a large step: with eps = 1e-2
      // on inputs of size ~2 the f32 rounding contributes ~2^-24 * 2 / 1e-2 ≈ 1e-5.
      const r = gradcheck((x) => ap.cast(ap.cast(x, 'f32'), 'f64').scale(3), [input([9], 31)], { eps: 1e-2 });
      assert.ok(r.maxRelError < 1e-4, `max relative error ${r.maxRelError}`);
    });
  });

  it('gradcheck catches a wrong gradient rule', () => {
    ap.tidy(() => {
      // x * x recorded with the rule of 3x: the checker must fail it.
      const wrong = (x: ap.Tensor): ap.Tensor => {
        const y = ap.noGrad(() => x.square());
        return ap.autograd.record(y, 'wrongSquare', [x], [x], (dy) => [ap.kernels.scale(dy, 3)]);
      };
      const r = gradcheck(wrong, [input([6], 32)]);
      assert.ok(r.maxRelError > 0.1, `expected a failure, got ${r.maxRelError}`);
      assert.throws(() => assertGradcheck(wrong, [input([6], 33)]), /gradcheck failed/);
    });
  });

  it('gradcheck fails a rule that returns NaN, and a loss that is NaN around the input', () => {
    ap.tidy(() => {
      const nanRule = (x: ap.Tensor): ap.Tensor => {
        const y = ap.noGrad(() => x.square());
        return ap.autograd.record(y, 'nanSquare', [x], [], (dy) => [ap.kernels.scale(dy, NaN)]);
      };
      const r = gradcheck(nanRule, [input([6], 34)]);
      assert.equal(r.maxRelError, Infinity);
      assert.throws(() => assertGradcheck(nanRule, [input([6], 35)]), /gradcheck failed/);
      // log of negative inputs: the numeric derivative is NaN while the rule's 1/x is finite.
      assert.throws(() => assertGradcheck((x) => ap.log(x), [input([4], 36, -2, -1)]), /gradcheck failed/);
    });
  });

  it('rejects f32 inputs', () => {
    ap.tidy(() => {
      assert.throws(() => gradcheck((x) => x.square(), [ap.ones([2])]), (e: unknown) => e instanceof ap.AdvpropError && e.code === 'ERR_DTYPE');
    });
  });
});
