// Exponential moving average of a list of tensors (weights and BN running statistics), as
// TensorFlow's ExponentialMovingAverage with num_updates: the decay used at update t (counting
// from 0) is min(d, (1 + t)/(10 + t)) when warm-up is on, so early averages follow the weights.
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import * as kernels from '../kernels.js';
import { isTensor, type Tensor } from '../tensor.js';
import { keep } from '../memory.js';
import { checkNumber, checkOptions, checkParams, counterTensor, loadState, readCounter } from './common.js';
import { objectArg } from '../args.js';

export interface EMAOptions {
  /** Default 0.9999. */
  decay?: number;
  /** Use min(decay, (1 + t)/(10 + t)) at update t; default true. */
  warmup?: boolean;
}

const OPTIONS = ['decay', 'warmup'] as const;

export class ExponentialMovingAverage {
  readonly sources: readonly Tensor[];
  readonly decay: number;
  readonly warmup: boolean;
  private averages: Tensor[];
  private t = 0;

  /** Starts from copies of the sources' current values. */
  constructor(sources: readonly Tensor[], options: EMAOptions = {}) {
    const op = 'ExponentialMovingAverage';
    const o = checkOptions(options, op, OPTIONS);
    this.sources = Object.freeze(checkParams(sources, op, 'sources'));
    this.decay = checkNumber(o.decay ?? 0.9999, op, 'decay', 0, 1);
    const warmup = o.warmup ?? true;
    if (typeof warmup !== 'boolean') throw new AdvpropError('ERR_ARG', `${op}: 'warmup' must be a boolean, got ${describeValue(warmup)}`);
    this.warmup = warmup;
    this.averages = this.sources.map((s) => keep(kernels.clone(s)));
  }

  /** Number of update() calls so far (restored by loadStateDict). */
  get numUpdates(): number {
    return this.t;
  }

  /** The decay the next update() will use. */
  currentDecay(): number {
    return this.warmup ? Math.min(this.decay, (1 + this.t) / (10 + this.t)) : this.decay;
  }

  /** average ← d·average + (1−d)·source for every source, in one fused kernel call. */
  update(): void {
    kernels.emaUpdate(this.averages, this.sources, this.currentDecay());
    this.t++;
  }

  /**
   * Queues the update with its decay read from `decay`, a device scalar (f64 [1] on the sources'
   * device), when the kernel runs; it does not count as an update until advance() says it ran.
   * A captured CUDA graph replays it: before each replay write currentDecay() into `decay`, after
   * it call advance().
   */
  updateFrom(decay: Tensor): void {
    if (!isTensor(decay)) throw new AdvpropError('ERR_ARG', `ExponentialMovingAverage.updateFrom: decay must be a device scalar tensor (f64 [1]), got ${describeValue(decay)}`);
    kernels.emaUpdate(this.averages, this.sources, decay);
  }

  /** Counts one update that ran outside update() (a replay of an updateFrom()). */
  advance(): void {
    this.t++;
  }

  /** The live averages, owned by this object (read them, e.g. to evaluate; do not dispose them). */
  tensors(): readonly Tensor[] {
    return this.averages;
  }

  /** Writes the averages into `targets` (same shapes, device, dtype), e.g. a model's parameters for evaluation. */
  copyTo(targets: readonly Tensor[]): void {
    const t = checkParams(targets, 'ExponentialMovingAverage.copyTo', 'targets');
    if (t.length !== this.averages.length)
      throw new AdvpropError('ERR_ARG', `ExponentialMovingAverage.copyTo: ${t.length} targets for ${this.averages.length} averages`);
    kernels.emaUpdate(t, this.averages, 0);  // decay 0 is an exact copy
  }

  /** 'ema.i' (the live averages) and 'numUpdates' (an i32 [1] cpu tensor the caller owns). */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    this.averages.forEach((t, i) => (sd[`ema.${i}`] = t));
    sd.numUpdates = counterTensor(this.t);
    return sd;
  }

  loadStateDict(sd: Record<string, Tensor>): void {
    const op = 'ExponentialMovingAverage.loadStateDict';
    objectArg(sd, op, 'stateDict', 'an object of tensors (from stateDict())');
    const t = readCounter(sd, 'numUpdates', op);
    loadState(this.averages, sd, 'ema', op);
    this.t = t;
  }

  dispose(): void {
    for (const a of this.averages) a.dispose();
  }
}
