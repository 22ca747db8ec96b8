// The tensor-core GEMM (native/cuda/gemm_tc.cu; its cpu twin is native/cpu/gemm_tc.cc behind the
// same cpu::gemm entry) through linear: bf16, f16 and tf32 on cuda-sim and cuda against the cpu.
// Both sum the exact products in f32 in different orders, so they agree to the f32 sum's error
// and then one 16-bit rounding (normwise: 2^-8 bf16, 2^-11 f16, 1e-5 tf32 with f32 output).
import { strict as assert } from 'node:assert';
import * as ap from '../lib/index.js';
import { backendStatus } from '../lib/testing/backends.js';
import { assertClose } from './helpers.js';

const SHAPES: [number, number, number][] = [[1, 1, 1], [17, 33, 9], [64, 40, 130], [5, 200, 48]];

describe('gemm_tc: tensor-core GEMM against its cpu twin', () => {
  for (const b of backendStatus().filter((s) => s.backend !== 'cpu')) {
    for (const p of ['bf16', 'fp16', 'tf32'] as const) {
      it(`${p} linear on ${b.backend} equals the cpu within the f32 sum's error`, function () {
        if (!b.available) { console.log(`    - skipped: ${b.backend}: ${b.reason}`); this.skip(); }
        for (const [m, n, k] of SHAPES) {
          const run = (device: string): Float32Array => ap.tidy(() => {
            const x = ap.rand([m, k], { device, seed: m + k, lo: -1, hi: 1 });
            const w = ap.rand([n, k], { device, seed: n + k, lo: -1, hi: 1 });
            return Float32Array.from(ap.autocast(p, () => ap.linear(x, w)).cast('f32').toArray() as Float32Array);
          });
          const tol = p === 'bf16' ? 2 ** -8 : p === 'fp16' ? 2 ** -11 : 1e-5;
          const [cpu, dev] = [run('cpu'), run(b.device!)];
          assert.equal(dev.length, m * n);
          assertClose(dev, cpu, tol, `${p} [${m}x${k}]·[${n}x${k}]ᵀ on ${b.backend}`);
        }
      });
    }
  }
});
