// Learning-rate schedules, as a function of the (fractional) epoch. The EfficientNet recipe:
// base LR 0.016 per 256 images scaled linearly with the batch, a linear warm-up, then ×0.97 every
// 2.4 epochs (staircase). Warm-up is capped at a fifth of the run so short runs still learn.
import { AdvpropError } from '../errors.js';

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
  return (perTwoFiftySix * batchSize) / 256;
}

export function warmupEpochs(o: ScheduleOptions): number {
  return Math.min(o.warmupEpochs ?? 5, o.epochs / 5);
}

export function learningRate(o: ScheduleOptions, epoch: number): number {
  if (!(o.baseLr > 0) || !(o.epochs > 0)) throw new AdvpropError('ERR_ARG', `schedule: baseLr and epochs must be positive, got ${o.baseLr} and ${o.epochs}`);
  const warm = warmupEpochs(o);
  if (warm > 0 && epoch < warm) return (o.baseLr * epoch) / warm;
  switch (o.schedule ?? 'exponential') {
    case 'exponential':
      return o.baseLr * Math.pow(o.decayRate ?? 0.97, Math.floor(epoch / (o.decayEpochs ?? 2.4)));
    case 'cosine': {
      const t = Math.min(1, (epoch - warm) / Math.max(o.epochs - warm, 1e-9));
      const lo = o.minLr ?? 0;
      return lo + 0.5 * (o.baseLr - lo) * (1 + Math.cos(Math.PI * t));
    }
    case 'constant':
      return o.baseLr;
    default:
      throw new AdvpropError('ERR_ARG', `schedule: unknown schedule '${String(o.schedule)}' (exponential, cosine, constant)`);
  }
}
