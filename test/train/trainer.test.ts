import { strict as assert } from 'node:assert';
import * as ap from '../../lib/index.js';
import { Trainer } from '../../lib/train/trainer.js';
import { pgd } from '../../lib/attack/pgd.js';
import { deviceOf, forEachBackend } from '../../lib/testing/backends.js';

const STAGES: ap.models.StageArgs[] = [
  { repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 8, outFilters: 8, seRatio: 0.25 },
  { repeats: 1, kernel: 3, stride: 2, expand: 4, inFilters: 8, outFilters: 12, seRatio: 0.25 },
];
const tiny = (device: string, o: ap.models.BuildOptions = {}): ap.models.EfficientNet => ap.models.efficientnet('b0', {
  width: 1, depth: 1, stages: STAGES, stemFilters: 8, headFilters: 16, numClasses: 4, inChannels: 1, domains: 2,
  dropout: 0, dropConnect: 0, seed: 3, device, ...o,
});

function batch(n: number, seed: number): { x: Float32Array; shape: [number, number, number, number]; y: Int32Array } {
  const x = new Float32Array(n * 12 * 12);
  let s = seed;
  for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = (s >>> 8) / 16777216; }
  const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 4);
  // Make the classes separable: a bright patch whose place depends on the label.
  y.forEach((l, i) => { for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) x[i * 144 + (l * 3 + r) * 12 + c + 2] = 1; });
  return { x, shape: [n, 12, 12, 1], y };
}


function stats(m: ap.models.EfficientNet): number[][] {
  return m.namedModules().flatMap(([, mod]) => (mod instanceof ap.nn.DualBatchNorm2d
    ? [[...mod.buffer('running_mean').toArray()], [...mod.buffer('running_var').toArray()]] : []));
}

