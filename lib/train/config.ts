// The configuration of one training run (`advprop train`), its defaults and validation. The
// defaults train a small EfficientNet on the bundled Fashion-MNIST in a few minutes on 2 cores.
import { AdvpropError } from '../errors.js';
import { showValue } from '../device.js';
import { LIMITS, objectArg } from '../args.js';
import { EFFICIENTNET_NAMES } from '../models/efficientnet_config.js';
import { METHODS, type Method } from './methods.js';
import type { ScheduleName } from './schedule.js';
import { PRECISIONS, type Precision } from '../precision.js';
import { AUGMENTS, type Augment } from '../data/efficientnet_transforms.js';
import { RANDAUGMENT_MAX_M } from '../data/randaugment.js';

export interface TrainConfig {
  model: string; // efficientnet name: b0..b8, l2
  width?: number; // width/depth overrides for small images
  depth?: number;
  bnMomentum: number; // TF convention; short runs want less (0.9) so running statistics settle
  data?: string; // a data folder; default: the full Fashion-MNIST if installed, else the bundled subset
  method: Method;
  epsilon: number; // pixel units of 255
  attackSteps?: number;
  epochs: number;
  batchSize: number;
  lr?: number; // peak LR; default 0.016 per 256 images
  optimizer: 'rmsprop' | 'sgd';
  schedule: ScheduleName;
  warmupEpochs: number;
  weightDecay: number;
  labelSmoothing: number;
  ema: number | false;
  device?: string;
  /** fp32 | tf32 | bf16 | fp16 (lib/precision.ts); default bf16 on a CUDA GPU of compute capability 8.0+, else fp32. */
  precision?: Precision;
  seed: number;
  out?: string; // run folder; default runs/<name>
  name?: string;
  resume?: string; // a checkpoint file, or a run folder (uses its last.safetensors); the run continues there unless `out`
  /** Resume even when options that change the training differ from the checkpoint's. */
  allowConfigChange?: boolean;
  maxSteps?: number;
  limit?: number; // use only the first N training images
  evalLimit: number; // test images for the final evaluation (corruptions run 45 passes over them)
  evalEpsilons: number[]; // PGD ε (pixel units) for the final robustness numbers
  /** true ('basic'): random crop (pad 2) + flip on small images, random-resized crop + flip on
   * image files; false ('none'); or 'autoaugment' / 'randaugment' on top of 'basic'. */
  augment: boolean | Augment;
  /** RandAugment's N ops and magnitude M (of 0..30) with augment 'randaugment'; default 2, 9. */
  randAugment?: { n: number; m: number };
  /** Input size for image files (default the model's: B0 224 … L2 800); refused for in-memory sets. */
  resolution?: number;
  /** An image file that does not decode stops the run (ERR_FORMAT) instead of being left out. */
  strict?: boolean;
  workers: number; // data loader threads
  /** Batches the loader prepares ahead of the step that is running (default 2). */
  prefetch?: number;
  checkpointEvery: number; // steps between checkpoints (0: once per epoch only)
  logEvery: number; // steps between metrics.jsonl lines
  progress: boolean;
  /** Export model.safetensors / model-ema.safetensors with the clean BN domain only (for inference). */
  stripAux: boolean;
  /** Data parallel (mpirun/srun, --nproc): batch norm statistics per rank ('none', default) or per
   * domain over every rank ('domain'). batchSize is per rank; the global batch is ranks × batchSize. */
  bnSync?: 'none' | 'domain';
  /** Capture the training step as a CUDA graph and replay it (cuda, cuda-sim; the same numbers as without). */
  cudaGraph?: boolean;
}

export const TRAIN_DEFAULTS: TrainConfig = {
  model: 'b0', width: 0.25, depth: 0.25, bnMomentum: 0.9, method: 'advprop', epsilon: 1, epochs: 2, batchSize: 64,
  lr: undefined, optimizer: 'rmsprop', schedule: 'exponential', warmupEpochs: 5, weightDecay: 1e-5, labelSmoothing: 0.1,
  ema: 0.999, seed: 0, evalLimit: 1000, evalEpsilons: [1, 2, 4], augment: true, workers: 1, checkpointEvery: 0, logEvery: 10,
  progress: true, stripAux: false,
};

