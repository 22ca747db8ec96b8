// dropConnectAdd, the fused MBConv skip connection (native/{cpu,cuda}/dropout.* with a residual):
// against an exact host reference and against the unfused add(dropConnect(h), residual) bit for
// bit, dropped samples giving the residual whatever h holds, the gradient rule, the one key it
// takes, bad arguments at both the op and the raw kernel, and MBConvBlock's use of it.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { assertSame, expectCode, f32, hostRandom, numel } from '../helpers.js';
import { refUniformAt } from '../philox_ref.js';

type Dt = 'f32' | 'f64';

function keptSamples(n: number, rate: number, seed: bigint, offset: bigint): boolean[] {
  return Array.from({ length: n }, (_, s) => refUniformAt(seed, offset, s) <= 1 - rate);
}

// keep ? (h * scale) + r : 0 + r, each step rounded to the dtype. Sums and products of two f32
// values rounded once in double and then to f32 equal the f32 operation, so this is exact.
function refFused(h: Float64Array, r: Float64Array, rate: number, d: number, seed: bigint, offset: bigint, dt: Dt): Float64Array {
  const round = dt === 'f32' ? Math.fround : (v: number) => v;
  const scale = round(1 / (1 - rate));
  const kept = keptSamples(h.length / d, rate, seed, offset);
  return Float64Array.from(h, (v, i) => (kept[Math.floor(i / d)] ? round(round(v * scale) + r[i]) : 0 + r[i]));
}

function hostPair(n: number, seed: number, dt: Dt): [Float64Array, Float64Array] {
  const h = hostRandom(n, seed, -2, 2), r = hostRandom(n, seed + 1000, -2, 2);
  return dt === 'f32' ? [f32(h), f32(r)] : [h, r];
}

// Batch 1, odd and prime sizes, AdvProp's 2N batch, a sample count the CPU's 64 K-element chunks
// cut through the middle of samples ([3, 40009]), rates from 0.05 to 0.9.
const CASES: [number[], number][] = [
  [[1, 7], 0.5], [[1, 3, 3, 2], 0.2], [[3, 5, 7, 2], 0.2], [[16, 3, 3, 5], 0.3], [[5, 1], 0.9],
  [[2, 13, 1, 3], 0.05], [[7, 1031], 0.5], [[3, 40009], 0.4],
];

