// The precision policy (lib/precision.ts), fp16 loss scaling (lib/train/grad_scaler.ts) and the
// Trainer's precision option, on every backend this build has.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ap from '../../lib/index.js';
import { Trainer } from '../../lib/train/trainer.js';
import { GradScaler } from '../../lib/train/grad_scaler.js';
import { loadCheckpoint, readCheckpointMeta, saveCheckpoint } from '../../lib/train/checkpoint.js';
import { itOnEachBackend } from '../../lib/testing/backends.js';

const STAGES: ap.models.StageArgs[] = [
  { repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 8, outFilters: 8, seRatio: 0.25 },
  { repeats: 1, kernel: 3, stride: 2, expand: 4, inFilters: 8, outFilters: 12, seRatio: 0.25 },
];
const tiny = (device: string): ap.models.EfficientNet => ap.models.efficientnet('b0', {
  width: 1, depth: 1, stages: STAGES, stemFilters: 8, headFilters: 16, numClasses: 4, inChannels: 1, domains: 2,
  dropout: 0, dropConnect: 0, seed: 3, device,
});

function batch(n: number, seed: number): { x: Float32Array; shape: [number, number, number, number]; y: Int32Array } {
  const x = new Float32Array(n * 12 * 12);
  let s = seed;
  for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = (s >>> 8) / 16777216; }
  const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 4);
  y.forEach((l, i) => { for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) x[i * 144 + (l * 3 + r) * 12 + c + 2] = 1; });
  return { x, shape: [n, 12, 12, 1], y };
}

