// bench/roofline.ts counts a step from the shapes; these pin what its totals must agree with
// (EfficientNet-B0's published multiply-adds, bench/scaling.ts's per-layer model) and that its
// rows carry the family names bench/profile.ts files measured calls under.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAMILIES, family } from '../bench/families.js';
import { coarseLayers, modelShapes } from '../bench/model_shapes.js';
import { countStep, type StepSpec } from '../bench/roofline_model.js';
import { CARDS, readMeasured, rooflineRows } from '../bench/roofline.js';
import { Profiler } from '../bench/profile.js';
import * as ap from '../lib/index.js';
import { Trainer } from '../lib/train/trainer.js';

const spec = (over: Partial<StepSpec> = {}): StepSpec => ({
  shapes: modelShapes('b0', { domains: 2 }), batch: 8, dtype: 'bf16', method: 'advprop', attackSteps: 1,
  randomStart: false, input: 'u8', ema: true, ...over,
});
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe('bench roofline', () => {
  it('counts B0 forward convolutions and linear at 0.39 G multiply-adds per 224² image, as scaling.ts does', () => {
    const ks = countStep(spec({ method: 'vanilla', batch: 1, shapes: modelShapes('b0', { domains: 1 }) }));
    const fwd = sum(ks.filter((k) => k.phase === 'forward' && (k.gemm || k.family === FAMILIES.convDwFwd)).map((k) => k.flops)) / 2;
    assert.ok(Math.abs(fwd / 0.39e9 - 1) < 0.02, `forward multiply-adds ${fwd}`);
    const coarse = sum(coarseLayers(modelShapes('b0')).map((l) => l.gemmMacs + l.dwMacs));
    // One shape model (bench/model_shapes.ts): the coarse per-layer MACs are the same layers'.
    assert.ok(Math.abs(fwd / coarse - 1) < 1e-9, `${fwd} vs coarse ${coarse}`);
  });

  it('an AdvProp step is its PGD iterations plus a 2N forward and backward', () => {
    const t = (s: Partial<StepSpec>): number => sum(rooflineRows(countStep(spec(s)), CARDS.h100!, 'bf16').rows.map((r) => r.tRoof));
    const none = t({ attackSteps: 0 }), one = t({ attackSteps: 1 }), three = t({ attackSteps: 3 });
    assert.ok(one > none && Math.abs((three - none) - 3 * (one - none)) < 1e-12);
    const fewerBytes = sum(countStep(spec({ dtype: 'bf16' })).map((k) => k.bytes)) < sum(countStep(spec({ dtype: 'f32' })).map((k) => k.bytes));
    assert.ok(fewerBytes, 'bf16 moves fewer bytes than f32');
  });

  it('every family the roofline counts is one the profiler files addon calls under', () => {
    const known = new Set<string>(Object.values(FAMILIES));
    for (const k of countStep(spec())) assert.ok(known.has(k.family), k.family);
    const w = (shape: number[]) => ({ shape });
    assert.equal(family('conv2d', [w([8, 7, 7, 32]), w([16, 1, 1, 32]), null, [1, 1], [0, 0, 0, 0], 1]), FAMILIES.convPwFwd);
    assert.equal(family('conv2d', [w([8, 7, 7, 32]), w([32, 3, 3, 1]), null, [1, 1], [1, 1, 1, 1], 32]), FAMILIES.convDwFwd);
    assert.equal(family('conv2dBackwardWeight', [w([8, 7, 7, 32]), w([8, 7, 7, 3]), [32, 3, 3, 3], [2, 2], [0, 1, 0, 1], 1]), FAMILIES.convStemWgrad);
    assert.equal(family('multiBatchNormBackward', []), FAMILIES.bnBwd);
    assert.equal(family('emaUpdate', []), FAMILIES.ema);
    assert.equal(family('normalizeImage', []), FAMILIES.image);
  });

  // The model follows the code: a real step's addon calls, per family, are the ones it counts.
  for (const [method, precision] of [['vanilla', 'bf16'], ['advprop', 'bf16'], ['advprop', 'fp32']] as const) {
    it(`counts the addon calls per family of a real ${method} step in ${precision} (B0 at 32², batch 2, cpu)`, () => {
      const domains = method === 'advprop' ? 2 : 1;
      const model = ap.models.efficientnet('b0', { numClasses: 10, domains, seed: 1, device: 'cpu' });
      const trainer = new Trainer(model, { method, epsilon: 1, lr: 0.01, precision, ema: 0.999 });
      const batch = { x: new Uint8Array(2 * 32 * 32 * 3).map((_, i) => (i * 37) % 256), y: Int32Array.from([1, 2]), shape: [2, 32, 32, 3] };
      const p = new Profiler('cpu');
      try {
        trainer.step(batch);
        p.start();
        trainer.step(batch);
      } finally {
        p.stop();
        trainer.dispose();
        for (const t of model.parameters()) t.dispose();
        for (const [, b] of model.namedBuffers()) b.dispose();
      }
      const measured = new Map(p.table(0).rows.map((r) => [r.family, r.calls]));
      const counted = new Map<string, number>();
      const ks = countStep(spec({ shapes: modelShapes('b0', { resolution: 32, numClasses: 10, domains }), batch: 2, method, dtype: precision === 'fp32' ? 'f32' : 'bf16' }));
      for (const k of ks) if (k.calls > 0) counted.set(k.family, (counted.get(k.family) ?? 0) + k.calls);
      // Views (reshape), handles and host transfers move no device bytes and are not counted.
      for (const f of [FAMILIES.copies, 'handles (dispose/share)', 'host transfers', 'fills']) { measured.delete(f); counted.delete(f); }
      assert.deepEqual(Object.fromEntries([...counted].sort()), Object.fromEntries([...measured].sort()));
    });
  }

  it('reads measured ms from a flat file and from --profile-json output', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roofline-'));
    writeFileSync(join(dir, 'flat.json'), JSON.stringify({ [FAMILIES.bnFwd]: 1.5 }));
    assert.equal(readMeasured(join(dir, 'flat.json'), 'vanilla').perFamily.get(FAMILIES.bnFwd), 1.5);
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ device: 'cuda', precision: 'bf16', case: { size: 224, batch: 256 },
      methods: { 'advprop ε=1': { wallMs: 80, families: { [FAMILIES.bnBwd]: { calls: 98, ms: 20 } } } } }));
    const m = readMeasured(join(dir, 'p.json'), 'advprop ε=1');
    assert.equal(m.wallMs, 80);
    assert.equal(m.perFamily.get(FAMILIES.bnBwd), 20);
    assert.throws(() => readMeasured(join(dir, 'p.json'), 'vanilla'), /no profile of method 'vanilla'/);
  });
});
