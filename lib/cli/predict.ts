// `advprop predict`: class probabilities for image files from a trained run or a weights file,
// through the clean BN with running statistics (domain 0, eval mode), as a deployed AdvProp model
// runs. Images are decoded, given EfficientNet's evaluation crop at the model's resolution, and
// sent through the model in batches; the model normalises them itself.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { AdvpropError } from '../errors.js';
import { defaultDevice, requireDevice } from '../device.js';
import { LIMITS } from '../args.js';
import { decodeImage } from '../data/decode.js';
import { centerCropResize, type Image } from '../data/transforms.js';
import { EFFICIENTNET_NAMES } from '../models/efficientnet_config.js';
import { noGrad } from '../autograd/mode.js';
import { tensor } from '../creation.js';
import { tidy } from '../memory.js';
import { num, oneOf, UsageError } from './args.js';
import { loadPredictModel, type PredictModel } from './predict_model.js';

export const PREDICT_USAGE = `usage: advprop predict --model RUN_OR_FILE --images PATH... [options]

Top-k classes of images, from a run folder (or its checkpoint) or a weights file under timm's
tf_efficientnet names (e.g. tf_efficientnet_b0.ap_in1k's model.safetensors from Hugging Face).
Clean BN with running statistics; images resized and centre-cropped as EfficientNet evaluates.

  --model PATH         a run folder, a checkpoint, or a .safetensors weights file
  --images PATH...     image files (PNG, JPEG) and folders (searched recursively, sorted)
  --top K              classes per image (default 5)
  --json               one JSON document: [{ file, top: [{ index, name, prob }] }]
  --batch-size N       images per forward pass (default 32)
  --device D           cpu, cuda, cuda-sim (default: the best available)
  --arch NAME          a weights file's architecture, b0..b8 or l2 (default: read from its shapes)
  --width W, --depth D a weights file's width and depth coefficients (scaled models)
  --resolution N       input side (default: the run's image size, or the architecture's)
  --crop-padding N     EfficientNet's crop padding (default 32; 0 for runs on small images)
  --classes FILE       class names, one per line (default: the run's dataset, or ImageNet's for 1000 classes)
  --ema                a run's EMA weights instead of its raw ones
  --strict             fail on an image that cannot be decoded instead of skipping it
  -h, --help`;

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

export interface Prediction { file: string; top: { index: number; name: string | null; prob: number }[] }

/** Files as given, folders walked in sorted order for their PNG and JPEG files. */
export function listImages(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (IMAGE_EXT.has(extname(e.name).toLowerCase())) out.push(p);
    }
  };
  for (const p of paths) {
    if (!existsSync(p)) throw new UsageError(`--images: ${p} does not exist`);
    if (statSync(p).isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

function readClasses(file: string, numClasses: number): string[] {
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`--classes: ${file} does not exist`);
  const names = readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim());
  while (names.length && names[names.length - 1] === '') names.pop();
  if (names.length !== numClasses) throw new UsageError(`--classes: ${file} has ${names.length} names, the model has ${numClasses} classes`);
  return names;
}

/** Softmax of one row of logits, in double precision on the host. */
function softmax(logits: ArrayLike<number>, from: number, n: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[from + i]!);
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (p[i] = Math.exp(logits[from + i]! - max));
  for (let i = 0; i < n; i++) p[i]! /= sum;
  return p;
}

function topK(p: Float64Array, k: number): number[] {
  // Stable: equal probabilities keep the lower class index first.
  return Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b).slice(0, k);
}

interface PredictOptions { top: number; batchSize: number; strict: boolean; classNames: readonly string[] | null; warn: (l: string) => void }

/** Decodes, crops and classifies `files` in batches; undecodable files are skipped with a warning. */
export function predictFiles(m: PredictModel, files: readonly string[], opts: PredictOptions): Prediction[] {
  const { resolution: r, inChannels: c, numClasses } = m;
  const device = m.model.parameters()[0]!.device;
  m.model.eval();
  const out: Prediction[] = [];
  const flush = (batch: { file: string; img: Image }[]): void => {
    if (!batch.length) return;
    const x = new Float32Array(batch.length * r * r * c);
    batch.forEach(({ img }, i) => { for (let j = 0; j < img.data.length; j++) x[i * img.data.length + j] = img.data[j]! / 255; });
    const logits = noGrad(() => tidy(() => m.model.forward(tensor(x, [batch.length, r, r, c], { device })).toArray()));
    batch.forEach(({ file }, i) => {
      const p = softmax(logits as Float32Array, i * numClasses, numClasses);
      out.push({ file, top: topK(p, opts.top).map((index) => ({ index, name: opts.classNames?.[index] ?? null, prob: p[index]! })) });
    });
  };
  let batch: { file: string; img: Image }[] = [];
  for (const file of files) {
    let img: Image;
    try {
      img = centerCropResize(decodeImage(file, c), r, m.cropPadding);
    } catch (e) {
      if (opts.strict || !(e instanceof AdvpropError) || !['ERR_FORMAT', 'ERR_IO', 'ERR_ARG'].includes(e.code)) throw e;
      const msg = e.message.split('\n')[0]!;
      opts.warn(`advprop predict: skipped ${msg.includes(file) ? msg : `${file}: ${msg}`}`);
      continue;
    }
    batch.push({ file, img });
    if (batch.length === opts.batchSize) { flush(batch); batch = []; }
  }
  flush(batch);
  return out;
}

