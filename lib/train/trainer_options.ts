// The trainer's options: what each means and its default (TrainerOptions), and their checked,
// defaulted form (resolve).
import { LIMITS, boolArg, intArg, numArg, oneOfArg, optionsArg } from '../args.js';
import { opNames } from '../native.js';
import type { AttackNorm } from '../ops/attack.js';
import { checkPrecision, defaultPrecision, type Precision } from '../precision.js';
import { DEFAULT_BUCKET_BYTES } from '../distributed/world.js';
import { METHODS, type Method } from './methods.js';
import type { ScheduleName } from './schedule.js';

export interface TrainerOptions {
  method?: Method; // default 'advprop'
  /** Attack radius in pixel units of 255; default 1. */
  epsilon?: number;
  attackSteps?: number; // default ε + 1 (1 for ε = 1)
  attackStepSize?: number; // default 1 (pixel units)
  attackNorm?: AttackNorm; // default 'linf'
  randomStart?: boolean; // default false
  attackBnMode?: 'train-frozen' | 'eval'; // default 'train-frozen'
  attackTarget?: 'true' | 'random'; // default 'true'
  cleanWeight?: number; // default 1
  advWeight?: number; // default 1
  optimizer?: 'rmsprop' | 'sgd'; // default 'rmsprop' (TensorFlow's form, ρ 0.9, momentum 0.9, ε 1e-3)
  /** Peak learning rate; default 0.016 per 256 images of the batch (clean images only). */
  lr?: number;
  momentum?: number; // default 0.9
  schedule?: ScheduleName; // default 'exponential': warm-up, then ×0.97 every 2.4 epochs
  warmupEpochs?: number; // default 5, never more than a fifth of the run
  weightDecay?: number; // default 1e-5, on every parameter except batch norm's
  labelSmoothing?: number; // default 0.1
  /** EMA decay of weights and BN statistics, or false; default 0.9999 with TF's warm-up. */
  ema?: number | false;
  /** adv-finetune: the fraction of epochs spent on adversarial pre-training; default 0.5. */
  finetuneFraction?: number;
  /**
   * The precision policy of every forward and backward of a step, attack included (lib/precision.ts):
   * 'fp32', 'tf32', 'bf16' or 'fp16' (with dynamic loss scaling, `trainer.scaler`). Master weights,
   * optimizer state, EMA, BN statistics, loss and the PGD image stay f32 in every mode. Default:
   * bf16 on a CUDA GPU of compute capability 8.0 or newer, fp32 elsewhere.
   */
  precision?: Precision;
  /**
   * Data parallel (after `ap.dist.init()` in a job of several ranks): 'domain' takes each BN
   * domain's batch statistics over every rank's samples of that domain, in the training step and
   * its attack; 'none' (default) normalises each rank's batch alone, as the paper's TPU replicas did.
   * Gradients are always averaged over the ranks, and the learning-rate rule uses the global batch.
   */
  bnSync?: 'none' | 'domain';
  /** Gradient all-reduce bucket size in bytes (default 4 MiB). */
  bucketBytes?: number;
  /** Data parallel: each gradient bucket's all-reduce starts during the backward (lib/train/grad_buckets.ts); default true. */
  overlapGrads?: boolean;
  /**
   * Capture the whole step (attack, forward and backward, optimizer, EMA) as a CUDA graph on a
   * cuda or cuda-sim device and replay it while the batch shape and the step's plan stay; other
   * steps run eagerly (lib/train/step_graph.ts). Steps give the same bits either way. fp16's loss
   * scaler, several ranks and random-target attacks need the host inside a step: they run eagerly
   * (`cudaGraphFallback` says why). Default false.
   */
  cudaGraph?: boolean;
  /** Run length, used by the schedule (fit() sets both). */
  epochs?: number;
  stepsPerEpoch?: number;
}


