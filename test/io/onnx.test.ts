// ap.io.exportOnnx checked by an independent runtime: onnxruntime-node (a dev dependency) runs the
// exported graphs and its logits are compared with our eval-mode forward on the same images.
// Models get random BN affine parameters and biases, and running statistics from a train-mode
// pass with momentum 0 (domain 0 from images in [0, 1], domain 1 from differently distributed
// ones), so every tensor matters and a graph that read domain 1 would be far off.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ap from '../../lib/index.js';
import { decodeOnnx, type OnnxModel } from '../../lib/io/onnx_proto.js';
import { expectCode, hostRandom, relError } from '../helpers.js';

type Ort = typeof import('onnxruntime-node');
let ort: Ort | null = null;
let dir = '';

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advprop-onnx-'));
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    console.log(`      - onnxruntime-node tests skipped: it cannot be loaded (${(e as Error).message.split('\n')[0]}); \`ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci\` installs it`);
  }
});
after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const TOL = 1e-4;
/** The largest error each comparison measured, printed at the end (for the record in reviews). */
const measured: Record<string, number> = {};

interface Shape4 { n: number; h: number; w: number; c: number }

function images(s: Shape4, seed: number): Float32Array {
  return Float32Array.from(hostRandom(s.n * s.h * s.w * s.c, seed, 0, 1));
}

/** A model on cpu with every BN domain, bias and running statistic set to distinct values. */
function build(name: string, side: number, o: ap.models.BuildOptions = {}): ap.models.EfficientNet {
  const m = ap.models.efficientnet(name, { numClasses: 10, seed: 7, device: 'cpu', ...o, bnMomentum: 0 });
  const sd = m.stateDict();
  let seed = 1000;
  const fresh: Record<string, ap.Tensor> = {};
  for (const [k, t] of Object.entries(sd)) {
    if (t.rank !== 1 || /running_(mean|var)$/.test(k)) { fresh[k] = t; continue; }
    const centre = k.endsWith('.weight') ? 1 : 0; // rank-1 weights are BN's γ
    fresh[k] = ap.tensor(hostRandom(t.shape[0], seed++, centre - 0.3, centre + 0.3), t.shape, { dtype: 'f32', device: 'cpu' });
    t.dispose();
  }
  m.loadStateDict(fresh);
  ap.dispose(fresh);
  const s = { n: 8, h: side, w: side, c: m.config.inChannels };
  const clean = ap.tensor(images(s, 1), [s.n, side, side, s.c], { device: 'cpu' });
  const other = ap.tensor(images(s, 2).map((v) => 0.2 + 0.4 * v * v), [s.n, side, side, s.c], { device: 'cpu' });
  const segments: [number, number][] = m.config.domains > 1 ? [[0, s.n], [1, s.n]] : [[0, 2 * s.n]];
  m.train();
  ap.tidy(() => ap.noGrad(() => m.forward(ap.concat0([clean, other]), { segments })));
  m.eval();
  ap.dispose([clean, other]);
  // Statistics of 8 images leave some channels with a variance near 0, whose 1/√(σ² + ε) gains
  // multiply through the depth and make the random network ill-conditioned (our own f32 and f64
  // logits then differ by ~1e-3 on B2). A floor of 0.1 keeps f32 vs f64 near 1e-6, so what the
  // comparisons measure is the export, not the test model's condition.
  const st = m.stateDict();
  for (const k of Object.keys(st)) if (k.endsWith('running_var')) { const v = st[k]; st[k] = ap.add(v, 0.1); v.dispose(); }
  m.loadStateDict(st);
  ap.dispose(Object.values(st));
  return m;
}

/** Our eval-mode logits for NHWC images (domain 0 unless told). */
function ours(m: ap.models.EfficientNet, x: Float32Array, s: Shape4, domain = 0): Float32Array {
  return ap.tidy(() => ap.noGrad(() => {
    const t = ap.tensor(x, [s.n, s.h, s.w, s.c], { device: 'cpu' });
    return m.forward(t, { segments: [[domain, s.n]] }).toArray() as Float32Array;
  }));
}

function toNchw(x: Float32Array, s: Shape4): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < s.n; n++)
    for (let y = 0; y < s.h; y++)
      for (let xx = 0; xx < s.w; xx++)
        for (let c = 0; c < s.c; c++) out[((n * s.c + c) * s.h + y) * s.w + xx] = x[((n * s.h + y) * s.w + xx) * s.c + c];
  return out;
}

