// EfficientNet parameter counts and structure. These need no kernels: counts come from the
// config (B7/L2 are never allocated), and the models that are built only allocate weights.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { expectCode } from '../helpers.js';

const { models } = ap;

// Published figures (1000 classes, one BN domain): TF reference / timm tf_efficientnet_b*.
const PUBLISHED: Record<string, number> = {
  b0: 5_288_548, b1: 7_794_184, b2: 9_109_994, b3: 12_233_232, b4: 19_341_616,
  b5: 30_389_784, b6: 43_040_704, b7: 66_347_960,
};

describe('efficientnet parameter counts', () => {
  for (const [name, n] of Object.entries(PUBLISHED))
    it(`${name}: ${n.toLocaleString('en')} with one domain`, () => {
      assert.equal(models.countParameters(models.efficientnetConfig(name, { domains: 1 })), n);
    });

  it('b8 and l2 within 0.01 M of 87.41 M and 480.31 M', () => {
    const b8 = models.countParameters(models.efficientnetConfig('b8', { domains: 1 }));
    const l2 = models.countParameters(models.efficientnetConfig('l2', { domains: 1 }));
    assert.ok(Math.abs(b8 - 87.41e6) <= 0.01e6, `b8 has ${b8}`);
    assert.ok(Math.abs(l2 - 480.31e6) <= 0.01e6, `l2 has ${l2}`);
  });

  it('each extra domain adds exactly the BN affine parameters', () => {
    const cfg = models.efficientnetConfig('b0');
    const bnAffine = models.efficientnetTensorSpecs(cfg).filter((s) => s.perDomain && s.kind === 'param').reduce((a, s) => a + s.shape[1], 0);
    assert.equal(models.countParameters(cfg, 2) - models.countParameters(cfg, 1), bnAffine);
    // Two BN tensors per BN layer: stem, head and 2 or 3 per block.
    const blocks = cfg.blocks.length;
    assert.equal(cfg.blocks.filter((b) => b.expand === 1).length, 1);
    assert.equal(models.efficientnetTensorSpecs(cfg).filter((s) => s.perDomain && s.kind === 'param').length, 2 * (2 + 3 * blocks - 1));
  });
});

describe('efficientnet scaling rules', () => {
  it('round_filters: multiples of 8, never below 90% of the scaled value', () => {
    assert.equal(models.roundFilters(32, 1.0), 32);
    assert.equal(models.roundFilters(32, 1.1), 32); // 35.2 → 32 (≥ 31.7)
    assert.equal(models.roundFilters(16, 1.1), 16); // 17.6 → 16 (≥ 15.8)
    assert.equal(models.roundFilters(40, 1.1), 48); // 44 → 48 (ties go up: int(44 + 4) // 8 · 8)
    assert.equal(models.roundFilters(320, 4.3), 1376);
    for (let f = 8; f <= 1280; f += 8)
      for (const w of [1.1, 1.2, 1.4, 1.6, 1.8, 2.2, 4.3]) {
        const r = models.roundFilters(f, w);
        assert.equal(r % 8, 0);
        assert.ok(r >= 0.9 * f * w, `${f}·${w} → ${r}`);
      }
  });

  it('round_repeats is a ceiling and drop-connect rises linearly from 0', () => {
    const cfg = models.efficientnetConfig('b3');
    const depth = [1, 2, 2, 3, 3, 4, 1].map((r) => Math.ceil(1.4 * r));
    assert.equal(cfg.blocks.length, depth.reduce((a, b) => a + b));
    cfg.blocks.forEach((b, i) => assert.ok(Math.abs(b.dropConnect - (0.2 * i) / cfg.blocks.length) < 1e-15));
    assert.equal(cfg.blocks[0].dropConnect, 0);
    assert.equal(cfg.dropout, 0.3);
    assert.equal(cfg.resolution, 300);
  });

  it('SE width is a quarter of the block input, not of the expanded width', () => {
    const cfg = models.efficientnetConfig('b0');
    const b = cfg.blocks[1]; // 16 → 24, expand 6
    assert.equal(b.inFilters, 16);
    assert.equal(b.midFilters, 96);
    assert.equal(b.seFilters, 4);
  });

  it('a 32x32 variant is easy to configure', () => {
    const cfg = models.efficientnetConfig('b0', { width: 0.25, depth: 0.34, resolution: 32, numClasses: 10 });
    assert.equal(cfg.resolution, 32);
    assert.equal(cfg.numClasses, 10);
    assert.equal(cfg.blocks.length, [1, 2, 2, 3, 3, 4, 1].map((r) => Math.ceil(0.34 * r)).reduce((a, b) => a + b));
    assert.equal(cfg.stemFilters, 8);
  });

  it('rejects bad names and options with ERR_ARG', () => {
    expectCode(() => models.efficientnetConfig('b9'), 'ERR_ARG', 'b9');
    expectCode(() => models.efficientnetConfig('b0', { width: -1 }), 'ERR_ARG', 'width');
    expectCode(() => models.efficientnetConfig('b0', { dropout: 1 }), 'ERR_ARG', 'dropout');
    expectCode(() => models.efficientnetConfig('b0', { padding: 'reflect' as 'same' }), 'ERR_ARG', 'padding');
    expectCode(() => models.efficientnetConfig('b0', { normalize: { mean: [0.5, 0.5], std: 0.5 } }), 'ERR_ARG', 'mean');
  });
});