forEachBackend('dropConnectAdd', (device, backend) => {
  for (const dt of ['f32', 'f64'] as Dt[]) {
    CASES.forEach(([shape, rate], c) => {
      it(`${dt} ${JSON.stringify(shape)} rate ${rate}: the exact reference and add(dropConnect(h), r), bit for bit`, () => {
        ap.tidy(() => {
          const [h, r] = hostPair(numel(shape), 20 + c, dt);
          const H = ap.tensor(h, shape, { device, dtype: dt }), R = ap.tensor(r, shape, { device, dtype: dt });
          const key = { seed: 30 + c, offset: 3 * c };
          const fused = ap.dropConnectAdd(H, R, rate, key).toArray();
          assertSame(fused, refFused(h, r, rate, numel(shape) / shape[0], BigInt(key.seed), BigInt(key.offset), dt), 'vs reference');
          assertSame(fused, ap.add(ap.dropConnect(H, rate, key), R).toArray(), 'vs unfused op');
          const raw = ap.kernels.dropConnectAdd(H, R, rate, key.seed, key.offset).toArray();
          assertSame(raw, ap.kernels.add(ap.kernels.dropConnectMask(H, rate, key.seed, key.offset), R).toArray(), 'raw kernels');
        });
      });
    });

    it(`${dt}: a dropped sample is 0 + residual (inf and NaN in h stay out, -0 becomes +0 as in add)`, () => {
      ap.tidy(() => {
        const shape = [8, 5, 3], d = 15, rate = 0.5, seed = 11n, offset = 2n;
        const kept = keptSamples(8, rate, seed, offset);
        assert.ok(kept.includes(true) && kept.includes(false), `the key should keep some samples and drop others: ${kept}`);
        const [h, r] = hostPair(120, 7, dt);
        for (let i = 0; i < 120; i += 4) h[i] = [Infinity, -Infinity, NaN][(i / 4) % 3];
        for (let i = 1; i < 120; i += 7) r[i] = -0;
        const H = ap.tensor(h, shape, { device, dtype: dt }), R = ap.tensor(r, shape, { device, dtype: dt });
        const out = ap.dropConnectAdd(H, R, rate, { seed, offset }).toArray();
        for (let s = 0; s < 8; s++) {
          const got = out.slice(s * d, (s + 1) * d), res = r.slice(s * d, (s + 1) * d);
          if (!kept[s]) assertSame(got, res.map((v) => 0 + v), `dropped sample ${s}`);
          else assert.ok(got.some((v, j) => !Object.is(v, res[j])), `kept sample ${s} should differ from the residual`);
        }
        assertSame(out, ap.add(ap.dropConnect(H, rate, { seed, offset }), R).toArray(), 'vs unfused');
      });
    });
  }

  it('rate 0 is a plain add and draws nothing; rate > 0 takes exactly the key dropConnect takes', () => {
    ap.tidy(() => {
      const h = ap.randn([4, 3, 2], { device, seed: 1 }), r = ap.randn([4, 3, 2], { device, seed: 2 });
      ap.autograd.resetStats();
      const before = ap.getRngState();
      assertSame(ap.dropConnectAdd(h, r, 0).toArray(), ap.add(h, r).toArray(), 'rate 0');
      assert.deepEqual(ap.getRngState(), before);
      assert.equal(ap.autograd.stats().forwardKernels.dropConnectAdd, undefined, 'rate 0 must not launch the fused kernel');
      const fused = ap.dropConnectAdd(h, r, 0.5).toArray();
      assert.equal(ap.getRngState().offset, before.offset + 1n, 'one key per call');
      ap.setRngState(before);
      assertSame(fused, ap.add(ap.dropConnect(h, 0.5), r).toArray(), 'the same global key as dropConnect');
      assert.deepEqual(ap.getRngState(), { seed: before.seed, offset: before.offset + 1n });
      ap.autograd.resetStats();
    });
  });

  it('backward: dh is the forward mask on dy (one dropConnect kernel), dresidual is dy', () => {
    ap.tidy(() => {
      const shape = [6, 11], rate = 0.4, seed = 9n, offset = 2n;
      const kept = keptSamples(6, rate, seed, offset);
      assert.ok(kept.includes(true) && kept.includes(false), `the key should keep some samples and drop others: ${kept}`);
      const w = f32(hostRandom(66, 6, -1, 1));
      const H = ap.tensor(Float32Array.from(hostRandom(66, 5)), shape, { device, requiresGrad: true });
      const R = ap.tensor(Float32Array.from(hostRandom(66, 8)), shape, { device, requiresGrad: true });
      const W = ap.tensor(Float32Array.from(w), shape, { device });
      ap.autograd.resetStats();
      const [gh, gr] = ap.grad(() => ap.dropConnectAdd(H, R, rate, { seed, offset }).mul(W).sum(), [H, R]);
      const s = ap.autograd.stats();
      const scale = Math.fround(1 / (1 - rate));
      assertSame(gh.toArray(), Float64Array.from(w, (v, i) => (kept[Math.floor(i / 11)] ? Math.fround(v * scale) : 0)), 'dh');
      assertSame(gr.toArray(), w, 'dresidual');
      assert.equal(s.backwardKernels.dropConnect, 1);
      assert.equal(s.backwardKernels.clone, undefined, 'dresidual passes dy on, as add does, without a copy');
      assert.equal(s.inputGrads['dropConnectAdd.h'], 1);
      assert.equal(s.inputGrads['dropConnectAdd.residual'], 1);
      ap.autograd.resetStats();
      const [onlyR] = ap.grad(() => ap.dropConnectAdd(H.detach(), R, rate, { seed, offset }).mul(W).sum(), [R]);
      assertSame(onlyR.toArray(), w, 'dresidual alone');
      assert.equal(ap.autograd.stats().backwardKernels.dropConnect, undefined, 'no mask kernel when h needs no gradient');
      ap.autograd.resetStats();
      ap.dispose([H, R]);
    });
  });

  if (backend !== 'cpu') {
    it('agrees with cpu bit for bit', () => {
      ap.tidy(() => {
        for (const dt of ['f32', 'f64'] as Dt[]) {
          const shape = [9, 7, 5, 3];
          const [h, r] = hostPair(numel(shape), 3, dt);
          const on = (dev: string) => ap.dropConnectAdd(ap.tensor(h, shape, { device: dev, dtype: dt }), ap.tensor(r, shape, { device: dev, dtype: dt }), 0.35, { seed: 5, offset: 1 }).toArray();
          assertSame(on(device), on('cpu'), `${dt} ${backend} vs cpu`);
        }
      });
    });
  }

  describe('bad arguments', () => {
    const op = (h: ap.Tensor, r: ap.Tensor, rate: number) => ap.dropConnectAdd(h, r, rate, { seed: 1 });
    const raw = (h: ap.Tensor, r: ap.Tensor, rate: number) => ap.kernels.dropConnectAdd(h, r, rate, 1, 0);
    for (const [name, fn] of [['op', op], ['raw kernel', raw]] as const) {
      it(`${name}: shapes, dtypes, devices, disposed tensors, rate, non-tensors`, () => {
        ap.tidy(() => {
          const h = ap.zeros([2, 3], { device });
          for (const rate of name === 'op' ? [0, 0.5] : [0.5]) {
            expectCode(() => fn(h, ap.zeros([3, 2], { device }), rate), 'ERR_SHAPE', /dropConnectAdd: 'h' \[2, 3\] and 'residual' \[3, 2\] must have the same shape/);
            expectCode(() => fn(h, ap.zeros([3], { device }), rate), 'ERR_SHAPE', /'residual' \[3\]/);
            expectCode(() => fn(h, ap.zeros([2, 3], { device, dtype: 'f64' }), rate), 'ERR_DTYPE', /dropConnectAdd: 'h' is f32 \[2, 3\] but 'residual' is f64 \[2, 3\]/);
          }
          expectCode(() => fn(ap.zeros([2, 3], { device, dtype: 'i32' }), ap.zeros([2, 3], { device, dtype: 'i32' }), 0.5), 'ERR_DTYPE', /dropConnectAdd/);
          expectCode(() => fn(ap.tensor(1, null, { device }), ap.tensor(2, null, { device }), 0.5), 'ERR_SHAPE', /dropConnectAdd: h must have a batch dimension/);
          for (const r of [-0.1, 1, 1.5, NaN]) expectCode(() => fn(h, h, r), 'ERR_ARG', /dropConnectAdd: 'rate'/);
          expectCode(() => fn(h, h, '0.5' as never), 'ERR_ARG', /'rate'/);
          expectCode(() => fn(null as never, h, 0.5), 'ERR_ARG', /'h'/);
          expectCode(() => fn(h, [1, 2] as never, 0.5), 'ERR_ARG', /'residual'/);
          const gone = ap.zeros([2, 3], { device });
          gone.dispose();
          expectCode(() => fn(gone, h, 0.5), 'ERR_DISPOSED', /'h'/);
          expectCode(() => fn(h, gone, 0.5), 'ERR_DISPOSED', /'residual'/);
          if (device !== 'cpu') {
            const c = ap.zeros([2, 3], { device: 'cpu' });
            expectCode(() => fn(c, h, 0.5), 'ERR_DEVICE', new RegExp(`dropConnectAdd: 'h' is on cpu but 'residual' is on ${device}`));
            if (name === 'op') expectCode(() => fn(h, c, 0), 'ERR_DEVICE', /dropConnectAdd/);
          }
        });
      });
    }
    it('op: offset without seed', () => {
      ap.tidy(() => {
        const h = ap.zeros([2, 3], { device });
        expectCode(() => ap.dropConnectAdd(h, h, 0.5, { offset: 3 }), 'ERR_ARG', /'offset' needs 'seed'/);
      });
    });
  });

  it('MBConvBlock: the skip connection equals add(dropConnect(h), x) with the key it took; eval is a plain add', () => {
    const block = new ap.nn.MBConvBlock({ inChannels: 4, outChannels: 4, kernel: 3, stride: 1, expand: 2, seChannels: 1, dropConnect: 0.5, seed: 3, device });
    try {
      ap.tidy(() => {
        let h: ap.Tensor | null = null;
        const project = block.projectBn.forward.bind(block.projectBn);
        block.projectBn.forward = (t, o) => (h = project(t, o));
        const x = ap.randn([6, 5, 5, 4], { device, seed: 1 });
        block.train();
        ap.setRngState({ seed: 77n, offset: 5n });
        ap.autograd.resetStats();
        const out = block.forward(x, { bnMode: 'train-frozen' });
        assert.deepEqual(ap.getRngState(), { seed: 77n, offset: 6n }, 'one key per block, as before the fusion');
        assert.equal(ap.autograd.stats().forwardKernels.dropConnectAdd, 1);
        const kept = keptSamples(6, 0.5, 77n, 5n);
        assert.ok(kept.includes(true) && kept.includes(false), `the key should keep some samples and drop others: ${kept}`);
        assertSame(out.toArray(), ap.add(ap.dropConnect(h!, 0.5, { seed: 77n, offset: 5n }), x).toArray(), 'train');
        block.eval();
        const evalOut = block.forward(x);
        assert.deepEqual(ap.getRngState(), { seed: 77n, offset: 6n }, 'eval draws nothing');
        assertSame(evalOut.toArray(), ap.add(h!, x).toArray(), 'eval');
        ap.autograd.resetStats();
      });
    } finally {
      block.dispose();
    }
  });
});

describe('dropConnectAdd in f64 (cpu)', () => {
  it('gradient check in both inputs', () => {
    ap.tidy(() => {
      const kept = keptSamples(8, 0.5, 4n, 6n);
      assert.ok(kept.includes(true) && kept.includes(false), `the key should keep some samples and drop others: ${kept}`);
      const h = ap.tensor(hostRandom(40, 12, -1, 1), [8, 5], { dtype: 'f64' });
      const r = ap.tensor(hostRandom(40, 13, -1, 1), [8, 5], { dtype: 'f64' });
      // square() makes each gradient depend on both inputs' values.
      const res = assertGradcheck((a, b) => ap.dropConnectAdd(a, b, 0.5, { seed: 4, offset: 6 }).square(), [h, r], { tol: 1e-6, samples: 40 });
      assert.equal(res.checked, 80);
      assert.equal(res.perInput.length, 2);
    });
  });
});
