// ap.cudaGraph: a captured training step (forward, backward, SGD, EMA) replayed with new data in
// its static input matches the eager step bit for bit; the graph's private pool keeps eager
// tensors out of its memory; a host read-back inside a capture fails cleanly. cuda-sim records
// and replays stream captures (native/sim/graph.cc), so all of this runs without a GPU.
import assert from 'node:assert/strict';
import * as ap from '../lib/index.js';
import { backendStatus } from '../lib/testing/backends.js';
import { assertSame, expectCode, hostRandom } from './helpers.js';

const N = 6, IN = 10, HID = 12, OUT = 4;

interface Model { params: ap.Tensor[]; opt: ap.optim.SGD; ema: ap.optim.ExponentialMovingAverage }

function makeModel(device: string): Model {
  const shapes = [[HID, IN], [HID], [OUT, HID], [OUT]];
  const params = shapes.map((s, i) => ap.keep(ap.tensor(Float32Array.from(hostRandom(s.reduce((a, b) => a * b, 1), 100 + i, -0.5, 0.5)), s, { device })));
  const opt = new ap.optim.SGD(params, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 });
  const ema = new ap.optim.ExponentialMovingAverage(params, { decay: 0.9, warmup: false });
  return { params, opt, ema };
}

function lossOf(m: Model, x: ap.Tensor, labels: ap.Tensor): ap.Tensor {
  const [w1, b1, w2, b2] = m.params;
  return ap.crossEntropy(ap.linear(ap.relu(ap.linear(x, w1, b1)), w2, b2), labels);
}

/** One training step; returns the loss, a tensor the caller owns. */
function step(m: Model, x: ap.Tensor, labels: ap.Tensor): ap.Tensor {
  return ap.tidy(() => {
    const { value, grads } = ap.valueAndGrad(() => lossOf(m, x, labels), m.params);
    m.opt.step(grads);
    m.ema.update();
    return value;
  });
}

const batch = (device: string, k: number) => ap.tensor(Float32Array.from(hostRandom(N * IN, 7 + k, -2, 2)), [N, IN], { device });

function sameModel(a: Model, b: Model, label: string): void {
  a.params.forEach((p, i) => assertSame(b.params[i].toArray(), p.toArray(), `${label}: param ${i}`));
  a.ema.tensors().forEach((t, i) => assertSame(b.ema.tensors()[i].toArray(), t.toArray(), `${label}: ema ${i}`));
}

