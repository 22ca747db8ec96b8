// Module bookkeeping that needs no forward pass: names, train/eval, stateDict/loadStateDict and
// its report, device moves and casts, and saving / loading whole models (including a timm-style
// OIHW checkpoint without auxiliary domains).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ap from '../../lib/index.js';
import { availableDevices } from '../../lib/testing/backends.js';
import { expectCode } from '../helpers.js';

const { nn, models, io } = ap;
const tiny = (seed: number, extra: ap.models.BuildOptions = {}) =>
  models.efficientnet('b0', { width: 0.25, depth: 0.25, numClasses: 5, domains: 2, seed, ...extra });
const valuesOf = (m: ap.nn.Module): Map<string, number[]> =>
  new Map([...m.namedParameters(), ...m.namedBuffers()].map(([n, t]) => [n, Array.from(t.toArray())]));

let dir = '';
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advprop-nn-')); });
after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe('nn.Module', () => {
  it('MultiBatchNorm2d holds K domains; DualBatchNorm2d is its deprecated alias, the same class', () => {
    assert.equal(nn.DualBatchNorm2d, nn.MultiBatchNorm2d);
    const bn = new nn.MultiBatchNorm2d(4, { domains: 3 });
    try {
      assert.ok(bn instanceof nn.DualBatchNorm2d);
      assert.equal(bn.domains, 3);
      assert.deepEqual(bn.param('weight').shape, [3, 4]);
      expectCode(() => new nn.MultiBatchNorm2d(4, { domains: 0 }), 'ERR_ARG', 'MultiBatchNorm2d');
    } finally {
      bn.dispose();
    }
  });

  it('layers register dotted names; train()/eval() reach every descendant', () => {
    const bn = new nn.DualBatchNorm2d(6, { domains: 3 });
    const conv = new nn.Conv2d(4, 6, 3, { groups: 2, bias: true, seed: 1 });
    const fc = new nn.Linear(6, 2, { seed: 2 });
    const seq = new nn.Sequential([conv, bn, fc]);
    try {
      assert.deepEqual(seq.namedParameters().map(([n, t]) => [n, t.shape.slice()]), [
        ['0.weight', [6, 3, 3, 2]], ['0.bias', [6]], ['1.weight', [3, 6]], ['1.bias', [3, 6]], ['2.weight', [2, 6]], ['2.bias', [2]],
      ]);
      assert.deepEqual(seq.namedBuffers().map(([n]) => n), ['1.running_mean', '1.running_var']);
      assert.equal(seq.numParameters(), 6 * 9 * 2 + 6 + 18 + 18 + 12 + 2);
      seq.eval();
      assert.ok(seq.namedModules().every(([, m]) => !m.training));
      seq.train();
      assert.ok(seq.namedModules().every(([, m]) => m.training));
      // Parameters survive a tidy: the module owns them.
      ap.tidy(() => ap.zeros([1]));
      assert.ok(seq.parameters().every((t) => !t.isDisposed));
    } finally {
      seq.dispose();
    }
  });

  it('bad layer arguments are ERR_ARG naming the layer', () => {
    expectCode(() => new nn.Conv2d(3, 8, 0), 'ERR_ARG', 'Conv2d');
    expectCode(() => new nn.Conv2d(6, 8, 3, { groups: 4 }), 'ERR_ARG', 'groups');
    expectCode(() => new nn.DualBatchNorm2d(4, { act: 'gelu' as 'silu' }), 'ERR_ARG', 'act');
    expectCode(() => new nn.DualBatchNorm2d(4, { momentum: 2 }), 'ERR_ARG', 'momentum');
    expectCode(() => new nn.Dropout(1), 'ERR_ARG', 'Dropout');
    expectCode(() => nn.resolveSegments([[0, 2], [2, 2]], 4, 2, 'op'), 'ERR_ARG', 'domain 2');
    expectCode(() => nn.resolveSegments([[0, 2], [1, 1]], 4, 2, 'op'), 'ERR_SHAPE', 'cover 3');
    assert.deepEqual(nn.resolveSegments(undefined, 4, 2, 'op'), [[0, 4]]);
  });

  it('stateDict → loadStateDict copies every value, BN domains row by row', () => {
    const a = tiny(1);
    const b = tiny(2);
    try {
      ap.tidy(() => {
        const st = a.stateDict();
        const r = b.loadStateDict(st);
        assert.equal(r.loaded, Object.keys(st).length);
      });
      assert.deepEqual(valuesOf(b), valuesOf(a));
      const m = new nn.DualBatchNorm2d(3, { domains: 2 });
      ap.tidy(() => {
        m.loadStateDict({
          weight: ap.tensor([1, 2, 3]), bias: ap.tensor([4, 5, 6]), running_mean: ap.tensor([7, 8, 9]), running_var: ap.tensor([1, 1, 2]),
          'aux1.weight': ap.tensor([-1, -2, -3]), 'aux1.bias': ap.tensor([-4, -5, -6]), 'aux1.running_mean': ap.tensor([0, 0, 1]), 'aux1.running_var': ap.tensor([3, 3, 3]),
        });
      });
      assert.deepEqual(Array.from(m.param('weight').toArray()), [1, 2, 3, -1, -2, -3]);
      assert.deepEqual(Array.from(m.buffer('running_var').toArray()), [1, 1, 2, 3, 3, 3]);
      assert.ok(m.param('weight').requiresGrad && m.param('weight').isLeaf);
      ap.tidy(() => assert.deepEqual(Array.from(m.stateDict()['aux1.bias'].toArray()), [-4, -5, -6]));
      m.dispose();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('loadStateDict reports every missing, unexpected and mismatched key, and changes nothing on failure', () => {
    const m = tiny(3);
    try {
      const before = valuesOf(m);
      ap.tidy(() => {
        const st = m.stateDict();
        st['conv_stem.weight'] = ap.zeros([1, 2, 3, 4]);
        st['classifier.bias'] = ap.zeros([5], { dtype: 'f64' });
        delete st['bn2.aux1.weight'];
        st['extra.weight'] = ap.zeros([1]);
        const e = expectCode(() => m.loadStateDict(st), 'ERR_SHAPE', 'conv_stem.weight') as ap.nn.StateDictError;
        assert.deepEqual(e.report.mismatched.map((x) => x.key).sort(), ['classifier.bias', 'conv_stem.weight']);
        assert.deepEqual(e.report.missing, ['bn2.aux1.weight']);
        assert.deepEqual(e.report.unexpected, ['extra.weight']);
        assert.ok(e.message.includes('f64 [5]') && e.message.includes('missing bn2.aux1.weight') && e.message.includes('unexpected extra.weight'));
      });
      assert.deepEqual(valuesOf(m), before);
      ap.tidy(() => {
        const st = m.stateDict();
        delete st['bn1.weight'];
        st.other = ap.zeros([2]);
        const e = expectCode(() => m.loadStateDict(st), 'ERR_ARG', 'missing bn1.weight') as ap.nn.StateDictError;
        assert.deepEqual(e.report.unexpected, ['other']);
        const r = m.loadStateDict(st, { strict: false });
        assert.deepEqual(r.missing, ['bn1.weight']);
        assert.deepEqual(r.unexpected, ['other']);
      });
    } finally {
      m.dispose();
    }
  });

  it('non-tensor values are reported; withTensors checks names and shapes and restores', () => {
    const m = new nn.Linear(3, 2, { seed: 1 });
    try {
      const bias = ap.zeros([2]);
      const e = expectCode(() => m.loadStateDict({ weight: [1, 2] as unknown as ap.Tensor, bias }), 'ERR_SHAPE', 'weight') as ap.nn.StateDictError;
      assert.deepEqual(e.report.mismatched.map((x) => x.key), ['weight']);
      bias.dispose();
      const w = m.param('weight');
      const z = ap.zeros([2, 3]);
      m.withTensors({ weight: z }, () => assert.equal(m.param('weight'), z));
      assert.equal(m.param('weight'), w);
      expectCode(() => m.withTensors({ nope: z }, () => 0), 'ERR_ARG', 'nope');
      expectCode(() => m.withTensors({ weight: ap.zeros([3]) }, () => 0), 'ERR_SHAPE', 'weight');
      assert.equal(m.param('weight'), w);
      z.dispose();
    } finally {
      m.dispose();
    }
  });

  it('clean-only checkpoints: strict load needs the auxiliary keys; skip keeps them, fromClean copies the clean domain', () => {
    const a = tiny(4);
    const b = tiny(5);
    try {
      ap.tidy(() => {
        const clean = a.stateDict({ auxiliary: false });
        const e = expectCode(() => b.loadStateDict(clean), 'ERR_ARG', 'aux1') as ap.nn.StateDictError;
        assert.ok(e.report.missing.length > 0 && e.report.missing.every((k) => /\.aux1\./.test(k)));
        const auxBefore = Array.from(b.bn1.buffer('running_var').toArray());
        b.loadStateDict(clean, { auxiliary: 'skip' });
        assert.deepEqual(Array.from(b.bn1.buffer('running_var').toArray()), auxBefore);
      });
      // Give a's clean domain distinctive values, then copy them into every domain.
      ap.tidy(() => {
        const st = a.stateDict({ auxiliary: false });
        st['bn1.weight'] = ap.tensor(Array.from({ length: a.config.stemFilters }, (_, i) => i + 0.5));
        b.loadStateDict(st, { auxiliary: 'fromClean' });
        const w = b.bn1.param('weight').toArray();
        const C = a.config.stemFilters;
        for (let i = 0; i < C; i++) {
          assert.equal(w[i], i + 0.5);
          assert.equal(w[C + i], i + 0.5);
        }
      });
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('saveModel → loadModel restores every tensor; a clean-only file has no aux keys', () => {
    const a = tiny(6);
    const b = tiny(7);
    try {
      const f = path.join(dir, 'tiny.safetensors');
      io.saveModel(f, a);
      io.loadModel(f, b);
      assert.deepEqual(valuesOf(b), valuesOf(a));
      const g = path.join(dir, 'tiny-clean.safetensors');
      io.saveModel(g, a, { auxiliary: false });
      assert.ok(![...io.readSafetensors(g).tensors.keys()].some((k) => k.includes('.aux')));
      assert.ok([...io.readSafetensors(f).tensors.keys()].some((k) => k.includes('.aux1.')));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('imports a timm-style checkpoint: OIHW weights, no auxiliary domains, num_batches_tracked', () => {
    const a = tiny(8, { domains: 1 });
    const b = tiny(9);
    try {
      // Write the file as PyTorch would hold it, transposing by index here (not with our helper).
      const tensors: { name: string; shape: number[]; data: Float32Array | BigInt64Array }[] = [];
      const expected = valuesOf(a);
      for (const [n, t] of [...a.namedParameters(), ...a.namedBuffers()]) {
        const v = t.toArray() as Float32Array;
        if (t.rank === 4) {
          const [O, H, W, I] = t.shape;
          const out = new Float32Array(v.length);
          for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++)
            out[((o * I + i) * H + h) * W + w] = v[((o * H + h) * W + w) * I + i];
          tensors.push({ name: n, shape: [O, I, H, W], data: out });
        } else if (t.rank === 2 && !n.startsWith('classifier')) {
          // BN [1, C] → timm's [C], with distinctive values (the initial 1/0/0/1 would hide a mix-up).
          const d = Float32Array.from({ length: t.shape[1] }, (_, i) => 0.25 + i / 64 + (n.endsWith('bias') ? 1 : 0));
          tensors.push({ name: n, shape: [t.shape[1]], data: d });
          expected.set(n, [...d, ...d]);
        } else tensors.push({ name: n, shape: t.shape.slice(), data: Float32Array.from(v) });
        if (n.endsWith('running_var')) tensors.push({ name: n.replace('running_var', 'num_batches_tracked'), shape: [], data: BigInt64Array.from([123n]) });
      }
      const header: Record<string, unknown> = {};
      let pos = 0;
      for (const t of tensors) {
        header[t.name] = { dtype: t.data instanceof BigInt64Array ? 'I64' : 'F32', shape: t.shape, data_offsets: [pos, pos + t.data.byteLength] };
        pos += t.data.byteLength;
      }
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      const f = path.join(dir, 'timm.safetensors');
      fs.writeFileSync(f, Buffer.concat([len, json, ...tensors.map((t) => Buffer.from(t.data.buffer))]));

      io.loadModel(f, b, { layout: 'oihw', auxiliary: 'fromClean' });
      // b has two domains: both rows hold the file's single one.
      for (const [n, v] of valuesOf(b)) assert.deepEqual(v, expected.get(n), n);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('to(device) and cast() move every tensor and keep them trainable leaves', () => {
    const m = tiny(10);
    try {
      const before = valuesOf(m);
      for (const d of availableDevices()) {
        m.to(d);
        assert.ok([...m.parameters(), ...m.namedBuffers().map(([, t]) => t)].every((t) => t.device === d));
        assert.ok(m.parameters().every((t) => t.requiresGrad && t.isLeaf));
      }
      m.to('cpu').cast('f64');
      assert.ok(m.parameters().every((t) => t.dtype === 'f64' && t.requiresGrad));
      const after = valuesOf(m);
      for (const [n, v] of before) assert.deepEqual(after.get(n), v, n); // f32 → f64 is exact
    } finally {
      m.dispose();
    }
  });

  it('forward rejects inputs of the wrong shape, dtype or device before any kernel runs', () => {
    const m = tiny(11);
    try {
      ap.tidy(() => {
        expectCode(() => m.forward(ap.zeros([2, 8, 8, 1])), 'ERR_SHAPE', '[2, 8, 8, 1]');
        expectCode(() => m.forward(ap.zeros([2, 8, 8, 3], { dtype: 'f64' })), 'ERR_DTYPE', 'f64');
        expectCode(() => m.forward(ap.zeros([2, 8, 8, 3]), { segments: [[0, 1], [1, 2]] }), 'ERR_SHAPE', 'cover 3');
        expectCode(() => m.forward(ap.zeros([2, 8, 8, 3]), { segments: [[0, 1], [2, 1]] }), 'ERR_ARG', 'domain 2');
        const other = availableDevices().find((d) => d !== m.parameters()[0]!.device);
        if (other) expectCode(() => m.forward(ap.zeros([2, 8, 8, 3], { device: other })), 'ERR_DEVICE', other);
      });
    } finally {
      m.dispose();
    }
  });
});