export function checkTrainConfig(config: TrainConfig): TrainConfig {
  const c = objectArg<TrainConfig>(config, 'trainRun', 'config', 'a TrainConfig object (see TRAIN_DEFAULTS)');
  const bad = (msg: string): never => { throw new AdvpropError('ERR_ARG', msg); };
  const int = (v: unknown, flag: string, min: number, max: number): void => {
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) bad(`${flag} must be an integer in [${min}, ${max}], got ${show(v)}`);
  };
  const num = (v: unknown, flag: string, min: number, max: number, what = `a number in [${min}, ${max}]`): void => {
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max)) bad(`${flag} must be ${what}, got ${show(v)}`);
  };
  const str = (v: unknown, flag: string): void => {
    if (v !== undefined && (typeof v !== 'string' || v === '')) bad(`${flag} must be a non-empty string, got ${show(v)}`);
  };
  if (!(EFFICIENTNET_NAMES as readonly unknown[]).includes(c.model)) bad(`--model must be one of ${EFFICIENTNET_NAMES.join(', ')}, got ${show(c.model)}`);
  if (!METHODS.includes(c.method)) bad(`--method must be one of ${METHODS.join(', ')}, got ${show(c.method)}`);
  num(c.epsilon, '--epsilon', 0, 255, 'a number in [0, 255] (pixel units of 255)');
  int(c.epochs, '--epochs', 1, LIMITS.epochs);
  int(c.batchSize, '--batch-size', 1, LIMITS.batch);
  if (c.lr !== undefined) num(c.lr, '--lr', Number.MIN_VALUE, Infinity, 'a finite number > 0');
  if (c.maxSteps !== undefined) int(c.maxSteps, '--max-steps', 1, Number.MAX_SAFE_INTEGER);
  if (c.limit !== undefined) int(c.limit, '--limit', 1, Number.MAX_SAFE_INTEGER);
  num(c.bnMomentum, '--bn-momentum', 0, 1, 'a number in [0, 1)');
  if (c.bnMomentum === 1) bad('--bn-momentum must be a number in [0, 1), got 1');
  if (c.width !== undefined) num(c.width, '--width', Number.MIN_VALUE, LIMITS.multiplier, `a number in (0, ${LIMITS.multiplier}]`);
  if (c.depth !== undefined) num(c.depth, '--depth', Number.MIN_VALUE, LIMITS.multiplier, `a number in (0, ${LIMITS.multiplier}]`);
  if (c.limit !== undefined && c.limit < c.batchSize) bad(`--limit ${c.limit} is smaller than one batch (--batch-size ${c.batchSize})`);
  if (c.method !== 'vanilla' && c.attackSteps !== undefined) int(c.attackSteps, '--attack-steps', 0, LIMITS.attackSteps);
  int(c.logEvery, '--log-every', 1, Number.MAX_SAFE_INTEGER);
  int(c.checkpointEvery, '--checkpoint-every', 0, Number.MAX_SAFE_INTEGER);
  int(c.evalLimit, '--eval-limit', 1, Number.MAX_SAFE_INTEGER);
  int(c.workers, '--workers', 0, LIMITS.workers);
  if (c.prefetch !== undefined) int(c.prefetch, '--prefetch', 1, 1024);
  int(c.seed, '--seed', 0, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(c.evalEpsilons) || c.evalEpsilons.some((e) => !(typeof e === 'number' && e >= 0 && e <= 255)))
    bad(`--eval-epsilons must be numbers in [0, 255], got ${show(c.evalEpsilons)}`);
  if (c.precision !== undefined && !(PRECISIONS as readonly unknown[]).includes(c.precision))
    bad(`--precision must be one of ${PRECISIONS.join(', ')}, got ${show(c.precision)}`);
  if (c.optimizer !== 'rmsprop' && c.optimizer !== 'sgd') bad(`--optimizer must be rmsprop or sgd, got ${show(c.optimizer)}`);
  if (!['exponential', 'cosine', 'constant'].includes(c.schedule)) bad(`--schedule must be exponential, cosine or constant, got ${show(c.schedule)}`);
  num(c.warmupEpochs, '--warmup-epochs', 0, LIMITS.epochs);
  num(c.weightDecay, '--weight-decay', 0, Infinity, 'a finite number >= 0');
  num(c.labelSmoothing, '--label-smoothing', 0, 1, 'a number in [0, 1)');
  if (c.labelSmoothing === 1) bad('--label-smoothing must be a number in [0, 1), got 1');
  if (c.ema !== false && !(typeof c.ema === 'number' && c.ema > 0 && c.ema < 1)) bad(`--ema must be a decay in (0, 1) or false, got ${show(c.ema)}`);
  for (const [v, flag] of [[c.data, '--data'], [c.out, '--out'], [c.name, '--name'], [c.resume, '--resume'], [c.device, '--device']] as const) str(v, flag);
  if (typeof c.augment !== 'boolean' && !(AUGMENTS as readonly unknown[]).includes(c.augment))
    bad(`--augment must be one of ${AUGMENTS.join(', ')} (or a boolean), got ${show(c.augment)}`);
  if (c.randAugment !== undefined) {
    if (c.augment !== 'randaugment') bad(`--randaugment-n / --randaugment-m need --augment randaugment, got --augment ${show(c.augment)}`);
    objectArg(c.randAugment, 'trainRun', 'randAugment', '{ n, m }');
    int(c.randAugment.n, '--randaugment-n', 1, 100);
    int(c.randAugment.m, '--randaugment-m', 0, RANDAUGMENT_MAX_M);
  }
  if (c.resolution !== undefined) int(c.resolution, '--resolution', 8, LIMITS.imageSide);
  if (c.bnSync !== undefined && c.bnSync !== 'none' && c.bnSync !== 'domain') bad(`--bn-sync must be none or domain, got ${show(c.bnSync)}`);
  if (c.strict !== undefined && typeof c.strict !== 'boolean') bad(`strict must be a boolean, got ${show(c.strict)}`);
  if (c.cudaGraph !== undefined && typeof c.cudaGraph !== 'boolean') bad(`cudaGraph must be a boolean, got ${show(c.cudaGraph)}`);
  for (const [v, flag] of [[c.progress, 'progress'], [c.stripAux, 'stripAux']] as const)
    if (typeof v !== 'boolean') bad(`${flag} must be a boolean, got ${show(v)}`);
  return c;
}

const show = (v: unknown): string => (Array.isArray(v) ? `[${v.map(showValue).join(', ')}]` : showValue(v));
