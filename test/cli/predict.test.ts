// `advprop predict`, run as a user runs it: on generated PNG and JPEG files, from a run folder
// trained for two steps and from a generated B0 file under timm's names and layout (what
// tf_efficientnet_b0.ap_in1k's model.safetensors holds), compared with our own forward.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import * as ap from '../../lib/index.js';
import { IMAGENET_CLASSES } from '../../lib/data/imagenet_classes.js';
import { TRAIN_DEFAULTS } from '../../lib/train/config.js';
import { trainRun } from '../../lib/train/run.js';
import { decodeRaw, encodeRaw } from '../io/raw_safetensors.js';
import { isUsageError } from '../../lib/cli/args.js';
import { runPredict } from '../../lib/cli/predict.js';

const CLI = ['--import', 'tsx', 'lib/cli/main.ts'];
const cli = (...args: string[]) => spawnSync(process.execPath, [...CLI, 'predict', ...args], { encoding: 'utf8' });
const RES = 48; // a small input side keeps the 1000-class B0 quick on cpu

interface Pred { file: string; top: { index: number; name: string | null; prob: number }[] }

function png(file: string, w: number, h: number, seed: number): void {
  const p = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++)
    for (let k = 0; k < 3; k++) p.data[4 * i + k] = (Math.sin(seed * 1.7 + i * (0.013 + 0.007 * k) + seed * k) * 0.5 + 0.5) * 255;
  for (let i = 0; i < w * h; i++) p.data[4 * i + 3] = 255;
  writeFileSync(file, PNG.sync.write(p));
}

function jpg(file: string, w: number, h: number): void {
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([(i * 3) % 256, (i * 5) % 256, 200, 255], 4 * i);
  writeFileSync(file, jpeg.encode({ data: rgba, width: w, height: h }, 90).data);
}

/** A B0 with 1000 classes as timm stores it: OIHW, BN as [C] with num_batches_tracked, no checksums. */
function timmFile(file: string): void {
  const model = ap.models.efficientnet('b0', { domains: 1, seed: 7 });
  // Larger class weights spread the probabilities, so the top five are far from ties.
  ap.noGrad(() => ap.tidy(() => { model.loadStateDict({ 'classifier.weight': ap.mul(model.classifier.param('weight'), 40) }, { strict: false }); }));
  ap.io.saveModel(file, model, { layout: 'oihw', auxiliary: false });
  model.dispose();
  const f = decodeRaw(readFileSync(file));
  f.metadata = null;
  f.entries = f.entries.flatMap((e) => (e.name.endsWith('.running_var')
    ? [e, { name: e.name.replace('running_var', 'num_batches_tracked'), dtype: 'I64', shape: [], bytes: Buffer.from(BigInt64Array.of(1234n).buffer) }]
    : [e]));
  writeFileSync(file, encodeRaw(f, false));
}

/** Our forward on the same files: the model loaded by ap.io.loadModel, the images by ap.data. */
function reference(model: ap.nn.Module, files: string[], res: number, padding: number, channels: number): Float64Array[] {
  model.eval();
  const imgs = files.map((f) => ap.data.centerCropResize(ap.data.decodeImage(f, channels), res, padding));
  const x = new Float32Array(files.length * res * res * channels);
  imgs.forEach((img, i) => img.data.forEach((v, j) => { x[i * img.data.length + j] = v / 255; }));
  const logits = ap.noGrad(() => ap.tidy(() => model.forward(ap.tensor(x, [files.length, res, res, channels])).toArray())) as Float32Array;
  const n = logits.length / files.length;
  return files.map((_, i) => {
    const row = Array.from(logits.subarray(i * n, (i + 1) * n));
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const s = e.reduce((a, b) => a + b, 0);
    return Float64Array.from(e, (v) => v / s);
  });
}