describe('efficientnet built modules', () => {
  it('b0 with one domain: names and shapes are timm\'s and the count is the published one', () => {
    const m = models.efficientnet('b0', { domains: 1, seed: 1 });
    try {
      assert.equal(m.numParameters(), PUBLISHED.b0);
      const specs = models.efficientnetTensorSpecs(m.config);
      const got = new Map([...m.namedParameters(), ...m.namedBuffers()].map(([n, t]) => [n, t.shape.slice()]));
      assert.deepEqual([...got.keys()].sort(), specs.map((s) => s.name).sort());
      for (const s of specs) assert.deepEqual(got.get(s.name), s.shape, s.name);
      const names = m.namedParameters().map(([n]) => n);
      for (const n of ['conv_stem.weight', 'bn1.weight', 'blocks.0.0.conv_dw.weight', 'blocks.0.0.bn1.bias', 'blocks.0.0.se.conv_reduce.bias',
        'blocks.0.0.conv_pw.weight', 'blocks.0.0.bn2.weight', 'blocks.1.0.conv_pw.weight', 'blocks.1.0.conv_pwl.weight', 'blocks.6.0.bn3.weight',
        'conv_head.weight', 'bn2.weight', 'classifier.weight', 'classifier.bias']) assert.ok(names.includes(n), n);
      assert.ok(m.parameters().every((t) => t.requiresGrad && t.isLeaf));
      assert.ok(m.namedBuffers().every(([, t]) => !t.requiresGrad));
    } finally {
      m.dispose();
    }
  });

  it('state dict keys: clean under timm names, auxiliary under aux{d}, strippable', () => {
    const m = models.efficientnet('b0', { domains: 3, width: 0.25, depth: 0.25, numClasses: 7, seed: 2 });
    try {
      const full = ap.tidy(() => Object.keys(m.stateDict()));
      const clean = ap.tidy(() => Object.keys(m.stateDict({ auxiliary: false })));
      assert.ok(full.includes('bn1.weight') && full.includes('bn1.aux1.weight') && full.includes('bn1.aux2.running_var'));
      assert.ok(full.includes('blocks.1.0.bn3.aux2.running_mean'));
      assert.ok(!clean.some((k) => /\.aux\d+\./.test(k)));
      assert.equal(full.length - clean.length, 2 * clean.filter((k) => /running_mean$/.test(k)).length * 4);
    } finally {
      m.dispose();
    }
  });

  it('initialisers follow TF: conv std √(2/fan_out), depthwise fan_out kh·kw, dense ±1/√out, BN 1/0/0/1', () => {
    const m = models.efficientnet('b0', { domains: 2, seed: 3 });
    try {
      const p = new Map(m.namedParameters());
      const std = (t: ap.Tensor): number => {
        const a = t.toArray();
        let s = 0;
        for (const v of a) s += v * v;
        return Math.sqrt(s / a.length);
      };
      // 1x1 expand 16 → 96 (b0 stage 1): fan_out = 96; n = 1536, so the sample std is within ~4% (3.5σ).
      const pw = p.get('blocks.1.0.conv_pw.weight')!;
      assert.ok(Math.abs(std(pw) / Math.sqrt(2 / 96) - 1) < 0.07, `pw std ${std(pw)}`);
      // Depthwise k5 of 144 channels (stage 2 block 0): fan_out = 25; n = 3600.
      const dw = p.get('blocks.2.0.conv_dw.weight')!;
      assert.ok(Math.abs(std(dw) / Math.sqrt(2 / 25) - 1) < 0.05, `dw std ${std(dw)}`);
      const fc = p.get('classifier.weight')!.toArray();
      const r = 1 / Math.sqrt(1000);
      let max = 0;
      for (const v of fc) max = Math.max(max, Math.abs(v));
      assert.ok(max <= r && max > 0.99 * r, `classifier max |w| ${max}`);
      assert.deepEqual([...new Set(p.get('bn1.weight')!.toArray())], [1]);
      assert.deepEqual([...new Set(p.get('bn1.bias')!.toArray())], [0]);
      const bufs = new Map(m.namedBuffers());
      assert.deepEqual([...new Set(bufs.get('bn1.running_var')!.toArray())], [1]);
      assert.deepEqual([...new Set(p.get('blocks.0.0.se.conv_reduce.bias')!.toArray())], [0]);
    } finally {
      m.dispose();
    }
  });

  it('a seed makes the initialisation reproducible; a different seed changes it', () => {
    const o = { width: 0.25, depth: 0.25, numClasses: 5, domains: 2 };
    const [a, b, c] = [models.efficientnet('b0', { ...o, seed: 9 }), models.efficientnet('b0', { ...o, seed: 9 }), models.efficientnet('b0', { ...o, seed: 10 })];
    try {
      const w = (m: typeof a): number[] => Array.from(m.conv_stem.param('weight').toArray());
      assert.deepEqual(w(a), w(b));
      assert.notDeepEqual(w(a), w(c));
    } finally {
      [a, b, c].forEach((m) => m.dispose());
    }
  });
});

