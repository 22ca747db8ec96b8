// The memory-bound CUDA kernels move 16-byte packs (4 f32, 8 bf16/f16, 2 f64; native/cuda/common.cuh)
// when the channel count is a multiple of the pack and the pointers are 16-byte aligned, and go
// element by element otherwise. Both paths must give the same bits: each op runs here on aligned
// tensors (the pack path) and on the same values in views one element into a buffer (misaligned,
// the element path), in every float dtype, and its outputs are compared bit for bit; the cpu
// twin's outputs too where they are defined to be bit-equal (the elementwise ops).
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { backendStatus } from '../../lib/testing/backends.js';
import { hostRandom, numel } from '../helpers.js';

type DT = 'f32' | 'f64' | 'bf16' | 'f16';
const DTYPES: DT[] = ['f32', 'bf16', 'f16', 'f64'];
const k = ap.kernels;

/** The values as a tensor at the start of its storage (aligned), or one element into it. */
function make(values: Float64Array, shape: readonly number[], dtype: DT, device: string, misaligned: boolean): ap.Tensor {
  if (!misaligned) return ap.tensor(Float64Array.from(values), shape, { dtype, device });
  const base = ap.tensor(Float64Array.from([0, ...values]), [values.length + 1], { dtype, device });
  return ap.noGrad(() => ap.reshape(ap.slice0(base, 1, values.length), shape));
}

const bits = (t: ap.Tensor | null): number[] => Array.from(t!.toArray() as ArrayLike<number>, (v) => (Object.is(v, -0) ? -Infinity : v));

for (const b of backendStatus().filter((s) => s.backend !== 'cpu')) {
  describe(`16-byte pack paths equal the element paths [${b.backend}]`, () => {
    if (!b.available) {
      it.skip(`${b.backend}: skipped (${b.reason})`);
      return;
    }
    const device = b.device!;
    // C = 24: a multiple of every pack (8 for 16-bit types); H*W odd so rows do not line up with packs.
    const N = 4, H = 3, W = 5, C = 24;
    const xs = [N, H, W, C], n = numel(xs);
    const x0 = hostRandom(n, 1, -2, 2), dy0 = hostRandom(n, 2, -1, 1), s0 = hostRandom(N * C, 3, -1.5, 1.5), r0 = hostRandom(n, 4, -1, 1);

    for (const dtype of DTYPES) {
      it(`multiBatchNorm forward and backward (train, SiLU; eval), ${dtype}`, () => {
        ap.tidy(() => {
          const pd = dtype === 'f64' ? 'f64' : 'f32';
          const params = () => ({
            gamma: ap.tensor(hostRandom(2 * C, 5, 0.5, 1.5), [2, C], { dtype: pd, device }), beta: ap.tensor(hostRandom(2 * C, 6, -0.5, 0.5), [2, C], { dtype: pd, device }),
            runningMean: ap.zeros([2, C], { dtype: pd, device }), runningVar: ap.ones([2, C], { dtype: pd, device }),
          });
          const segs: [number, number][] = [[0, 2], [1, 2]];
          const run = (mis: boolean) => {
            const x = make(x0, xs, dtype, device, mis), dy = make(dy0, xs, dtype, device, mis), p = params();
            const out: number[][] = [];
            for (const mode of ['train', 'eval'] as const) {
              const f = k.multiBatchNorm(x, p, segs, { mode, act: 'silu' });
              const g = k.multiBatchNormBackward(dy, x, p, f.mean, f.invstd, segs, { mode, act: 'silu' });
              out.push(bits(f.y), bits(f.mean), bits(f.invstd), bits(g.dx), bits(g.dgamma), bits(g.dbeta), bits(p.runningMean), bits(p.runningVar));
            }
            return out;
          };
          const packed = run(false), plain = run(true);
          packed.forEach((v, i) => assert.deepEqual(plain[i], v, `output ${i}`));
        });
      });

      it(`globalAvgPool backward, channelScale forward and backward, channelScaleAdd, ${dtype}`, () => {
        ap.tidy(() => {
          const run = (mis: boolean) => {
            const x = make(x0, xs, dtype, device, mis), dy = make(dy0, xs, dtype, device, mis);
            const s = make(s0, [N, C], dtype, device, mis), bb = make(s0.map((v) => v / 3), [N, C], dtype, device, mis);
            const back = k.channelScaleBackward(x, s, dy);
            return [bits(k.globalAvgPoolBackward(s, xs)), bits(k.channelScale(x, s)), bits(back.dx), bits(back.ds), bits(k.channelScaleAdd(x, s, bb))];
          };
          const packed = run(false), plain = run(true);
          packed.forEach((v, i) => assert.deepEqual(plain[i], v, `output ${i}`));
          const cpu = ap.tensor(Float64Array.from(x0), xs, { dtype }), cs = ap.tensor(Float64Array.from(s0), [N, C], { dtype });
          assert.deepEqual(packed[1], bits(k.channelScale(cpu, cs)), 'channelScale against the cpu twin');
        });
      });

      it(`dropout, dropConnect and dropConnectAdd, ${dtype}`, () => {
        ap.tidy(() => {
          const run = (mis: boolean, dev: string) => {
            const x = make(x0, xs, dtype, dev, mis && dev !== 'cpu'), r = make(r0, xs, dtype, dev, mis && dev !== 'cpu');
            return [bits(k.dropoutMask(x, 0.3, 11, 5)), bits(k.dropConnectMask(x, 0.5, 12, 6)), bits(k.dropConnectAdd(x, r, 0.5, 13, 7))];
          };
          const packed = run(false, device), plain = run(true, device), cpu = run(false, 'cpu');
          packed.forEach((v, i) => {
            assert.deepEqual(plain[i], v, `output ${i}: pack against element path`);
            assert.deepEqual(cpu[i], v, `output ${i}: against the cpu twin`);
          });
          // Each rate keeps some and drops some of the samples, so both branches of each path ran.
          const kept = (v: number[]) => new Set(Array.from({ length: N }, (_, i) => v[i * (n / N)] !== 0)).size;
          assert.equal(kept(packed[1]!), 2, 'dropConnect kept and dropped samples');
        });
      });
    }
  });
}
