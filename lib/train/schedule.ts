// Learning-rate schedules, as a function of the (fractional) epoch. The EfficientNet recipe:
// base LR 0.016 per 256 images scaled linearly with the batch, a linear warm-up, then ×0.97 every
// 2.4 epochs (staircase). Warm-up is capped at a fifth of the run so short runs still learn.
import { AdvpropError } from '../errors.js';
import { numArg, objectArg, oneOfArg } from '../args.js';

export type ScheduleName = 'exponential' | 'cosine' | 'constant';

export interface ScheduleOptions {
  schedule?: ScheduleName; // default 'exponential'
  baseLr: number; // the peak learning rate (already scaled by batch size)
  epochs: number; // length of the run, for the warm-up cap and cosine
  warmupEpochs?: number; // default 5, capped at epochs / 5
  decayRate?: number; // exponential: default 0.97
  decayEpochs?: number; // exponential: default 2.4
  minLr?: number; // cosine floor, default 0
}

/** EfficientNet's rule: 0.016 per 256 images. */
export function scaledLr(batchSize: number, perTwoFiftySix = 0.016): number {
  numArg(batchSize, 'scaledLr', 'batchSize', 0, Infinity, { min: true });
  numArg(perTwoFiftySix, 'scaledLr', 'perTwoFiftySix', 0, Infinity, { min: true });
  return (perTwoFiftySix * batchSize) / 256;
}

export function warmupEpochs(o: ScheduleOptions): number {
  objectArg(o, 'warmupEpochs', 'options', 'schedule options { epochs, warmupEpochs? }');
  const epochs = numArg(o.epochs, 'schedule', 'epochs', 0, Infinity, { min: true });
  return Math.min(numArg(o.warmupEpochs ?? 5, 'schedule', 'warmupEpochs', 0), epochs / 5);
}

export function learningRate(o: ScheduleOptions, epoch: number): number {
  objectArg(o, 'learningRate', 'options', 'schedule options { baseLr, epochs, ... }');
  numArg(o.baseLr, 'schedule', 'baseLr', 0, Infinity, { min: true });
  numArg(epoch, 'schedule', 'epoch', 0);
  const schedule = oneOfArg(o.schedule ?? 'exponential', 'schedule', 'schedule', ['exponential', 'cosine', 'constant'] as const);
  const decayRate = numArg(o.decayRate ?? 0.97, 'schedule', 'decayRate', 0, Infinity, { min: true });
  const decayEpochs = numArg(o.decayEpochs ?? 2.4, 'schedule', 'decayEpochs', 0, Infinity, { min: true });
  const minLr = numArg(o.minLr ?? 0, 'schedule', 'minLr', 0);
  const warm = warmupEpochs(o);
  if (warm > 0 && epoch < warm) return (o.baseLr * epoch) / warm;
  switch (schedule) {
    case 'exponential':
      return o.baseLr * Math.pow(decayRate, Math.floor(epoch / decayEpochs));
    case 'cosine': {
      const t = Math.min(1, (epoch - warm) / Math.max(o.epochs - warm, 1e-9));
      const lo = minLr;
      return lo + 0.5 * (o.baseLr - lo) * (1 + Math.cos(Math.PI * t));
    }
    case 'constant':
      return o.baseLr;
    default:
      throw new AdvpropError('ERR_ARG', `schedule: unknown schedule '${String(o.schedule)}' (exponential, cosine, constant)`);
  }
}
