// Every kernel on cuda-sim and cuda against the CPU (the specification) on awkward sizes: odd,
// prime, not multiples of a block, and NHWC tensors with C = 3, 5, 17. Arithmetic that IEEE
// rounds exactly must agree bit for bit; transcendental functions may differ by a few ulp.
// Kernel families covered: elementwise (native/{cpu,cuda}/elementwise.*), reduce and random.
import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import type { UnaryOpName } from '../lib/native.js';
import { backendStatus } from '../lib/testing/backends.js';
import { assertClose, assertSame, hostRandom, numel } from './helpers.js';

const SIZES: number[][] = [[1], [7], [97], [1000], [4099], [2, 5, 3, 3], [3, 7, 5, 5], [1, 9, 11, 17], [2, 13, 1, 17]];
const EXACT_UNARY: UnaryOpName[] = ['scale', 'addScalar', 'neg', 'relu', 'square'];
const LIBM_UNARY: UnaryOpName[] = ['silu', 'sigmoid', 'exp', 'log'];

function host(shape: number[], seed: number, lo = -3, hi = 3): Float32Array {
  return Float32Array.from(hostRandom(numel(shape), seed, lo, hi));
}

for (const b of backendStatus().filter((s) => s.backend !== 'cpu')) {
  describe(`${b.backend} against cpu`, () => {
    if (!b.available) {
      it.skip(`${b.backend}: skipped (${b.reason})`);
      return;
    }
    const dev = b.device!;
    /** Runs fn on cpu and on dev with the same host inputs and returns both outputs. */
    const both = (fn: (device: string) => ap.Tensor): [Float32Array | Float64Array | Int32Array | Uint8Array, Float32Array | Float64Array | Int32Array | Uint8Array] =>
      ap.tidy(() => [fn('cpu').toArray(), fn(dev).toArray()]);

    for (const shape of SIZES) {
      const n = numel(shape);
      const c = shape[shape.length - 1];
      it(`binary ops on [${shape}]: same shape, [C] and scalar operands, either side`, () => {
        const ha = host(shape, n), hb = host(shape, n + 1, 0.5, 2), hc = host([c], n + 2, 0.5, 2), hs = host([], n + 3, 0.5, 2);
        for (const op of ['add', 'sub', 'mul', 'div'] as const) {
          const cases: [Float32Array, number[], Float32Array, number[]][] = [
            [ha, shape, hb, shape], [ha, shape, hc, [c]], [hc, [c], ha, shape], [ha, shape, hs, []], [hs, [], ha, shape],
          ];
          for (const [x, xs, y, ys] of cases) {
            const [cpu, other] = both((d) => ap.kernels.binary(op, ap.tensor(x, xs, { device: d }), ap.tensor(y, ys, { device: d })));
            assertSame(other, cpu, `${op} [${xs}] with [${ys}]`);
          }
        }
      });

      it(`unary ops and their backward on [${shape}]`, () => {
        const hx = host(shape, n + 4), hpos = host(shape, n + 5, 0.01, 9), hdy = host(shape, n + 6);
        for (const op of [...EXACT_UNARY, ...LIBM_UNARY]) {
          const x = op === 'log' ? hpos : hx;
          const alpha = op === 'scale' ? -1.3 : op === 'addScalar' ? 0.7 : 0;
          const [cpu, other] = both((d) => ap.kernels.unary(op, ap.tensor(x, shape, { device: d }), alpha));
          const [cpuB, otherB] = both((d) => ap.kernels.unaryBackward(op, ap.tensor(x, shape, { device: d }), ap.tensor(hdy, shape, { device: d }), alpha));
          if (EXACT_UNARY.includes(op)) {
            assertSame(other, cpu, `${op} forward`);
            assertSame(otherB, cpuB, `${op} backward`);
          } else {
            // Different exp/log implementations: a few ulp of f32 (1e-6 ≈ 16 ulp).
            assertClose(other, cpu, 1e-6, `${op} forward`);
            assertClose(otherB, cpuB, 1e-6, `${op} backward`);
          }
        }
      });

      it(`sum / mean over axes and sumToShape on [${shape}]`, () => {
        const hx = host(shape, n + 7);
        const rank = shape.length;
        const axesList = rank === 4 ? [[], [0, 1, 2], [1, 2], [3], [0, 2], [0]] : [[], [0]];
        for (const axes of axesList) {
          for (const mean of [false, true]) {
            const [cpu, other] = both((d) => (mean ? ap.kernels.mean : ap.kernels.sum)(ap.tensor(hx, shape, { device: d }), axes, true));
            // Both accumulate in double; only the final rounding to f32 may differ.
            assertClose(other, cpu, 1e-7, `${mean ? 'mean' : 'sum'} over [${axes}]`);
          }
        }
        const [cpu, other] = both((d) => ap.kernels.sumToShape(ap.tensor(hx, shape, { device: d }), [c]));
        assertClose(other, cpu, 1e-7, 'sumToShape to [C]');
      });

      it(`fill, cast, copies and batch-axis ops on [${shape}]`, () => {
        const hx = host(shape, n + 8, -1e9, 1e9);
        let [cpu, other] = both((d) => ap.kernels.fill(shape, -2.5, 'f32', d));
        assertSame(other, cpu, 'fill');
        for (const [from, to] of [['f32', 'i32'], ['i32', 'f32']] as const) {
          [cpu, other] = both((d) => ap.kernels.cast(ap.kernels.cast(ap.tensor(hx, shape, { device: d }), from), to));
          assertSame(other, cpu, `cast ${from} -> ${to}`);
        }
        if (shape.length > 1) {
          [cpu, other] = both((d) => {
            const x = ap.tensor(hx, shape, { device: d });
            return ap.kernels.concat0([ap.kernels.slice0(x, 0, 1), x, ap.kernels.slice0Backward(ap.kernels.slice0(x, shape[0] - 1, 1), 2, 1)]);
          });
          assertSame(other, cpu, 'concat0 / slice0 / slice0Backward');
        }
      });
    }

    it('a training-like chain with backward gives the same gradients', () => {
      const run = (d: string): number[][] => ap.tidy(() => {
        const x = ap.randn([4, 5, 5, 17], { device: d, seed: 3 });
        const w = ap.randn([17], { device: d, seed: 4, requiresGrad: true });
        const bias = ap.randn([17], { device: d, seed: 5, requiresGrad: true });
        const { value, grads } = ap.valueAndGrad(() => x.mul(w).add(bias).silu().mean([1, 2]).square().mean(), [w, bias, x]);
        return [[value.item()], ...grads.map((g) => Array.from(g.toArray()))];
      });
      const cpu = run('cpu');
      const other = run(dev);
      assert.equal(other.length, cpu.length);
      cpu.forEach((ref, i) => assertClose(other[i], ref, 1e-6, `output ${i}`));
    });
  });
}