describe('models.summary', () => {
  it('b0 at 224: rows add up to the model\'s parameters, 0.39 G multiply-adds as published', () => {
    const m = models.efficientnet('b0', { domains: 1 });
    try {
      const s = models.summary(m, { print: false });
      assert.equal(s.params, PUBLISHED.b0);
      assert.ok(s.macs > 0.38e9 && s.macs < 0.40e9, `b0 MACs ${s.macs}`);
      assert.deepEqual(s.rows[0].output, [1, 112, 112, 32]);
      assert.deepEqual(s.rows[s.rows.length - 3].output, [1, 7, 7, 1280]);
      assert.deepEqual(s.rows[s.rows.length - 1].output, [1, 1000]);
      assert.equal(s.rows.length, 2 + m.config.blocks.length + 2);
      assert.ok(s.text.includes('blocks.6.0') && s.text.includes('5,288,548'));
    } finally {
      m.dispose();
    }
  });

  it('odd input sizes follow TF same padding (ceil) and symmetric padding (floor)', () => {
    const same = models.efficientnet('b0', { domains: 2, width: 0.25, depth: 0.25, numClasses: 3 });
    const sym = models.efficientnet('b0', { domains: 2, width: 0.25, depth: 0.25, numClasses: 3, padding: 'symmetric' });
    try {
      // 33 → 17 → 17 → 9 → 5 → 3 → 3 → 2 → 2 under 'same'; k odd, stride 2: floor((n - 1) / 2) + 1 is the same.
      assert.deepEqual(models.summary(same, { inputShape: [2, 33, 30, 3], print: false }).rows.at(-3)!.output, [2, 2, 1, same.config.headFilters]);
      assert.deepEqual(models.summary(sym, { inputShape: [2, 33, 30, 3], print: false }).rows.at(-3)!.output, [2, 2, 1, sym.config.headFilters]);
      expectCode(() => models.summary(same, { inputShape: [2, 32, 32, 1], print: false }), 'ERR_SHAPE', 'inputShape');
    } finally {
      same.dispose();
      sym.dispose();
    }
  });

  it('the family table matches the counts above', () => {
    const t = models.familyTable();
    for (const r of t.rows) if (PUBLISHED[r.name]) assert.equal(r.params, PUBLISHED[r.name], r.name);
    assert.ok(t.markdown.includes('| l2 | 800 |'));
  });
});