export function formatPredictions(preds: readonly Prediction[]): string {
  const lines: string[] = [];
  for (const p of preds) {
    lines.push(p.file);
    const w = Math.max(...p.top.map((t) => String(t.index).length));
    for (const [i, t] of p.top.entries())
      lines.push(`  ${String(i + 1).padStart(2)}. ${String(t.index).padStart(w)}  ${(100 * t.prob).toFixed(2).padStart(6)}%  ${t.name ?? ''}`.trimEnd());
  }
  return lines.join('\n');
}

export async function runPredict(args: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args, strict: true, allowPositionals: true,
    options: {
      model: { type: 'string' }, images: { type: 'string', multiple: true }, top: { type: 'string' }, json: { type: 'boolean' },
      'batch-size': { type: 'string' }, device: { type: 'string' }, arch: { type: 'string' }, width: { type: 'string' },
      depth: { type: 'string' }, resolution: { type: 'string' }, 'crop-padding': { type: 'string' }, classes: { type: 'string' },
      ema: { type: 'boolean' }, strict: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { console.log(PREDICT_USAGE); return 0; }
  if (!v.model) throw new UsageError('--model RUN_OR_FILE is required');
  // `--images a.png b.png dir/`: the paths after the first arrive as positionals.
  const imagePaths = [...(v.images ?? []), ...positionals];
  if (!v.images?.length) throw new UsageError(positionals.length ? `unexpected argument '${positionals[0]}' (images follow --images)` : '--images PATH... is required');
  const positive = (s: string | undefined, flag: string, integer: boolean, max: number): number | undefined => {
    const n = num(s, flag, integer);
    if (n !== undefined && !(n > 0 && n <= max)) throw new UsageError(`${flag}: expected a number in (0, ${max}], got '${s}'`);
    return n;
  };
  const top = positive(v.top, '--top', true, LIMITS.channels) ?? 5;
  const batchSize = positive(v['batch-size'], '--batch-size', true, 4096) ?? 32;
  const resolution = positive(v.resolution, '--resolution', true, 4096);
  const padding = num(v['crop-padding'], '--crop-padding', true);
  if (padding !== undefined && !(padding >= 0 && padding <= 4096)) throw new UsageError(`--crop-padding: expected an integer in [0, 4096], got '${v['crop-padding']}'`);
  const width = positive(v.width, '--width', false, LIMITS.multiplier), depth = positive(v.depth, '--depth', false, LIMITS.multiplier);
  const arch = oneOf(v.arch, '--arch', EFFICIENTNET_NAMES);
  const device = requireDevice(v.device ?? defaultDevice(), '--device').device;
  const files = listImages(imagePaths);
  if (!files.length) throw new UsageError(`--images: no .png, .jpg or .jpeg files in ${imagePaths.join(', ')}`);
  const warn = (l: string): void => console.error(l);

  const m = loadPredictModel(v.model, { device, arch, width, depth, ema: v.ema ?? false, warn });
  try {
    if (resolution !== undefined) m.resolution = resolution;
    if (padding !== undefined) m.cropPadding = padding;
    const classNames = v.classes !== undefined ? readClasses(v.classes, m.numClasses) : m.classNames;
    const preds = predictFiles(m, files, { top: Math.min(top, m.numClasses), batchSize, strict: v.strict ?? false, classNames, warn });
    if (!preds.length) throw new AdvpropError('ERR_FORMAT', `none of the ${files.length} image(s) could be decoded`);
    if (v.json) console.log(JSON.stringify(preds, null, 2));
    else console.log(`${m.description} on ${device}, ${m.resolution}×${m.resolution} input\n${formatPredictions(preds)}`);
  } finally {
    m.model.dispose();
  }
  return 0;
}