/** onnxruntime's logits for the same images, run in batches of `batch`. */
async function theirs(file: string, x: Float32Array, s: Shape4, layout: 'nhwc' | 'nchw', batch: number): Promise<Float32Array> {
  const session = await ort!.InferenceSession.create(file);
  try {
    const per = s.h * s.w * s.c;
    const input = layout === 'nchw' ? toNchw(x, s) : x;
    const chunks: Float32Array[] = [];
    for (let i = 0; i < s.n; i += batch) {
      const b = Math.min(batch, s.n - i);
      const dims = layout === 'nhwc' ? [b, s.h, s.w, s.c] : [b, s.c, s.h, s.w];
      const out = await session.run({ images: new ort!.Tensor('float32', input.slice(i * per, (i + b) * per), dims) });
      assert.deepEqual(out.logits.dims, [b, 10]);
      chunks.push(out.logits.data as Float32Array);
    }
    const all = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let off = 0;
    for (const c of chunks) { all.set(c, off); off += c.length; }
    return all;
  } finally {
    await session.release();
  }
}

/** The largest per-image ‖theirs − ours‖ / ‖ours‖ over the batch. */
function maxRel(a: Float32Array, ref: Float32Array, k = 10): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i += k) worst = Math.max(worst, relError(a.subarray(i, i + k), ref.subarray(i, i + k)));
  return worst;
}

/** Exports, runs 16 images at batch sizes 16 and 5 on onnxruntime, and checks the logits. */
async function compare(label: string, m: ap.models.EfficientNet, opts: ap.io.ExportOnnxOptions, s: Shape4, tol = TOL, ref?: Float32Array): Promise<OnnxModel> {
  const file = path.join(dir, `${label.replace(/\W+/g, '_')}.onnx`);
  ap.io.exportOnnx(m, file, opts);
  const x = images(s, 99);
  const want = ref ?? ours(m, x, s);
  for (const batch of [16, 5]) {
    const got = await theirs(file, x, s, opts.layout ?? 'nhwc', batch);
    const err = maxRel(got, want);
    measured[label] = Math.max(measured[label] ?? 0, err);
    assert.ok(err <= tol, `${label}, batch ${batch}: relative error ${err.toExponential(3)} > ${tol}`);
  }
  return decodeOnnx(fs.readFileSync(file));
}

const ops = (g: OnnxModel): Set<string> => new Set(g.graph.node.map((n) => n.op_type));

