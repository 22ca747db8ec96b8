// `advprop train`: option parsing for lib/train/run.ts.
import { parseArgs } from 'node:util';
import { EFFICIENTNET_NAMES } from '../models/efficientnet_config.js';
import { TRAIN_DEFAULTS, type TrainConfig } from '../train/config.js';
import { METHODS } from '../train/methods.js';
import { trainRun } from '../train/run.js';
import { num, numList, oneOf, UsageError } from './args.js';
import { PRECISIONS } from '../precision.js';
import { AUGMENTS } from '../data/efficientnet_transforms.js';
import { launchRanks } from './launch.js';

export const TRAIN_USAGE = `usage: advprop train [options]

Trains an EfficientNet with AdvProp (or a baseline) and evaluates it. With no options: a small
EfficientNet-B0 (width 0.25, depth 0.25) on the bundled Fashion-MNIST subset (or the full set in
/usr/share/datasets/fashion-mnist when installed), AdvProp with PGD ε = 1, 2 epochs.

  --model NAME          b0..b8, l2 (default b0)
  --width W, --depth D  width / depth multipliers (default 0.25, 0.25; 'none' for the model's own)
  --bn-momentum M       BN running-statistics momentum, TF convention (default 0.9 so the statistics settle in
                        short runs; the EfficientNet recipe's 0.99 suits runs of many thousand steps)
  --data DIR            IDX (MNIST-style), CIFAR binary batches, or class subfolders of JPEG/PNG/WebP images
                        (ImageNet's layout: DIR/train/<class>/*, DIR/val/<class>/*)
  --method M            ${METHODS.join(' | ')} (default advprop)
  --epsilon E           PGD radius in pixel units of 255 (default 1)
  --attack-steps N      PGD iterations (default ε + 1, 1 for ε = 1)
  --epochs N            (default 2)        --batch-size N   (default 64)
  --lr LR               peak learning rate (default: the EfficientNet rule, 0.016 per 256 images)
  --optimizer O         rmsprop | sgd (default rmsprop, TensorFlow's form)
  --schedule S          exponential | cosine | constant (default exponential: ×0.97 every 2.4 epochs)
  --warmup-epochs N     linear warm-up, capped at a fifth of the run (default 5)
  --weight-decay WD     L2 on all but batch-norm parameters (default 1e-5)
  --label-smoothing S   (default 0.1)
  --ema D | off         EMA decay of weights and BN statistics (default 0.999)
  --device D            cpu | cuda | cuda-sim (default: the best available)
  --precision P         fp32 | tf32 | bf16 | fp16: convolutions and linear layers in that precision, f32 master weights,
                        optimizer, BN statistics and loss; fp16 with dynamic loss scaling (default: bf16 on a CUDA GPU
                        of compute capability 8.0+, fp32 elsewhere)
  --seed N              (default 0)
  --out DIR             run folder (default runs/<method>-<model>-eps<ε>-seed<seed>; with --resume, the folder resumed)
  --resume PATH         a run folder or checkpoint file to continue from, with the options it was trained with
  --allow-config-change resume even though options that change the training (model, method, ε, lr, batch size,
                        seed, data, limit, schedule, ...) differ from the checkpoint's
  --max-steps N         stop after N optimizer steps
  --limit N             use only the first N training images
  --eval-limit N        test images for the final evaluation (default 1000)
  --eval-epsilons LIST  PGD radii for the final evaluation (default 1,2,4)
  --augment A           none | basic | autoaugment | randaugment (default basic: random crop with padding 2 and
                        flip on small images; on image files EfficientNet's random-resized crop (area 0.08-1,
                        aspect 3/4-4/3) and flip; autoaugment adds AutoAugment's ImageNet policy, randaugment
                        RandAugment). Image files are evaluated on EfficientNet's centre crop (crop padding 32,
                        bicubic resize to the resolution)
  --randaugment-n N     RandAugment's ops per image (default 2)
  --randaugment-m M     RandAugment's magnitude, 0..30 (default 9)
  --no-augment          the same as --augment none
  --resolution R        input size for image files (default the model's: b0 224, b1 240, b2 260, b3 300, b4 380,
                        b5 456, b6 528, b7 600, b8 672, l2 800)
  --strict              stop at an image file that does not decode (ERR_FORMAT) instead of leaving it out with
                        a warning
  --workers N           data-loading threads (default 1); each decodes and transforms one image at a time, so
                        about one core each; 0 prepares batches on the main thread
  --prefetch N          batches prepared ahead of the running step (default 2); the workers hand them over as
                        uint8 NHWC bytes, normalised on the training device
  --checkpoint-every N  steps between checkpoints (default: once per epoch)
  --log-every N         steps between metrics.jsonl lines (default 10)
  --no-progress         no progress line
  --cuda-graph          on cuda: capture the whole training step (attack, forward, backward, optimizer, EMA) as one
                        CUDA graph and replay it while the batch shape stays (an epoch's last partial batch runs
                        eagerly); the same numbers as without. fp16 and several ranks run every step eagerly
  --strip-aux           export model[-ema].safetensors with the clean BN only (for inference)
  --nproc N             run N local ranks through mpirun (data parallel; the same as mpirun -np N advprop train ...)
  --bn-sync S           with several ranks: none (each rank normalises its own batch, the paper's TPU setting;
                        default) | domain (each BN domain's statistics over every rank's samples of that domain).
                        --batch-size is per rank: the global batch is ranks × batch size
  -h, --help            this text`;

