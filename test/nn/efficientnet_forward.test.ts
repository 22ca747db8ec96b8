// Whole-model checks that need the issue-4 kernels (multiBatchNorm, globalAvgPool, channelScale,
// dropout, dropConnect): an f64 gradient check of a tiny two-domain EfficientNet, BN train/eval
// behaviour, domain routing, save → load, and B0 on cpu against cuda-sim.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ap from '../../lib/index.js';
import { deviceOf } from '../../lib/testing/backends.js';
import { assertGradcheck } from '../../lib/testing/gradcheck.js';
import { relError } from '../helpers.js';
import { referenceForward } from './efficientnet_reference.js';

const { models, io } = ap;
type Net = ap.models.EfficientNet;

// Two stages, three blocks: a depthwise-separable block with identity skip, a strided expand-6
// block without skip and an expand-6 block with skip, each with SE; stem, head and classifier.
const TINY_STAGES: ap.models.StageArgs[] = [
  { repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 8, outFilters: 8, seRatio: 0.25 },
  { repeats: 2, kernel: 3, stride: 2, expand: 6, inFilters: 8, outFilters: 12, seRatio: 0.25 },
];
const tiny = (o: ap.models.BuildOptions = {}): Net => models.efficientnet('b0', {
  width: 1, depth: 1, stages: TINY_STAGES, stemFilters: 8, headFilters: 16, numClasses: 3, domains: 2,
  dropout: 0, dropConnect: 0, seed: 5, ...o,
});

const bnModules = (m: Net): [string, ap.nn.DualBatchNorm2d][] =>
  m.namedModules().filter((e): e is [string, ap.nn.DualBatchNorm2d] => e[1] instanceof ap.nn.DualBatchNorm2d);
/** Running statistics of one domain, every BN layer concatenated. */
function runningRows(m: Net, domain: number): number[] {
  const out: number[] = [];
  for (const [, bn] of bnModules(m))
    for (const b of ['running_mean', 'running_var']) {
      const a = bn.buffer(b).toArray();
      out.push(...Array.from(a.subarray(domain * bn.channels, (domain + 1) * bn.channels)));
    }
  return out;
}
const images = (shape: number[], seed: number, device = 'cpu', dtype: 'f32' | 'f64' = 'f32'): ap.Tensor =>
  ap.rand(shape, { seed, device, dtype });

