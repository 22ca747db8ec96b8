// The configuration of one training run (`advprop train`), its defaults and validation. The
// defaults train a small EfficientNet on the bundled Fashion-MNIST in a few minutes on 2 cores.
import { AdvpropError } from '../errors.js';
import { METHODS, type Method } from './methods.js';
import type { ScheduleName } from './schedule.js';

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
  augment: boolean; // random crop (pad 2) + horizontal flip
  workers: number; // data loader threads
  checkpointEvery: number; // steps between checkpoints (0: once per epoch only)
  logEvery: number; // steps between metrics.jsonl lines
  progress: boolean;
  /** Export model.safetensors / model-ema.safetensors with the clean BN domain only (for inference). */
  stripAux: boolean;
}

export const TRAIN_DEFAULTS: TrainConfig = {
  model: 'b0', width: 0.25, depth: 0.25, bnMomentum: 0.9, method: 'advprop', epsilon: 1, epochs: 2, batchSize: 64,
  lr: undefined, optimizer: 'rmsprop', schedule: 'exponential', warmupEpochs: 5, weightDecay: 1e-5, labelSmoothing: 0.1,
  ema: 0.999, seed: 0, evalLimit: 1000, evalEpsilons: [1, 2, 4], augment: true, workers: 1, checkpointEvery: 0, logEvery: 10,
  progress: true, stripAux: false,
};

export function checkTrainConfig(c: TrainConfig): TrainConfig {
  const bad = (msg: string): never => { throw new AdvpropError('ERR_ARG', msg); };
  if (!METHODS.includes(c.method)) bad(`--method must be one of ${METHODS.join(', ')}, got '${c.method}'`);
  if (!(Number.isFinite(c.epsilon) && c.epsilon >= 0)) bad(`--epsilon must be a number ≥ 0 (pixel units of 255), got ${c.epsilon}`);
  if (!(Number.isInteger(c.epochs) && c.epochs >= 1)) bad(`--epochs must be a positive integer, got ${c.epochs}`);
  if (!(Number.isInteger(c.batchSize) && c.batchSize >= 1)) bad(`--batch-size must be a positive integer, got ${c.batchSize}`);
  if (c.lr !== undefined && !(c.lr > 0)) bad(`--lr must be > 0, got ${c.lr}`);
  if (c.maxSteps !== undefined && !(Number.isInteger(c.maxSteps) && c.maxSteps >= 1)) bad(`--max-steps must be a positive integer, got ${c.maxSteps}`);
  if (c.limit !== undefined && !(Number.isInteger(c.limit) && c.limit >= 1)) bad(`--limit must be a positive integer, got ${c.limit}`);
  if (!(c.bnMomentum >= 0 && c.bnMomentum < 1)) bad(`--bn-momentum must be in [0, 1), got ${c.bnMomentum}`);
  if (c.width !== undefined && !(c.width > 0)) bad(`--width must be > 0, got ${c.width}`);
  if (c.depth !== undefined && !(c.depth > 0)) bad(`--depth must be > 0, got ${c.depth}`);
  if (c.limit !== undefined && c.limit < c.batchSize) bad(`--limit ${c.limit} is smaller than one batch (--batch-size ${c.batchSize})`);
  if (c.method !== 'vanilla' && c.attackSteps !== undefined && !(Number.isInteger(c.attackSteps) && c.attackSteps >= 0))
    bad(`--attack-steps must be an integer ≥ 0, got ${c.attackSteps}`);
  if (!(Number.isInteger(c.logEvery) && c.logEvery >= 1)) bad(`--log-every must be a positive integer, got ${c.logEvery}`);
  if (!(Number.isInteger(c.checkpointEvery) && c.checkpointEvery >= 0)) bad(`--checkpoint-every must be an integer ≥ 0, got ${c.checkpointEvery}`);
  if (c.evalEpsilons.some((e) => !(e >= 0))) bad(`--eval-epsilons must be numbers ≥ 0, got ${c.evalEpsilons.join(',')}`);
  return c;
}