describe('exportOnnx, run by onnxruntime-node', function () {
  this.timeout(120000);
  beforeEach(function () { if (!ort) this.skip(); });
  after(() => { if (Object.keys(measured).length) console.log(`      max relative errors: ${Object.entries(measured).map(([k, v]) => `${k} ${v.toExponential(2)}`).join('; ')}`); });

  let b0: ap.models.EfficientNet | null = null;
  const B0 = { n: 16, h: 64, w: 64, c: 3 };
  const getB0 = (): ap.models.EfficientNet => (b0 ??= build('b0', 64));
  after(() => { b0?.dispose(); });

  it('B0 at 64×64, NHWC: opset 17, dynamic batch, logits within 1e-4 at batch sizes 16 and 5', async () => {
    const g = await compare('b0 nhwc', getB0(), { resolution: 64 }, B0);
    assert.equal(g.opset_import[0].version, 17);
    assert.deepEqual(g.graph.input[0].type.tensor_type.shape.dim, [{ dim_param: 'N' }, { dim_value: 64 }, { dim_value: 64 }, { dim_value: 3 }]);
    assert.deepEqual(g.graph.output[0].type.tensor_type.shape.dim, [{ dim_param: 'N' }, { dim_value: 10 }]);
    assert.ok(ops(g).has('BatchNormalization') && !ops(g).has('Dropout'));
  });

  it('B0 with BN folded into the convolutions, NCHW input: the same bound, no BatchNormalization left', async () => {
    const g = await compare('b0 fold nchw', getB0(), { resolution: 64, foldBn: true, layout: 'nchw' }, B0);
    assert.ok(!ops(g).has('BatchNormalization'));
    assert.deepEqual(g.graph.input[0].type.tensor_type.shape.dim.map((d) => Object.values(d)[0]), ['N', 3, 64, 64]);
  });

  it('B0 with a dynamic spatial size runs at 64×64 and at 45×61 (TF same padding: the odd pixel at the end)', async () => {
    const file = path.join(dir, 'b0_dynamic.onnx');
    const info = ap.io.exportOnnx(getB0(), file, { dynamicSpatial: true, foldBn: true });
    assert.deepEqual(info.input.shape, ['N', 'H', 'W', 3]);
    for (const s of [{ n: 4, h: 64, w: 64, c: 3 }, { n: 3, h: 45, w: 61, c: 3 }]) {
      const x = images(s, 5);
      const err = maxRel(await theirs(file, x, s, 'nhwc', s.n), ours(getB0(), x, s));
      measured['b0 dynamic'] = Math.max(measured['b0 dynamic'] ?? 0, err);
      assert.ok(err <= TOL, `${s.h}×${s.w}: relative error ${err.toExponential(3)}`);
    }
  });

  it('the train CLI\'s model (B0, width and depth 0.25, 1 channel, 28×28), NHWC and NCHW, folded or not', async () => {
    const m = build('b0', 28, { width: 0.25, depth: 0.25, inChannels: 1 });
    const s = { n: 16, h: 28, w: 28, c: 1 };
    try {
      await compare('b0 w0.25 nhwc', m, { resolution: 28 }, s);
      await compare('b0 w0.25 fold nchw', m, { resolution: 28, layout: 'nchw', foldBn: true }, s);
    } finally { m.dispose(); }
  });

  it('B2 (width 1.1, depth 1.2) at 48×48', async () => {
    const m = build('b2', 48);
    try {
      await compare('b2', m, { resolution: 48 }, { n: 16, h: 48, w: 48, c: 3 });
    } finally { m.dispose(); }
  });

  it('f16 weights: equal to our model with f16-rounded weights within 1e-4, and to the f32 model within 5e-3', async () => {
    const m = getB0();
    // The f16 file holds each weight rounded to f16 (relative error ≤ u = 2⁻¹¹ ≈ 4.9e-4) and
    // computes in f32. The same rounding applied to our model must give the same logits within
    // 1e-4. The distance to the f32 model is what the rounding costs: every layer's output moves by
    // about u relative, and these perturbations add up over the ~80 weight layers mostly as a random
    // walk, so a few u (measured 9.2e-4 here) and within 10u = 5e-3 for a model whose f32 logits
    // are themselves well conditioned (f32 vs f64 ~1e-6 here).
    const s = B0;
    const x = images(s, 99);
    const exact = ours(m, x, s);
    const rounded = build('b0', 64);
    try {
      const sd = m.stateDict();
      const half: Record<string, ap.Tensor> = {};
      for (const [k, t] of Object.entries(sd)) half[k] = ap.tidy(() => ap.cast(ap.cast(t, 'f16'), 'f32'));
      rounded.loadStateDict(half);
      ap.dispose([...Object.values(sd), ...Object.values(half)]);
      const g = await compare('b0 f16 vs rounded', rounded, { resolution: 64, dtype: 'f16' }, s, TOL);
      assert.ok(g.graph.initializer.filter((t) => t.dims.length === 4).every((t) => t.data_type === 10), 'conv weights are not f16');
      await compare('b0 f16 vs f32', m, { resolution: 64, dtype: 'f16' }, s, 5e-3, exact);
      const size = (o: ap.io.ExportOnnxOptions): number => ap.io.exportOnnx(m, path.join(dir, 'size.onnx'), { resolution: 64, ...o }).bytes;
      assert.ok(size({ dtype: 'f16' }) < 0.55 * size({}), 'the f16 file is not about half the size');
    } finally { rounded.dispose(); }
  });

  it('a model with two BN domains exports domain 0 only: its logits, and no tensor of domain 1', async () => {
    // Symmetric padding (PyTorch-style EfficientNets) is checked here too.
    const m = build('b0', 32, { width: 0.25, depth: 0.25, domains: 2, padding: 'symmetric' });
    const s = { n: 16, h: 32, w: 32, c: 3 };
    try {
      const x = images(s, 99);
      const d1 = ours(m, x, s, 1);
      const g = await compare('2 domains', m, { resolution: 32 }, s);
      // Domain 1's statistics really differ: a graph that used them would fail by far.
      assert.ok(maxRel(d1, ours(m, x, s)) > 0.05, 'domain 1 is too close to domain 0 for this test to tell them apart');
      const clean = m.stateDict({ auxiliary: false });
      const names = g.graph.initializer.map((t) => t.name).filter((n) => !n.startsWith('normalize.'));
      assert.deepEqual([...names].sort(), Object.keys(clean).sort(), 'initializers are not the clean state dict');
      for (const t of g.graph.initializer) {
        if (t.name.startsWith('normalize.')) continue;
        const want = clean[t.name];
        assert.deepEqual(t.dims, want.rank === 4 ? [want.shape[0], want.shape[3], want.shape[1], want.shape[2]] : want.shape, t.name);
        if (want.rank === 1) {
          const got = new Float32Array(Uint8Array.from(t.raw_data).buffer);
          assert.deepEqual(got, want.toArray(), `${t.name} is not domain 0's`);
        }
      }
      ap.dispose(Object.values(clean));
    } finally { m.dispose(); }
  });
});

