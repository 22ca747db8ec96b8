// One process of test/distributed/bn_none.test.ts. 'ranks' (under mpirun): the Trainer with
// --bn-sync none on this rank's shard; every rank writes its weights and BN statistics.
// 'reference' (alone): the same steps written out by hand for the whole global batch, each
// rank's half-batch attacked, normalised and differentiated on its own, then the gradients and
// the running statistics averaged as the ranks average them.
// argv: MODE OUT_PREFIX PER_RANK_BATCH RANKS STEPS
import { writeFileSync } from 'node:fs';
import * as ap from '../../lib/index.js';
import { tinyModel } from './tiny_model.js';

const [mode, out, batchArg, ranksArg, stepsArg] = process.argv.slice(2);
const batch = Number(batchArg), ranks = Number(ranksArg), steps = Number(stepsArg);
const LR = 0.01, LABEL_SMOOTHING = 0.1;
const w = ap.dist.init();
ap.manualSeed(3);
const model = tinyModel(0);
const train = ap.data.limitDataset(ap.data.openDataset('data/fashion-mnist', 'train'), 512);
const shard = mode === 'ranks' ? { rank: w.rank, size: w.size } : { rank: 0, size: 1 };
const loader = new ap.data.DataLoader(train, {
  batchSize: mode === 'ranks' ? batch : batch * ranks, seed: 7, workers: 0,
  transforms: [{ name: 'randomCrop', padding: 2 }, { name: 'hflip' }], shard,
});
const attack = { epsilon: 1, steps: 1, stepSize: 1, norm: 'linf', randomStart: false, domain: 1, bnMode: 'train-frozen', target: 'true' } as const;

function dump(file: string): void {
  const state: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(model.stateDict())) state[k] = Array.from(t.toArray() as Float32Array);
  writeFileSync(file, JSON.stringify({ world: w.size, state }));
}

if (mode === 'ranks') {
  const trainer = new ap.train.Trainer(model, {
    method: 'advprop', optimizer: 'rmsprop', lr: LR, precision: 'fp32', ema: false, bnSync: 'none',
    labelSmoothing: LABEL_SMOOTHING, ...{ epsilon: 1, attackSteps: 1, attackStepSize: 1 },
  });
  for await (const b of loader.epoch(0)) {
    if (b.index >= steps) break;
    trainer.step({ x: b.x, shape: b.shape, y: b.y });
  }
  dump(`${out}.rank${w.rank}.json`);
} else {
  // The Trainer's RMSProp (TensorFlow's form) over the same parameters.
  const params = model.parameters();
  const opt = new ap.optim.RMSProp(params, { lr: LR, weightDecay: 1e-5, decayMask: ap.train.decayMask(model), rho: 0.9, momentum: 0.9, eps: 1e-3 });
  const buffers = model.namedBuffers().map(([, b]) => b);
  const copyInto = (dst: ap.Tensor[], src: ap.Tensor[]): void => ap.kernels.emaUpdate(dst, src, 0);
  for await (const b of loader.epoch(0)) {
    if (b.index >= steps) break;
    model.train();
    const x = ap.tensor(b.x, b.shape, { device: 'cpu' });
    const before = buffers.map((t) => ap.clone(t));
    let gradSum: ap.Tensor[] | null = null, statSum: ap.Tensor[] | null = null;
    for (let r = 0; r < ranks; r++) {
      copyInto(buffers, before); // every rank starts the step from the same running statistics
      const xr = ap.slice0(x, r * batch, batch), yr = b.y.subarray(r * batch, (r + 1) * batch);
      const xAdv = ap.attack.pgd(model, xr, yr, attack);
      const { value, grads } = ap.valueAndGrad(() => {
        const logits = model.forward(ap.concat0([xr, xAdv]), { segments: [[0, batch], [1, batch]] });
        const lc = ap.crossEntropy(ap.slice0(logits, 0, batch), yr, { labelSmoothing: LABEL_SMOOTHING });
        const la = ap.crossEntropy(ap.slice0(logits, batch, batch), yr, { labelSmoothing: LABEL_SMOOTHING });
        return ap.add(ap.mulScalar(lc, 1), ap.mulScalar(la, 1));
      }, params);
      value.dispose();
      ap.dispose([xr, xAdv]);
      // Summed in rank order, as MPI_Reduce_scatter_block does for two ranks (f32 addition commutes).
      const stats = buffers.map((t) => ap.clone(t));
      gradSum = gradSum ? accumulate(gradSum, grads) : grads;
      statSum = statSum ? accumulate(statSum, stats) : stats;
    }
    // The mean: the sum times 1/2, which is exactly comm.cc's division by the world size of 2.
    const gradMean = gradSum!.map((g) => ap.mulScalar(g, 1 / ranks));
    const statMean = statSum!.map((s) => ap.mulScalar(s, 1 / ranks));
    copyInto(buffers, statMean);
    opt.step(gradMean);
    ap.dispose([x, ...before, ...gradSum!, ...statSum!, ...gradMean, ...statMean]);
  }
  dump(`${out}.json`);
}
loader.close();

function accumulate(sum: ap.Tensor[], add: ap.Tensor[]): ap.Tensor[] {
  const out = sum.map((s, i) => ap.add(s, add[i]!));
  ap.dispose([...sum, ...add]);
  return out;
}