describe('precision: autocast and loss scaling', function () {
  this.timeout(300000);

  it('autocast validates its arguments and restores the policy, also after a throw', () => {
    assert.equal(ap.currentPrecision(), 'fp32');
    assert.throws(() => ap.autocast('fp8' as never, () => 0), { code: 'ERR_ARG', message: /autocast: precision must be one of fp32, tf32, bf16, fp16/ });
    assert.throws(() => ap.autocast('bf16', 3 as never), { code: 'ERR_ARG', message: /fn must be a function/ });
    assert.throws(() => ap.autocast('bf16', () => { assert.equal(ap.currentPrecision(), 'bf16'); throw new Error('inner'); }), /inner/);
    assert.equal(ap.currentPrecision(), 'fp32');
    assert.equal(ap.autocast('fp16', () => ap.autocast('bf16', () => ap.currentPrecision())), 'bf16');
    assert.throws(() => ap.autocast('bf16', (async () => 1) as never), { code: 'ERR_ARG', message: /synchronous/ });
    assert.equal(ap.currentPrecision(), 'fp32');
  });

  it('defaultPrecision: fp32 on cpu and cuda-sim', () => {
    assert.equal(ap.defaultPrecision('cpu'), 'fp32');
    assert.equal(ap.defaultPrecision('cuda-sim:0'), 'fp32');
  });

  itOnEachBackend('conv2d and linear compute in the 16-bit type; gradients reach f32 weights and input as f32', (device) => {
    for (const [p, dt] of [['bf16', 'bf16'], ['fp16', 'f16']] as const) {
      ap.tidy(() => {
        const x = ap.rand([2, 5, 5, 3], { device, seed: 1 });
        const w = ap.rand([4, 3, 3, 3], { device, seed: 2, lo: -0.5, hi: 0.5 });
        const lw = ap.rand([3, 4], { device, seed: 3, lo: -0.5, hi: 0.5 });
        x.requiresGrad = true;
        w.requiresGrad = true;
        lw.requiresGrad = true;
        const [y, gx, gw, glw] = ap.autocast(p, () => {
          const h = ap.conv2d(x, w, { padding: 'same' });
          assert.equal(h.dtype, dt, `${p}: conv2d output dtype`);
          const z = ap.linear(ap.reshape(ap.globalAvgPool(h), [2, 4]), lw);
          assert.equal(z.dtype, dt, `${p}: linear output dtype`);
          const l = ap.sum(z.cast('f32'));
          return [z, ...ap.grad(() => l, [x, w, lw])];
        });
        for (const g of [gx, gw, glw]) assert.equal(g!.dtype, 'f32');
        // The same in f32, then compared at the 16-bit type's resolution (a few roundings of it).
        const [gx32, gw32] = ap.grad(() => ap.sum(ap.linear(ap.reshape(ap.globalAvgPool(ap.conv2d(x, w, { padding: 'same' })), [2, 4]), lw)), [x, w]);
        const close = (a: ap.Tensor, b: ap.Tensor, what: string): void => {
          const [u, v] = [a.toArray(), b.toArray()];
          let num = 0, den = 0;
          for (let i = 0; i < u.length; i++) { num += (u[i]! - v[i]!) ** 2; den += v[i]! ** 2; }
          const rel = Math.sqrt(num / den);
          assert.ok(rel < (dt === 'bf16' ? 2e-2 : 4e-3), `${p} ${what}: relative error ${rel}`);
        };
        close(gx!, gx32!, 'dx');
        close(gw!, gw32!, 'dw');
        assert.equal(y.shape.join(), '2,3');
      });
    }
    // Outside the scope the ops are f32 again.
    ap.tidy(() => assert.equal(ap.linear(ap.ones([1, 2], { device }), ap.ones([2, 2], { device })).dtype, 'f32'));
  });

  itOnEachBackend('the casts autocast makes are freed by the op, recording or not', (device) => {
    const x = ap.rand([1, 4, 4, 3], { device, seed: 1 }), w = ap.rand([2, 1, 1, 3], { device, seed: 2 });
    const lw = ap.rand([2, 3], { device, seed: 3 });
    // tidy: the recorded graph's saved tensors go with it, not later with the GC (memory.test.ts
    // counts saved tensors across the whole run).
    for (const recording of [false, true]) ap.tidy(() => {
      w.requiresGrad = recording;
      lw.requiresGrad = recording;
      const before = ap.memory().numTensors;
      const outs = ap.autocast('bf16', () => [ap.conv2d(x, w), ap.linear(ap.reshape(x, [16, 3]), lw)]);
      // The two outputs and linear's reshaped input: the four casts are gone.
      assert.equal(ap.memory().numTensors - before, 3, `recording ${recording}`);
      if (recording) {
        const [gw] = ap.grad(() => ap.sum(ap.conv2d(x, w).cast('f32')), [w]);
        assert.equal(gw!.dtype, 'f32');
        gw!.dispose();
      }
      ap.dispose(outs);
    });
    ap.dispose([x, w, lw]);
  });

  itOnEachBackend('tf32: conv2d and linear GEMMs round f32 inputs to tf32, the backward as its forward', (device) => {
    ap.tidy(() => {
      const fine = 1 + 2 ** -20; // an f32 value tf32's 10 mantissa bits round to 1
      const x = ap.tensor([1, 0], [1, 2], { device });
      const w = ap.tensor([fine, 1], [1, 2], { device });
      x.requiresGrad = true;
      assert.deepEqual([...ap.linear(w, x).toArray()], [fine]);
      assert.deepEqual([...ap.autocast('tf32', () => ap.linear(w, x)).toArray()], [1]);
      // The backward runs outside the scope (in grad) and still multiplies in tf32: dx = dy · w.
      const [gx] = ap.grad(() => ap.sum(ap.autocast('tf32', () => ap.linear(x, w))), [x]);
      assert.deepEqual([...gx!.toArray()], [1, 1]);
      const [gx32] = ap.grad(() => ap.sum(ap.linear(x, w)), [x]);
      assert.deepEqual([...gx32!.toArray()], [fine, 1]);
      // A 1x1 convolution is the same GEMM.
      const xc = ap.tensor([fine, 2], [1, 1, 1, 2], { device }), wc = ap.tensor([1, 0], [1, 1, 1, 2], { device });
      assert.deepEqual([...ap.conv2d(xc, wc).toArray()], [fine]);
      assert.deepEqual([...ap.autocast('tf32', () => ap.conv2d(xc, wc)).toArray()], [1]);
    });
  });

  it('GradScaler: validates options; backs off on overflow, grows after growthInterval clean steps', () => {
    assert.throws(() => new GradScaler({ growthFactor: 1 }), { code: 'ERR_ARG', message: /growthFactor must be a number > 1/ });
    assert.throws(() => new GradScaler({ initScale: Infinity }), { code: 'ERR_ARG', message: /initScale/ });
    const s = new GradScaler({ initScale: 1024, growthInterval: 3 });
    s.update(false);
    assert.deepEqual(s.state(), { scale: 512, growthTracker: 0 });
    s.update(true); s.update(true);
    assert.deepEqual(s.state(), { scale: 512, growthTracker: 2 });
    s.update(true);
    assert.deepEqual(s.state(), { scale: 1024, growthTracker: 0 });
    assert.throws(() => s.loadState({ scale: -1, growthTracker: 0 }), { code: 'ERR_FORMAT' });
  });

  itOnEachBackend('GradScaler.unscale divides by the scale and finds any inf or NaN', (device) => {
    ap.tidy(() => {
      const s = new GradScaler({ initScale: 8 });
      const a = ap.tensor([8, 16, -24], [3], { device }), b = ap.tensor([0.5], [1], { device });
      const ok = s.unscale([a, b]);
      assert.equal(ok.finite, true);
      assert.deepEqual([...ok.grads[0]!.toArray()], [1, 2, -3]);
      assert.deepEqual([...ok.grads[1]!.toArray()], [0.0625]);
      for (const bad of [Infinity, -Infinity, NaN]) {
        const r = s.unscale([a, ap.tensor([1, bad], [2], { device })]);
        assert.equal(r.finite, false, `${bad} not found`);
      }
    });
  });

  itOnEachBackend('Trainer in bf16 and fp16: finite losses that fall, f32 master weights; fp16 skips an overflowing step', (device) => {
    for (const precision of ['bf16', 'fp16'] as const) {
      ap.manualSeed(5);
      const model = tiny(device);
      const t = new Trainer(model, { lr: 0.02, epsilon: 1, ema: 0.9, precision });
      assert.equal(t.options.precision, precision);
      assert.equal(t.scaler !== null, precision === 'fp16');
      const losses: number[] = [];
      for (let s = 0; s < 8; s++) {
        const r = t.step(batch(8, s % 2));
        assert.ok(Number.isFinite(r.loss), `${precision} step ${s}: loss ${r.loss}`);
        assert.equal(r.skipped, false);
        losses.push(r.loss);
      }
      assert.ok(losses[7]! < losses[0]!, `${precision}: loss did not fall: ${losses.join(', ')}`);
      for (const p of model.parameters()) assert.equal(p.dtype, 'f32');
      if (t.scaler) {
        // A scale so large that the scaled gradients overflow f16: the step is skipped, nothing
        // moves, and the scale backs off.
        t.scaler.scale = 2 ** 60;
        const before = model.parameters().map((p) => p.toArray());
        const r = t.step(batch(8, 0));
        assert.equal(r.skipped, true);
        assert.equal(t.scaler.scale, 2 ** 59);
        model.parameters().forEach((p, i) => assert.deepEqual(p.toArray(), before[i]));
      }
      t.dispose();
      model.dispose();
    }
  });

  it("the fp16 loss scaler's state travels in the checkpoint", () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-prec-'));
    try {
      const t = new Trainer(tiny('cpu'), { lr: 0.01, precision: 'fp16', ema: false });
      t.step(batch(4, 0));
      t.scaler!.scale = 4096;
      t.scaler!.growthTracker = 17;
      const file = join(dir, 'c.safetensors');
      saveCheckpoint(file, t, { epoch: 0, batch: 1 }, { precision: 'fp16' });
      assert.deepEqual(readCheckpointMeta(file).lossScaler, { scale: 4096, growthTracker: 17 });
      const u = new Trainer(tiny('cpu'), { lr: 0.01, precision: 'fp16', ema: false });
      loadCheckpoint(file, u);
      assert.deepEqual(u.scaler!.state(), { scale: 4096, growthTracker: 17 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Trainer rejects an unknown precision', () => {
    assert.throws(() => new Trainer(tiny('cpu'), { precision: 'int8' as never }), { code: 'ERR_ARG', message: /Trainer: precision must be one of fp32, tf32, bf16, fp16, got 'int8'/ });
  });
});