function checkAgainst(preds: Pred[], ref: Float64Array[], k: number, names: readonly string[] | null): void {
  preds.forEach((p, i) => {
    const want = Array.from(ref[i]!.keys()).sort((a, b) => ref[i]![b]! - ref[i]![a]!).slice(0, k);
    assert.deepEqual(p.top.map((t) => t.index), want, p.file);
    for (const t of p.top) {
      assert.ok(Math.abs(t.prob - ref[i]![t.index]!) <= 1e-5 + 1e-4 * ref[i]![t.index]!, `${p.file} class ${t.index}: ${t.prob} vs ${ref[i]![t.index]}`);
      assert.equal(t.name, names ? names[t.index] : null);
    }
  });
}

function failsWith(r: ReturnType<typeof cli>, status: number, re: RegExp, what: string): void {
  assert.equal(r.status, status, `${what}: exit ${r.status}\n${r.stderr}`);
  // Skipped images are warned about, each on its own line, before the error.
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('advprop predict: skipped '));
  assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
  assert.match(lines[0]!, re, what);
}

describe('advprop predict', function () {
  this.timeout(300000);
  const dir = mkdtempSync(join(tmpdir(), 'advprop-predict-'));
  const weights = join(dir, 'model.safetensors');
  const photos = join(dir, 'photos');
  // Sorted as the CLI walks them: b.png, c.png, sub/a.jpg (folders and files by name).
  const good = [join(photos, 'b.png'), join(photos, 'c.png'), join(photos, 'sub', 'a.jpg')];
  const corrupt = join(photos, 'sub', 'broken.png');

  before(() => {
    mkdirSync(join(photos, 'sub'), { recursive: true });
    png(good[0]!, 80, 60, 1);
    png(good[1]!, 50, 70, 2);
    jpg(good[2]!, 64, 64);
    writeFileSync(corrupt, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('truncated')]));
    writeFileSync(join(photos, 'notes.txt'), 'not an image: the folder walk leaves it out');
    timmFile(weights);
  });

  it('the bundled ImageNet names are the 1000 classes in index order', () => {
    assert.equal(IMAGENET_CLASSES.length, 1000);
    assert.deepEqual([IMAGENET_CLASSES[0], IMAGENET_CLASSES[1], IMAGENET_CLASSES[281], IMAGENET_CLASSES[999]], ['tench', 'goldfish', 'tabby', 'toilet tissue']);
  });

  it('a timm-named B0 file: top-5 and probabilities as our forward, ImageNet names, JSON, a corrupt image skipped', () => {
    const r = cli('--model', weights, '--images', photos, '--resolution', String(RES), '--json', '--batch-size', '2', '--device', 'cpu');
    assert.equal(r.status, 0, r.stderr);
    const preds = JSON.parse(r.stdout) as Pred[];
    assert.deepEqual(preds.map((p) => p.file), good);
    for (const p of preds) {
      assert.deepEqual(Object.keys(p).sort(), ['file', 'top']);
      assert.equal(p.top.length, 5);
      for (const t of p.top) assert.deepEqual(Object.keys(t).sort(), ['index', 'name', 'prob']);
    }
    assert.match(r.stderr, new RegExp(`skipped .*broken\\.png`));
    const model = ap.models.efficientnet('b0', { seed: 99 }); // two domains: the file's one fills both
    ap.io.loadModel(weights, model, { layout: 'oihw', auxiliary: 'fromClean' });
    checkAgainst(preds, reference(model, good, RES, 32, 3), 5, IMAGENET_CLASSES);
    model.dispose();
    // The table names each file and its classes; --strict refuses the corrupt file.
    const table = cli('--model', weights, '--images', good[0]!, '--resolution', String(RES), '--top', '3', '--device', 'cpu');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /efficientnet-b0, OIHW, 1000 classes/);
    assert.equal(table.stdout.trim().split('\n').length, 2 + 3);
    assert.ok(table.stdout.includes(IMAGENET_CLASSES[preds[0]!.top[0]!.index]!));
    failsWith(cli('--model', weights, '--images', photos, '--resolution', String(RES), '--strict', '--device', 'cpu'), 1, /ERR_FORMAT: .*broken\.png/, '--strict');
  });

  it('the README example runs as written, on the generated file in place of the download', () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('### Predicting, with a run or with published AdvProp weights'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    assert.match(block, /curl -L -o model\.safetensors https:\/\/huggingface\.co\/timm\/tf_efficientnet_b0\.ap_in1k\/resolve\/main\/model\.safetensors/);
    const line = block.split('\n').find((l) => l.startsWith('npx advprop predict '))!;
    const args = line.replace('npx advprop predict ', '').split(/\s+/).filter(Boolean)
      .map((a) => (a === 'model.safetensors' ? weights : a === 'photos/' ? `${photos}/` : a));
    assert.ok(args.includes(weights) && args.includes(`${photos}/`), line);
    const r = cli(...args, '--json', '--device', 'cpu');
    assert.equal(r.status, 0, r.stderr);
    const preds = JSON.parse(r.stdout) as Pred[];
    assert.deepEqual(preds.map((p) => p.file), good);
    const model = ap.models.efficientnet('b0', { domains: 1 });
    ap.io.loadModel(weights, model, { layout: 'oihw' });
    checkAgainst(preds, reference(model, good, 224, 32, 3), 5, IMAGENET_CLASSES);
    model.dispose();
  });

  it('a run folder: Fashion-MNIST names, whole 28 × 28 images, raw and EMA weights; its exported file agrees', async () => {
    const run = join(dir, 'run');
    await trainRun({ ...TRAIN_DEFAULTS, limit: 32, batchSize: 16, epochs: 1, evalLimit: 16, evalEpsilons: [1], progress: false, workers: 0, device: 'cpu', out: run, maxSteps: 2 }, { log: () => undefined });
    const small = join(dir, 'small');
    mkdirSync(small);
    const files = [0, 1, 2].map((i) => join(small, `${i}.png`));
    files.forEach((f, i) => png(f, 28, 28, 10 + i));
    for (const ema of [false, true]) {
      const r = cli('--model', run, '--images', small, '--top', '3', '--json', '--device', 'cpu', ...(ema ? ['--ema'] : []));
      assert.equal(r.status, 0, r.stderr);
      const preds = JSON.parse(r.stdout) as Pred[];
      const model = ap.models.efficientnet('b0', { width: 0.25, depth: 0.25, numClasses: 10, inChannels: 1, domains: 2 });
      ap.io.loadModel(join(run, ema ? 'model-ema.safetensors' : 'model.safetensors'), model);
      checkAgainst(preds, reference(model, files, 28, 0, 1), 3, ap.data.FASHION_MNIST_CLASSES);
      model.dispose();
      if (!ema) {
        // The run's exported file, with its architecture, size and crop given, predicts the same.
        const f = cli('--model', join(run, 'model.safetensors'), '--images', small, '--top', '3', '--json', '--device', 'cpu',
          '--arch', 'b0', '--width', '0.25', '--depth', '0.25', '--resolution', '28', '--crop-padding', '0');
        assert.equal(f.status, 0, f.stderr);
        assert.deepEqual((JSON.parse(f.stdout) as Pred[]).map((p) => p.top.map((t) => [t.index, t.prob])), preds.map((p) => p.top.map((t) => [t.index, t.prob])));
      }
    }
    // The same predictions on every other available device (cuda when present, the simulator).
    const onCpu = JSON.parse(cli('--model', run, '--images', small, '--top', '3', '--json', '--device', 'cpu').stdout) as Pred[];
    const others = ap.devices().filter((d) => d.available && d.type !== 'cpu').map((d) => d.device);
    if (!others.length) console.log('      (no cuda or cuda-sim device available: predict ran on cpu only)');
    for (const device of others) {
      const r = cli('--model', run, '--images', small, '--top', '3', '--json', '--device', device);
      assert.equal(r.status, 0, r.stderr);
      const preds = JSON.parse(r.stdout) as Pred[];
      preds.forEach((p, i) => p.top.forEach((t, k) => {
        const c = onCpu[i]!.top[k]!;
        // Two classes may trade ranks only when their probabilities tie to rounding.
        assert.ok(Math.abs(t.prob - c.prob) <= 1e-4 && (t.index === c.index || Math.abs(t.prob - c.prob) <= 1e-6),
          `${device} ${p.file} rank ${k + 1}: ${t.index} ${t.prob} vs cpu ${c.index} ${c.prob}`);
      }));
    }
    // --classes overrides the dataset's names; a list of the wrong length is refused.
    const names = join(dir, 'names.txt');
    writeFileSync(names, Array.from({ length: 10 }, (_, i) => `kind ${i}`).join('\n') + '\n');
    const r = cli('--model', run, '--images', files[0]!, '--top', '2', '--json', '--classes', names, '--device', 'cpu');
    assert.equal(r.status, 0, r.stderr);
    for (const t of (JSON.parse(r.stdout) as Pred[])[0]!.top) assert.equal(t.name, `kind ${t.index}`);
    writeFileSync(names, 'a\nb\n');
    failsWith(cli('--model', run, '--images', files[0]!, '--classes', names, '--device', 'cpu'), 2, /--classes: .* has 2 names, the model has 10 classes/, 'class count');
    failsWith(cli('--model', join(run, 'model.safetensors'), '--images', files[0]!, '--device', 'cpu'), 1, /ERR_FORMAT: .*fit none of b0, .*give --arch/, 'scaled file without --width');
  });

  it('bad inputs: a usage error (exit 2) or the file\'s coded error (exit 1), one line, never a crash', async () => {
    const junk = join(dir, 'junk.safetensors');
    writeFileSync(junk, 'not safetensors at all');
    const cases: [string[], boolean, RegExp][] = [
      [['--images', good[0]!], true, /--model RUN_OR_FILE is required/],
      [['--model', weights], true, /--images PATH\.\.\. is required/],
      [['--model', join(dir, 'nope.safetensors'), '--images', good[0]!], true, /--model: .*nope\.safetensors does not exist/],
      [['--model', weights, '--images', join(dir, 'missing.png')], true, /--images: .*missing\.png does not exist/],
      [['--model', weights, '--images', good[0]!, '--arch', 'b9'], true, /--arch: expected one of b0/],
      [['--model', weights, '--images', good[0]!, '--arch', 'b1', '--resolution', '32'], true, /--arch b1: .* does not fit efficientnet-b1: .*missing blocks\./],
      [['--model', weights, '--images', good[0]!, '--top', '0'], true, /--top: expected a number in \(0/],
      [['--model', weights, '--images', good[0]!, '--batch-size', 'x'], true, /--batch-size: expected an integer/],
      [['--model', weights, '--images', good[0]!, '--ema'], true, /--ema is for run folders/],
      [['--model', weights, '--images', good[0]!, '--device', 'tpu'], true, /--device: unknown device 'tpu'/],
      [['--model', weights, '--images', good[0]!, '--bogus'], true, /Unknown option '--bogus'/],
      [['--model', junk, '--images', good[0]!], false, /safetensors: .*junk\.safetensors/],
      [['--model', weights, '--images', corrupt, '--resolution', '32'], false, /none of the 1 image\(s\) could be decoded/],
    ];
    const quiet = console.error;
    console.error = () => undefined; // the skipped image's warning
    try {
      for (const [args, usage, re] of cases) {
        const what = args.join(' ');
        const e = await runPredict([...args, '--device', args.includes('--device') ? args[args.indexOf('--device') + 1]! : 'cpu']).then(() => null, (err: unknown) => err);
        assert.ok(e instanceof Error, `${what}: no error`);
        assert.equal(isUsageError(e), usage, `${what}: ${String(e)}`);
        if (!usage) assert.ok(e instanceof ap.AdvpropError && e.code === 'ERR_FORMAT', `${what}: ${String(e)}`);
        assert.match(e.message, re, what);
      }
    } finally {
      console.error = quiet;
    }
    // Through the command: the exit codes and the one line.
    failsWith(cli('--model', join(dir, 'nope.safetensors'), '--images', good[0]!), 2, /^advprop: --model: .*does not exist/, 'missing model');
    failsWith(cli('--model', junk, '--images', good[0]!, '--device', 'cpu'), 1, /^advprop: ERR_FORMAT: safetensors: /, 'junk model');
    const help = cli('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--images PATH\.\.\./);
  });
});