export type Resolved = Required<Omit<TrainerOptions, 'lr' | 'attackSteps' | 'ema' | 'epochs' | 'stepsPerEpoch' | 'precision'>> &
  { precision: Precision } &
  Pick<TrainerOptions, 'lr' | 'attackSteps' | 'epochs' | 'stepsPerEpoch'> & { ema: number | false };

export function resolve(options: TrainerOptions | undefined, device: string): Resolved {
  const op = 'Trainer';
  const o = optionsArg(options, op);
  const num = (v: unknown, name: string, dflt: number, lo: number, hi: number, open: { min?: boolean; max?: boolean } = {}): number =>
    numArg(v ?? dflt, op, name, lo, hi, open);
  const ema = o.ema === undefined ? 0.9999 : o.ema === false ? false : numArg(o.ema, op, 'ema', 0, 1, { min: true, max: true });
  return {
    method: oneOfArg(o.method ?? 'advprop', op, 'method', METHODS),
    // ε and α are in pixel units of 255: more than 255 cannot change an image in [0, 1].
    epsilon: num(o.epsilon, 'epsilon', 1, 0, 255),
    attackSteps: o.attackSteps === undefined ? undefined : intArg(o.attackSteps, op, 'attackSteps', 0, LIMITS.attackSteps),
    attackStepSize: num(o.attackStepSize, 'attackStepSize', 1, 0, 255),
    attackNorm: oneOfArg(o.attackNorm ?? 'linf', op, 'attackNorm', opNames().attackNorm),
    randomStart: boolArg(o.randomStart ?? false, op, 'randomStart'),
    attackBnMode: oneOfArg(o.attackBnMode ?? 'train-frozen', op, 'attackBnMode', ['train-frozen', 'eval'] as const),
    attackTarget: oneOfArg(o.attackTarget ?? 'true', op, 'attackTarget', ['true', 'random'] as const),
    cleanWeight: num(o.cleanWeight, 'cleanWeight', 1, -Infinity, Infinity),
    advWeight: num(o.advWeight, 'advWeight', 1, -Infinity, Infinity),
    optimizer: oneOfArg(o.optimizer ?? 'rmsprop', op, 'optimizer', ['rmsprop', 'sgd'] as const),
    lr: o.lr === undefined ? undefined : numArg(o.lr, op, 'lr', 0, Infinity, { min: true }),
    momentum: num(o.momentum, 'momentum', 0.9, 0, Infinity),
    schedule: oneOfArg(o.schedule ?? 'exponential', op, 'schedule', ['exponential', 'cosine', 'constant'] as const),
    warmupEpochs: num(o.warmupEpochs, 'warmupEpochs', 5, 0, LIMITS.epochs),
    weightDecay: num(o.weightDecay, 'weightDecay', 1e-5, 0, Infinity),
    labelSmoothing: num(o.labelSmoothing, 'labelSmoothing', 0.1, 0, 1, { max: true }),
    ema,
    finetuneFraction: num(o.finetuneFraction, 'finetuneFraction', 0.5, 0, 1),
    epochs: o.epochs === undefined ? undefined : numArg(o.epochs, op, 'epochs', 0, LIMITS.epochs, { min: true }),
    stepsPerEpoch: o.stepsPerEpoch === undefined ? undefined : intArg(o.stepsPerEpoch, op, 'stepsPerEpoch', 1, Number.MAX_SAFE_INTEGER),
    precision: o.precision === undefined ? defaultPrecision(device) : checkPrecision(o.precision, op),
    bnSync: oneOfArg(o.bnSync ?? 'none', op, 'bnSync', ['none', 'domain'] as const),
    bucketBytes: intArg(o.bucketBytes ?? DEFAULT_BUCKET_BYTES, op, 'bucketBytes', 64, 2 ** 30),
    overlapGrads: boolArg(o.overlapGrads ?? true, op, 'overlapGrads'),
    cudaGraph: boolArg(o.cudaGraph ?? false, op, 'cudaGraph'),
  };
}