describe('train: Trainer and attacks', function () {
  this.timeout(120000);

  it('a few AdvProp steps give the same losses on cpu and cuda-sim', function () {
    const sim = deviceOf('cuda-sim');
    if (!sim) { console.log('    - skipped: no usable cuda-sim in this build or run'); this.skip(); }
    const run = (device: string): number[] => {
      ap.manualSeed(11);
      const t = new Trainer(tiny(device), { lr: 0.01, epsilon: 4, ema: 0.9 });
      const losses: number[] = [];
      for (let s = 0; s < 3; s++) {
        const r = t.step(batch(6, s));
        losses.push(r.cleanLoss!, r.advLoss!);
      }
      t.dispose();
      return losses;
    };
    const a = run('cpu'), b = run(sim!);
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1e-4 * Math.abs(v), `loss ${i}: cpu ${v} cuda-sim ${b[i]}`));
  });

  forEachBackend('Trainer.step with byte images', (device) => {
    it('a Uint8Array batch (normalised on the device) takes the steps of its Float32Array byte / 255, bit for bit', () => {
      const run = (bytes: boolean): number[] => {
        ap.manualSeed(5);
        const t = new Trainer(tiny(device), { lr: 0.01, epsilon: 4, ema: 0.9 });
        const losses: number[] = [];
        for (let s = 0; s < 2; s++) {
          const b = batch(6, s);
          const u8 = Uint8Array.from(b.x, (v) => Math.round(v * 255));
          const r = t.step(bytes ? { x: u8, shape: b.shape, y: b.y } : { x: Float32Array.from(u8, (v) => v / 255), shape: b.shape, y: b.y });
          losses.push(r.loss, r.cleanLoss!, r.advLoss!);
        }
        t.dispose();
        return losses;
      };
      assert.deepEqual(run(true), run(false));
      const t = new Trainer(tiny(device), { lr: 0.01 });
      assert.throws(() => t.step({ x: new Uint8Array(6 * 144), y: new Int32Array(6) }), (e: any) => e.code === 'ERR_ARG' && /a Uint8Array x needs shape \[N, H, W, C\]/.test(e.message));
      t.dispose();
    });
  });

  forEachBackend('pgd', (device) => {
    it('stays within ε, raises the loss, and leaves every running statistic untouched (train-frozen)', () => {
      const m = tiny(device);
      m.train();
      const b = batch(8, 1);
      const x = ap.tensor(b.x, b.shape, { device });
      const before = stats(m);
      const xAdv = pgd(m, x, b.y, { epsilon: 8, steps: 4, stepSize: 2 });
      assert.deepEqual(stats(m), before, 'an attack changed running statistics');
      const xa = xAdv.toArray(), x0 = x.toArray();
      let maxDiff = 0;
      for (let i = 0; i < xa.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(xa[i]! - x0[i]!));
        assert.ok(xa[i]! >= 0 && xa[i]! <= 1, 'pixel out of [0, 1]');
      }
      assert.ok(maxDiff <= 8 / 255 + 1e-6, `max |δ| = ${maxDiff * 255}/255`);
      assert.ok(maxDiff > 1 / 255, 'the attack did not move');
      const loss = (input: ap.Tensor): number => ap.noGrad(() =>
        ap.crossEntropy(m.forward(input, { segments: [[1, 8]], bnMode: 'train-frozen' }), b.y).item());
      assert.ok(loss(xAdv) > loss(x), `loss ${loss(xAdv)} after the attack, ${loss(x)} before`);
      xAdv.dispose(); x.dispose(); m.dispose();
    });
  });

  it('the clean BN never sees adversarial images, and the auxiliary BN never sees clean ones', () => {
    const b = batch(6, 2);
    const viaTrainer = tiny('cpu');
    const t = new Trainer(viaTrainer, { lr: 1e-9, epsilon: 8, attackSteps: 2, ema: false });
    const before = stats(viaTrainer);
    t.step(b);
    const after = stats(viaTrainer);
    // Domain 0 = the clean half alone: the same update as a clean-only forward of a fresh copy.
    const ref = tiny('cpu');
    ref.train();
    ap.noGrad(() => ref.forward(ap.tensor(b.x, b.shape, { device: 'cpu' }), { segments: [[0, 6]] }).dispose());
    const refStats = stats(ref);
    after.forEach((row, i) => {
      const C = row.length / 2;
      for (let c = 0; c < C; c++) {
        assert.ok(Math.abs(row[c]! - refStats[i]![c]!) <= 1e-5 * (1 + Math.abs(refStats[i]![c]!)), `domain 0 stat ${i}/${c}`);
        // Domain 1 moved (it saw the adversarial half) and differs from the clean update.
        assert.notEqual(row[C + c], before[i]![C + c]);
      }
    });
    t.dispose();
  });

  it('every method takes steps and learns a separable toy problem on cpu', () => {
    for (const method of ['advprop', 'vanilla', 'madry', 'mixed-single-bn', 'adv-finetune'] as const) {
      ap.manualSeed(1);
      const m = tiny('cpu', { domains: method === 'advprop' ? 2 : 1 });
      const t = new Trainer(m, { method, lr: 0.02, epsilon: 2, ema: false, epochs: 2, stepsPerEpoch: 15, warmupEpochs: 0 });
      const first = t.step(batch(16, 0)).loss;
      let last = first;
      for (let s = 1; s < 30; s++) last = t.step(batch(16, s % 5)).loss;
      assert.ok(last < first, `${method}: loss ${first} → ${last}`);
      t.dispose();
    }
  });

  it('a step that fails in its backward or its optimizer update frees everything it made', () => {
    // The step keeps its losses and predictions on the device until the end; a failure before then
    // must not leave them behind.
    const m = tiny('cpu', { domains: 2 });
    const t = new Trainer(m, { method: 'advprop', epsilon: 2, ema: false, lr: 0.01 });
    const b = batch(4, 0);
    t.step(b);
    const orig = m.forward.bind(m);
    (m as any).forward = (inp: ap.Tensor, o: any) => {
      const z = orig(inp, o);
      if (inp.shape[0] !== 8) return z; // the attack's forward passes; the 2N training pass fails
      const out = ap.noGrad(() => z.clone());
      return ap.autograd.record(out, 'boom', [z], [], () => { throw new ap.AdvpropError('ERR_OOM', 'boom'); }, ['x']);
    };
    const before = ap.memory().numTensors;
    assert.throws(() => t.step(b), (e: any) => e.code === 'ERR_OOM');
    assert.equal(ap.memory().numTensors, before, 'tensors left by the failed backward');
    (m as any).forward = orig;
    const opt = (t as any).optimizer;
    const step = opt.step.bind(opt);
    opt.step = () => { throw new ap.AdvpropError('ERR_CUDA', 'update failed'); };
    assert.throws(() => t.step(b), (e: any) => e.code === 'ERR_CUDA' && /update failed/.test(e.message));
    assert.equal(ap.memory().numTensors, before, 'tensors left by the failed update');
    opt.step = step;
    assert.ok(Number.isFinite(t.step(b).loss));
    t.dispose();
  });

  it('rejects bad options', () => {
    const m = tiny('cpu', { domains: 1 });
    assert.throws(() => new Trainer(m, { method: 'advprop' }), (e: any) => e.code === 'ERR_ARG' && /2 BN domains/.test(e.message));
    assert.throws(() => new Trainer(m, { method: 'magic' as any }), (e: any) => e.code === 'ERR_ARG');
    assert.throws(() => new Trainer(m, { method: 'vanilla', epsilon: -1 }), (e: any) => e.code === 'ERR_ARG');
    const t = new Trainer(m, { method: 'vanilla' });
    const b = batch(4, 0);
    assert.throws(() => t.step({ x: b.x, shape: b.shape, y: Int32Array.of(1, 2) }), (e: any) => e.code === 'ERR_SHAPE');
    t.dispose();
  });
});