describe('efficientnet forward', () => {
  // These tests build their models and references on cpu; the cuda-sim comparison moves tensors
  // explicitly, so the suite also runs with ADVPROP_DEVICE=cuda-sim.
  let previousDevice = '';
  before(() => { previousDevice = ap.defaultDevice(); ap.setDefaultDevice('cpu'); });
  after(() => ap.setDefaultDevice(previousDevice));
  it('gradient check (f64, cpu) of a two-domain tiny EfficientNet: input, conv/SE/FC weights, BN parameters of both domains', () => {
    const m = tiny({ dtype: 'f64' });
    try {
      const names = ['conv_stem.weight', 'bn1.weight', 'bn1.bias', 'blocks.0.0.conv_dw.weight', 'blocks.0.0.se.conv_reduce.weight',
        'blocks.0.0.se.conv_reduce.bias', 'blocks.0.0.se.conv_expand.weight', 'blocks.1.1.conv_pw.weight', 'blocks.1.1.bn3.weight',
        'blocks.1.0.bn2.bias', 'blocks.1.0.bn2.weight', 'conv_head.weight', 'bn2.bias', 'classifier.weight', 'classifier.bias'];
      // Not bn3.bias of the last block: in train mode its shift passes the linear conv_head and is
      // removed by the head BN's mean, so its gradient is exactly zero (nothing to check).
      const params = new Map(m.namedParameters());
      // BN weights at exactly 1 and biases at 0 would hide a swapped γ/β rule: perturb them.
      const inputs = [images([4, 9, 7, 3], 11, 'cpu', 'f64'), ...names.map((n, i) => ap.tidy(() => {
        const p = params.get(n)!;
        return /bn\d\./.test(n) ? p.add(ap.randn(p.shape, { dtype: 'f64', std: 0.3, seed: 40 + i })) : p.clone();
      }))];
      // Domain 0 gets the first three samples, domain 1 the last: each row of γ/β gets its own gradient.
      const fn = (x: ap.Tensor, ...ws: ap.Tensor[]): ap.Tensor =>
        m.withTensors(Object.fromEntries(names.map((n, i) => [n, ws[i]])), () => m.forward(x, { segments: [[0, 3], [1, 1]] }));
      // The same 1e-6 as single ops: central differences in f64 (h = 1e-6) measured 3.4e-7 at
      // worst over these inputs with a reference composition of the BN/pool ops.
      const r = assertGradcheck(fn, inputs, { tol: 1e-6, samples: 12 });
      assert.equal(r.perInput.length, inputs.length);
      ap.dispose(inputs);
    } finally {
      m.dispose();
    }
  });

  it('train mode normalises with batch statistics and updates the running ones; eval uses the running ones', () => {
    const m = tiny();
    try {
      const x = images([4, 8, 8, 3], 1);
      const y = images([4, 8, 8, 3], 2);
      const xy = ap.concat0([x.slice0(0, 2), y.slice0(0, 2)]);
      ap.tidy(() => {
        const before = runningRows(m, 0);
        // Train: sample 0's logits depend on the rest of the batch.
        const a = m.forward(x).slice0(0, 1).toArray();
        const b = m.forward(xy).slice0(0, 1).toArray();
        assert.ok(relError(a, b) > 1e-3, 'train-mode outputs should depend on the batch');
        assert.notDeepEqual(runningRows(m, 0), before);
        // 'train-frozen': batch statistics, running ones untouched.
        const frozen = runningRows(m, 0);
        m.forward(x, { bnMode: 'train-frozen' });
        assert.deepEqual(runningRows(m, 0), frozen);
        m.eval();
        const e1 = m.forward(x).slice0(0, 1).toArray();
        const e2 = m.forward(xy).slice0(0, 1).toArray();
        // Eval: per-sample, so the same sample gives the same logits in any batch (up to GEMM blocking).
        assert.ok(relError(e1, e2) < 1e-6, `eval-mode outputs depend on the batch: ${relError(e1, e2)}`);
        assert.deepEqual(runningRows(m, 0), frozen);
      });
      ap.dispose([x, y, xy]);
    } finally {
      m.dispose();
    }
  });

  it('dropout and drop-connect act in train mode only', () => {
    const m = tiny({ dropout: 0.5, dropConnect: 0.9 });
    try {
      ap.tidy(() => {
        const x = images([4, 8, 8, 3], 3);
        m.train();
        const a = m.forward(x, { bnMode: 'train-frozen' }).toArray();
        const b = m.forward(x, { bnMode: 'train-frozen' }).toArray();
        assert.notDeepEqual(Array.from(a), Array.from(b), 'two training passes should draw different masks');
        m.eval();
        assert.deepEqual(Array.from(m.forward(x).toArray()), Array.from(m.forward(x).toArray()));
      });
    } finally {
      m.dispose();
    }
  });

  it('domain routing: a clean batch never touches auxiliary statistics, an adversarial one never touches clean ones', () => {
    const m = tiny();
    try {
      ap.tidy(() => {
        const x = images([3, 8, 8, 3], 4);
        const aux0 = runningRows(m, 1);
        const clean0 = runningRows(m, 0);
        m.forward(x);
        assert.deepEqual(runningRows(m, 1), aux0);
        assert.notDeepEqual(runningRows(m, 0), clean0);
        const clean1 = runningRows(m, 0);
        m.forward(x, { segments: [[1, 3]] });
        assert.deepEqual(runningRows(m, 0), clean1);
        assert.notDeepEqual(runningRows(m, 1), aux0);
      });
    } finally {
      m.dispose();
    }
  });

  it('a mixed batch equals its halves run separately, outputs and running statistics alike', () => {
    const a = tiny();
    const b = tiny();
    try {
      ap.tidy(() => {
        const x = images([2, 8, 8, 3], 5);
        const xa = images([3, 8, 8, 3], 6);
        const both = a.forward(ap.concat0([x, xa]), { segments: [[0, 2], [1, 3]] }).toArray();
        const sep = [...b.forward(x).toArray(), ...b.forward(xa, { segments: [[1, 3]] }).toArray()];
        // Per-segment statistics make the halves independent; only summation order may differ.
        assert.ok(relError(both, sep) < 1e-5, `mixed vs separate: ${relError(both, sep)}`);
        for (const d of [0, 1]) assert.ok(relError(runningRows(a, d), runningRows(b, d)) < 1e-5, `running stats of domain ${d}`);
      });
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('save → load gives identical outputs, in OHWI and in OIHW files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advprop-fwd-'));
    const a = tiny({ seed: 1 });
    const b = tiny({ seed: 2 });
    const c = tiny({ seed: 3 });
    try {
      ap.tidy(() => {
        a.forward(images([4, 8, 8, 3], 7), { segments: [[0, 2], [1, 2]] }); // non-trivial running stats
        a.eval();
        b.eval();
        c.eval();
        const f = path.join(dir, 'a.safetensors');
        const g = path.join(dir, 'a-oihw.safetensors');
        io.saveModel(f, a);
        io.saveModel(g, a, { layout: 'oihw' });
        io.loadModel(f, b);
        io.loadModel(g, c, { layout: 'oihw' });
        const x = images([2, 8, 8, 3], 8);
        for (const seg of [[[0, 2]], [[1, 2]]] as [number, number][][]) {
          const ya = Array.from(a.forward(x, { segments: seg }).toArray());
          assert.deepEqual(Array.from(b.forward(x, { segments: seg }).toArray()), ya);
          assert.deepEqual(Array.from(c.forward(x, { segments: seg }).toArray()), ya);
        }
      });
    } finally {
      [a, b, c].forEach((m) => m.dispose());
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('summary shapes match the real feature map for an odd input', () => {
    const m = tiny();
    try {
      ap.tidy(() => {
        const f = m.features(images([2, 13, 10, 3], 9));
        assert.deepEqual(f.shape, models.summary(m, { inputShape: [2, 13, 10, 3], print: false }).rows.at(-3)!.output);
      });
    } finally {
      m.dispose();
    }
  });

  it('B0 at 224, batch 1, on cpu: forward and backward reach every parameter', () => {
    const m = models.efficientnet('b0', { seed: 12, dropout: 0, dropConnect: 0 });
    try {
      ap.tidy(() => {
        const x = images([1, 224, 224, 3], 10);
        x.requiresGrad = true;
        const params = m.parameters();
        const grads = ap.grad(() => m.forward(x).square().sum(), [x, ...params], { allowUnused: true });
        assert.equal(grads.length, params.length + 1);
        assert.deepEqual(grads[0].shape, [1, 224, 224, 3]);
        grads.forEach((g, i) => {
          const a = g.toArray();
          assert.ok(a.every(Number.isFinite), `gradient ${i} has non-finite values`);
        });
        // Auxiliary BN rows get no gradient from a clean batch; the clean rows and every conv do.
        const p = new Map(m.namedParameters().map(([n, t], i) => [n, grads[i + 1].toArray()]));
        const C = m.config.stemFilters;
        assert.ok(p.get('bn1.weight')!.subarray(C).every((v) => v === 0));
        assert.ok(p.get('bn1.weight')!.subarray(0, C).some((v) => v !== 0));
        for (const n of ['conv_stem.weight', 'blocks.6.0.conv_pwl.weight', 'classifier.weight']) assert.ok(p.get(n)!.some((v) => v !== 0), n);
      });
    } finally {
      m.dispose();
    }
  });

  describe('B0 at 64x64, batch 2: cpu and cuda-sim against an f64 cpu reference', () => {
    const sim = deviceOf('cuda-sim');
    const run = (device: string, dtype: 'f32' | 'f64', train: boolean) => ap.tidy(() => {
      const m = models.efficientnet('b0', { seed: 13, numClasses: 10, dropout: 0, dropConnect: 0 });
      m.cast(dtype).to(device);
      if (!train) m.eval();
      try {
        const x = images([2, 64, 64, 3], 14).cast(dtype).to(device);
        x.requiresGrad = true;
        const watch = ['conv_stem.weight', 'bn1.weight', 'blocks.3.1.conv_dw.weight', 'blocks.5.2.se.conv_expand.weight', 'classifier.weight'];
        const ps = new Map(m.namedParameters());
        const wts = ap.randn([2, 10], { seed: 15 }).cast(dtype).to(device);
        // Batch statistics need more than one sample per domain to be well conditioned in f32.
        const segments: [number, number][] = train ? [[0, 2]] : [[0, 1], [1, 1]];
        const { value, grads } = ap.valueAndGrad(() => {
          const logits = m.forward(x, { segments });
          return logits.mul(wts).sum();
        }, [x, ...watch.map((n) => ps.get(n)!)]);
        const logits = m.forward(x, { segments, bnMode: train ? 'train-frozen' : undefined });
        return { logits: Array.from(logits.toArray()), value: value.item(), grads: grads.map((g) => Array.from(g.toArray())) };
      } finally {
        m.dispose();
      }
    });
    for (const train of [false, true])
      it(`${train ? 'train' : 'eval'} mode: logits and gradients`, function () {
        const ref = run('cpu', 'f64', train);
        const devs = ['cpu', ...(sim ? [sim] : [])];
        if (!sim) console.log('    (cuda-sim not available: cpu only)');
        for (const d of devs) {
          const got = run(d, 'f32', train);
          // f32 through ~80 layers against f64. Measured with a reference composition of the BN and
          // pool ops: eval 1.4e-6 (logits) / 2.5e-6 (gradients), train 1.6e-5 / 2.9e-5 (batch
          // statistics over 2x2 maps in the last stages amplify rounding). The bounds leave ~10x
          // room for a fused kernel's different summation order.
          assert.ok(relError(got.logits, ref.logits) < 1e-4, `${d} logits: ${relError(got.logits, ref.logits)}`);
          got.grads.forEach((g, i) => assert.ok(relError(g, ref.grads[i]) < 3e-4, `${d} gradient ${i}: ${relError(g, ref.grads[i])}`));
        }
      });
  });
});

describe('efficientnet forward against an independent f64 reference (eval mode)', () => {
  // These tests build their models and references on cpu; the cuda-sim comparison moves tensors
  // explicitly, so the suite also runs with ADVPROP_DEVICE=cuda-sim.
  let previousDevice = '';
  before(() => { previousDevice = ap.defaultDevice(); ap.setDefaultDevice('cpu'); });
  after(() => ap.setDefaultDevice(previousDevice));
  for (const padding of ['same', 'symmetric'] as const)
    it(`tiny two-domain model, random BN statistics, mixed batch, padding '${padding}'`, () => {
      const m = tiny({ dtype: 'f64', padding, normalize: { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] } });
      try {
        // Random BN parameters and statistics in every domain, so a domain mix-up changes the result.
        ap.tidy(() => {
          const st = m.stateDict();
          let seed = 100;
          for (const k of Object.keys(st))
            if (/(^|\.)bn\d\.(aux\d+\.)?(weight|bias|running_mean|running_var)$/.test(k)) {
              const r = ap.rand(st[k].shape as number[], { dtype: 'f64', seed: seed++ });
              st[k] = k.endsWith('running_var') ? r.addScalar(0.5) : r.addScalar(-0.5);
            } else if (k.endsWith('.bias')) st[k] = ap.rand(st[k].shape as number[], { dtype: 'f64', seed: seed++, lo: -0.3, hi: 0.3 });
          m.loadStateDict(st);
        });
        m.eval();
        // An even height: 'same' pads the odd pixel at the bottom, 'symmetric' one on each side.
        const x = images([3, 10, 9, 3], 21, 'cpu', 'f64');
        const W: Map<string, { shape: readonly number[]; v: ArrayLike<number> }> = new Map(
          [...m.namedParameters(), ...m.namedBuffers()].map(([n, t]) => [n, { shape: t.shape, v: t.toArray() }]));
        const domainOf = [0, 1, 1];
        const ref = referenceForward(m.config, W, { n: 3, h: 10, w: 9, c: 3, v: Float64Array.from(x.toArray()) }, domainOf);
        const got = ap.tidy(() => m.forward(x, { segments: [[0, 1], [1, 2]] }).toArray());
        // f64 against f64: only summation order differs.
        assert.ok(relError(got, ref) < 1e-12, `relative error ${relError(got, ref)}`);
        // The other routing gives different logits (the check above can see a domain mix-up).
        const swapped = ap.tidy(() => m.forward(x, { segments: [[1, 1], [0, 2]] }).toArray());
        assert.ok(relError(swapped, ref) > 1e-3);
        x.dispose();
      } finally {
        m.dispose();
      }
    });
});