describe('exportOnnx: bad arguments and the file', () => {
  let m: ap.models.EfficientNet | null = null;
  const tiny = (): ap.models.EfficientNet => (m ??= ap.models.efficientnet('b0', {
    width: 1, depth: 1, stemFilters: 8, headFilters: 16, numClasses: 4, inChannels: 1, seed: 1, device: 'cpu',
    stages: [{ repeats: 1, kernel: 3, stride: 2, expand: 2, inFilters: 8, outFilters: 8, seRatio: 0.25 }],
  }));
  after(() => { m?.dispose(); });
  const f = (): string => path.join(dir, 'bad.onnx');

  it('refuses bad options with ERR_ARG naming the option', () => {
    expectCode(() => ap.io.exportOnnx({} as ap.models.EfficientNet, f()), 'ERR_ARG', 'model must be an EfficientNet');
    expectCode(() => ap.io.exportOnnx(tiny(), f(), { layout: 'nwhc' as 'nhwc' }), 'ERR_ARG', 'layout');
    expectCode(() => ap.io.exportOnnx(tiny(), f(), { dtype: 'bf16' as 'f16' }), 'ERR_ARG', 'dtype');
    expectCode(() => ap.io.exportOnnx(tiny(), f(), { foldBn: 1 as unknown as boolean }), 'ERR_ARG', 'foldBn');
    expectCode(() => ap.io.exportOnnx(tiny(), f(), { dynamicSpatial: 'yes' as unknown as boolean }), 'ERR_ARG', 'dynamicSpatial');
    for (const r of [0, -8, 1.5, [8], [8, 0], '8'])
      expectCode(() => ap.io.exportOnnx(tiny(), f(), { resolution: r as number }), 'ERR_ARG', 'resolution');
    expectCode(() => ap.io.exportOnnx(tiny(), f(), { resolution: 16, dynamicSpatial: true }), 'ERR_ARG', 'exclude each other');
    expectCode(() => ap.io.exportOnnx(tiny(), f(), 'fast' as ap.io.ExportOnnxOptions), 'ERR_ARG', 'exportOnnx');
    expectCode(() => ap.io.exportOnnx(tiny(), 42 as unknown as string), 'ERR_ARG', 'file');
    assert.ok(!fs.existsSync(f()), 'a refused export wrote a file');
  });

  it('a too small fixed size for a padded kernel is ERR_SHAPE; an unwritable path ERR_IO', () => {
    // An even kernel with symmetric padding ((k − 1) / 2 each side, rounded down) needs 2 pixels.
    const sym = ap.models.efficientnet('b0', {
      width: 1, depth: 1, stemFilters: 8, headFilters: 16, numClasses: 4, inChannels: 1, padding: 'symmetric', device: 'cpu',
      stages: [{ repeats: 1, kernel: 4, stride: 1, expand: 2, inFilters: 8, outFilters: 8, seRatio: 0.25 }],
    });
    try {
      expectCode(() => ap.io.exportOnnx(sym, f(), { resolution: 1 }), 'ERR_SHAPE', 'larger resolution');
    } finally { sym.dispose(); }
    expectCode(() => ap.io.exportOnnx(tiny(), path.join(dir, 'missing', 'x.onnx'), { resolution: 8 }), 'ERR_IO', 'exportOnnx: cannot write');
  });

  it('writes atomically: an existing file is replaced whole and no temporary file is left', () => {
    const file = path.join(dir, 'atomic.onnx');
    fs.writeFileSync(file, 'old');
    const info = ap.io.exportOnnx(tiny(), file, { resolution: 8, layout: 'nchw' });
    assert.equal(fs.statSync(file).size, info.bytes);
    assert.deepEqual(info.input, { name: 'images', shape: ['N', 1, 8, 8] });
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('atomic') && n.endsWith('.tmp')), []);
    const g = decodeOnnx(fs.readFileSync(file));
    assert.equal(g.graph.node.length, info.nodes);
    assert.equal(g.metadata_props.find((p) => p.key === 'advprop.layout')?.value, 'nchw');
  });
});