export async function runTrain(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args, strict: true, allowPositionals: false,
    options: {
      model: { type: 'string' }, 'bn-momentum': { type: 'string' }, width: { type: 'string' }, depth: { type: 'string' }, data: { type: 'string' },
      method: { type: 'string' }, epsilon: { type: 'string' }, 'attack-steps': { type: 'string' }, epochs: { type: 'string' },
      'batch-size': { type: 'string' }, lr: { type: 'string' }, optimizer: { type: 'string' }, schedule: { type: 'string' },
      'warmup-epochs': { type: 'string' }, 'weight-decay': { type: 'string' }, 'label-smoothing': { type: 'string' },
      ema: { type: 'string' }, device: { type: 'string' }, precision: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' },
      resume: { type: 'string' }, 'allow-config-change': { type: 'boolean' }, 'max-steps': { type: 'string' }, limit: { type: 'string' }, 'eval-limit': { type: 'string' },
      'eval-epsilons': { type: 'string' }, 'no-augment': { type: 'boolean' }, augment: { type: 'string' },
      'randaugment-n': { type: 'string' }, 'randaugment-m': { type: 'string' }, resolution: { type: 'string' }, strict: { type: 'boolean' }, workers: { type: 'string' }, prefetch: { type: 'string' },
      'checkpoint-every': { type: 'string' }, 'log-every': { type: 'string' }, 'no-progress': { type: 'boolean' }, 'strip-aux': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      nproc: { type: 'string' }, 'bn-sync': { type: 'string' }, 'cuda-graph': { type: 'boolean' },
    },
  });
  if (v.help) { console.log(TRAIN_USAGE); return 0; }
  const nproc = num(v.nproc, '--nproc', true);
  if (nproc !== undefined && !(nproc >= 1 && nproc <= 1024)) throw new UsageError(`--nproc: expected 1..1024 ranks, got '${v.nproc}'`);
  const d = TRAIN_DEFAULTS;
  const model = oneOf(v.model, '--model', EFFICIENTNET_NAMES) ?? d.model;
  const scale = (s: string | undefined, flag: string, def: number | undefined) => (s === 'none' ? undefined : num(s, flag) ?? def);
  const ema = v.ema === 'off' ? false : num(v.ema, '--ema') ?? d.ema;
  if (ema !== false && !(ema > 0 && ema < 1)) throw new UsageError(`--ema: expected a decay in (0, 1) or 'off', got '${v.ema}'`);
  const augment = oneOf(v.augment, '--augment', AUGMENTS);
  if (augment !== undefined && v['no-augment'] && augment !== 'none') throw new UsageError(`--no-augment contradicts --augment ${augment}`);
  const raN = num(v['randaugment-n'], '--randaugment-n', true), raM = num(v['randaugment-m'], '--randaugment-m', true);
  if ((raN !== undefined || raM !== undefined) && augment !== 'randaugment') throw new UsageError('--randaugment-n / --randaugment-m need --augment randaugment');
  const config: TrainConfig = {
    ...d, model,
    width: scale(v.width, '--width', model === d.model ? d.width : undefined),
    depth: scale(v.depth, '--depth', model === d.model ? d.depth : undefined),
    bnMomentum: num(v['bn-momentum'], '--bn-momentum') ?? d.bnMomentum,
    data: v.data, method: oneOf(v.method, '--method', METHODS) ?? d.method,
    epsilon: num(v.epsilon, '--epsilon') ?? d.epsilon, attackSteps: num(v['attack-steps'], '--attack-steps', true),
    epochs: num(v.epochs, '--epochs', true) ?? d.epochs, batchSize: num(v['batch-size'], '--batch-size', true) ?? d.batchSize,
    lr: num(v.lr, '--lr') ?? d.lr, optimizer: oneOf(v.optimizer, '--optimizer', ['rmsprop', 'sgd'] as const) ?? d.optimizer,
    schedule: oneOf(v.schedule, '--schedule', ['exponential', 'cosine', 'constant'] as const) ?? d.schedule,
    warmupEpochs: num(v['warmup-epochs'], '--warmup-epochs') ?? d.warmupEpochs,
    weightDecay: num(v['weight-decay'], '--weight-decay') ?? d.weightDecay,
    labelSmoothing: num(v['label-smoothing'], '--label-smoothing') ?? d.labelSmoothing, ema,
    device: v.device, precision: oneOf(v.precision, '--precision', PRECISIONS), seed: num(v.seed, '--seed', true) ?? d.seed, out: v.out, name: v.name, resume: v.resume, allowConfigChange: v['allow-config-change'] ?? false,
    maxSteps: num(v['max-steps'], '--max-steps', true), limit: num(v.limit, '--limit', true),
    evalLimit: num(v['eval-limit'], '--eval-limit', true) ?? d.evalLimit,
    evalEpsilons: numList(v['eval-epsilons'], '--eval-epsilons') ?? d.evalEpsilons,
    // basic and none stay the booleans they were before --augment, so older runs resume unchanged.
    augment: v['no-augment'] || augment === 'none' ? false : augment === undefined || augment === 'basic' ? true : augment,
    randAugment: augment === 'randaugment' ? { n: raN ?? 2, m: raM ?? 9 } : undefined,
    resolution: num(v.resolution, '--resolution', true), strict: v.strict ?? false,
    workers: num(v.workers, '--workers', true) ?? d.workers, prefetch: num(v.prefetch, '--prefetch', true),
    checkpointEvery: num(v['checkpoint-every'], '--checkpoint-every', true) ?? d.checkpointEvery,
    logEvery: num(v['log-every'], '--log-every', true) ?? d.logEvery,
    progress: !v['no-progress'], stripAux: v['strip-aux'] ?? false,
    bnSync: oneOf(v['bn-sync'], '--bn-sync', ['none', 'domain'] as const),
    cudaGraph: v['cuda-graph'],
  };
  if (nproc !== undefined && nproc > 1) {
    // This command again without --nproc, once per rank; the options were checked here first.
    const rest: string[] = [];
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '--nproc') i++;
      else if (!args[i]!.startsWith('--nproc=')) rest.push(args[i]!);
    }
    return launchRanks(nproc, [process.argv[1]!, 'train', ...rest]);
  }
  const r = await trainRun(config);
  // 128 + the signal's number, as a shell reports a process that a signal ended.
  return r.interrupted ? (r.signal === 'SIGTERM' ? 143 : 130) : 0;
}