for (const b of backendStatus().filter((s) => s.backend !== 'cpu')) {
  describe(`ap.cudaGraph [${b.backend}]`, () => {
    if (!b.available) {
      it.skip(`${b.backend}: skipped (${b.reason})`);
      return;
    }
    const device = b.device!;

    it('replays a captured SGD + EMA step bit-identically to eager steps on new data', () => {
      ap.tidy(() => {
        const eager = makeModel(device), graphed = makeModel(device);
        const labels = ap.tensor(Int32Array.from([0, 1, 2, 3, 1, 2]), [N], { device, dtype: 'i32' });
        const input = ap.zeros([N, IN], { device });  // the graph's static input
        // Warm-up: one eager step each, so lazy state (momentum buffers) exists before capture.
        ap.copyInto(input, batch(device, 0));
        step(eager, batch(device, 0), labels).dispose();
        step(graphed, input, labels).dispose();
        ap.copyInto(input, batch(device, 1));
        const g = ap.cudaGraph.capture(device, () => step(graphed, input, labels));
        try {
          // Nothing ran during the capture.
          assertSame(graphed.params[0].toArray(), eager.params[0].toArray(), 'params untouched by the capture');
          for (let k = 1; k <= 4; k++) {
            if (k > 1) ap.copyInto(input, batch(device, k));
            // Eager tensors made between capture and replay, in sizes the step freed during the
            // capture: the graph's private pool must not hand them its blocks.
            const eagerLoss = step(eager, batch(device, k), labels);
            const bystanders = ap.valueAndGrad(() => lossOf(eager, batch(device, 99), labels), eager.params).grads;
            const snapshot = bystanders.map((t) => t.toArray());
            g.replay();
            bystanders.forEach((t, i) => assertSame(t.toArray(), snapshot[i], `step ${k}: eager tensor ${i} overwritten by the replay`));
            assertSame(g.result.toArray(), eagerLoss.toArray(), `step ${k}: loss`);
            sameModel(eager, graphed, `step ${k}`);
          }
        } finally {
          g.dispose();
        }
        assert.equal(g.isDisposed, true);
        expectCode(() => g.replay(), 'ERR_DISPOSED', 'disposed');
        // The graph's outputs outlive it, and eager steps go on.
        assert.equal(g.result.isDisposed, false);
        step(eager, batch(device, 5), labels).dispose();
        for (const m of [eager, graphed]) {
          m.opt.dispose();
          m.ema.dispose();
          ap.dispose(m.params);
        }
      });
    });

    it('random draws (dropout, drop-connect, PGD random start, randn) under 3 replays match 3 eager steps', () => {
      // The attack's start (l2 and linf), dropout and drop-connect each take a Philox key; a replay
      // must draw at the global offset of its own step, not repeat the captured one.
      const stepWithDraws = (m: Model, x: ap.Tensor, labels: ap.Tensor) => ap.tidy(() => {
        const xa = ap.pgdRandomStart(x, { eps: 0.3, norm: 'l2', min: -3, max: 3 });
        const xb = ap.pgdRandomStart(x, { eps: 0.1, norm: 'linf' });
        const noise = ap.randn([N, IN], { device, std: 0.01 });
        const { value, grads } = ap.valueAndGrad(() => {
          const [w1, b1, w2, b2] = m.params;
          const h = ap.dropout(ap.relu(ap.linear(xa.add(xb).add(noise), w1, b1)), 0.3);
          return ap.crossEntropy(ap.linear(ap.dropConnect(h, 0.2), w2, b2), labels);
        }, m.params);
        m.opt.step(grads);
        m.ema.update();
        return value;
      });
      ap.tidy(() => {
        const eager = makeModel(device), graphed = makeModel(device);
        const labels = ap.tensor(Int32Array.from([3, 1, 0, 2, 2, 1]), [N], { device, dtype: 'i32' });
        const input = ap.zeros([N, IN], { device });
        ap.manualSeed(11);
        ap.copyInto(input, batch(device, 0));
        step(graphed, input, labels).dispose();
        const start = ap.getRngState();
        const g = ap.cudaGraph.capture(device, () => stepWithDraws(graphed, input, labels));
        assert.deepEqual(ap.getRngState(), start, 'a capture draws nothing');
        ap.manualSeed(11);
        step(eager, batch(device, 0), labels).dispose();
        const eagerLosses: number[][] = [];
        for (let k = 1; k <= 3; k++) eagerLosses.push(Array.from(stepWithDraws(eager, batch(device, 0), labels).toArray()));
        const eagerEnd = ap.getRngState();
        ap.setRngState(start);
        for (let k = 1; k <= 3; k++) {
          g.replay();
          assertSame(g.result.toArray(), eagerLosses[k - 1], `replay ${k}: loss`);
        }
        assert.deepEqual(ap.getRngState(), eagerEnd, 'replays advance the generator as eager steps do');
        sameModel(eager, graphed, 'after 3 replays');
        // A replay that repeated the captured masks would have matched only the first step.
        assert.notDeepEqual(eagerLosses[1], eagerLosses[0]);
        ap.manualSeed(12);
        expectCode(() => g.replay(), 'ERR_ARG', 'seed changed');
        expectCode(() => ap.cudaGraph.capture(device, () => ap.dropout(input, 0.5, { seed: 1 })), 'ERR_ARG', 'explicit');
        g.dispose();
        for (const m of [eager, graphed]) {
          m.opt.dispose();
          m.ema.dispose();
          ap.dispose(m.params);
        }
      });
    });

    it('a host read-back inside a capture is ERR_CUDA, aborts the capture, and eager ops work after it', () => {
      ap.tidy(() => {
        const x = ap.ones([3], { device });
        expectCode(() => ap.cudaGraph.capture(device, () => x.add(x).toArray()), 'ERR_CUDA', 'inside a CUDA graph capture');
        expectCode(() => ap.cudaGraph.capture(device, () => ap.tensor([1, 2, 3], [3], { device })), 'ERR_CUDA', 'copy_from_host');
        expectCode(() => ap.cudaGraph.capture(device, () => ap.synchronize(device)), 'ERR_CUDA', 'synchronize');
        assert.deepEqual(Array.from(x.add(x).toArray()), [2, 2, 2]);
        // An error thrown by fn aborts the capture too; the next capture starts clean.
        assert.throws(() => ap.cudaGraph.capture(device, () => { throw new Error('boom'); }), /boom/);
        const g = ap.cudaGraph.capture(device, () => x.mul(x));
        g.replay();
        assert.deepEqual(Array.from(g.result.toArray()), [1, 1, 1]);
        g.dispose();
      });
    });

    it('refuses nested captures and bad copyInto arguments', () => {
      ap.tidy(() => {
        const x = ap.ones([2, 3], { device });
        expectCode(() => ap.cudaGraph.capture(device, () => ap.cudaGraph.capture(device, () => x.add(x))), 'ERR_ARG', 'already capturing');
        expectCode(() => ap.copyInto(x, ap.ones([3, 2], { device })), 'ERR_SHAPE', 'copyInto');
        expectCode(() => ap.copyInto(x, ap.ones([2, 3], { device, dtype: 'f64' })), 'ERR_DTYPE', 'copyInto');
        ap.copyInto(x, ap.full([2, 3], 4, { device: 'cpu' }));
        assert.deepEqual(Array.from(x.toArray()), [4, 4, 4, 4, 4, 4]);
      });
    });
  });
}

describe('ap.cudaGraph [cpu]', () => {
  it('cpu has no CUDA graphs: ERR_DEVICE', () => {
    expectCode(() => ap.cudaGraph.capture('cpu', () => null), 'ERR_DEVICE', 'no CUDA graphs');
  });
});
