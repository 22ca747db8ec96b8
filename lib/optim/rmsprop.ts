// TensorFlow's RMSProp (tf.compat.v1.train.RMSPropOptimizer, as the EfficientNet reference uses
// it): ε inside the square root, mean square starting at 1, the learning rate folded into the
// momentum buffer. Weight decay is the L2 term wd·p²/2 of EfficientNet's loss, g ← g + wd·p.
import * as kernels from '../kernels.js';
import type { Tensor } from '../tensor.js';
import { checkGrads, checkNumber, checkOptions, checkParams, loadState, stepRate, type StepOptions, resolveMask, stateLike, type DecayMask } from './common.js';
import { objectArg } from '../args.js';

export interface RMSPropOptions {
  lr: number;
  /** Decay ρ of the mean square; default 0.9. */
  rho?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 1e-3. */
  eps?: number;
  /** Default 0. */
  weightDecay?: number;
  /** Which parameters weightDecay applies to (index, parameter); default all. */
  decayMask?: DecayMask;
}

const OPTIONS = ['lr', 'rho', 'momentum', 'eps', 'weightDecay', 'decayMask'] as const;

export class RMSProp {
  readonly params: readonly Tensor[];
  readonly rho: number;
  readonly momentum: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Per-parameter weight-decay flags resolved from decayMask. */
  readonly decay: readonly boolean[];
  private _lr: number;
  private ms: Tensor[];
  private mom: Tensor[];

  /** The parameters are updated in place by step(); the optimizer owns its state tensors. */
  constructor(params: readonly Tensor[], options: RMSPropOptions) {
    const op = 'RMSProp';
    const o = checkOptions(options, op, OPTIONS);
    this.params = Object.freeze(checkParams(params, op));
    this._lr = checkNumber(o.lr, op, 'lr', 0);
    this.rho = checkNumber(o.rho ?? 0.9, op, 'rho', 0, 1);
    this.momentum = checkNumber(o.momentum ?? 0.9, op, 'momentum', 0);
    this.eps = checkNumber(o.eps ?? 1e-3, op, 'eps', 0, Infinity, true);
    this.weightDecay = checkNumber(o.weightDecay ?? 0, op, 'weightDecay', 0);
    this.decay = Object.freeze(resolveMask(o.decayMask, this.params, op));
    this.ms = this.params.map((p) => stateLike(p, 1));
    this.mom = this.params.map((p) => stateLike(p, 0));
  }

  get lr(): number {
    return this._lr;
  }

  set lr(v: number) {
    this._lr = checkNumber(v, 'RMSProp', 'lr', 0);
  }

  /** One update of every parameter from its gradient (one fused kernel call). */
  step(grads: readonly Tensor[], options?: StepOptions): void {
    const g = checkGrads(grads, this.params.length, 'RMSProp.step');
    const lr = stepRate(options, this._lr, 'RMSProp.step');
    kernels.rmspropUpdate(this.params, g, this.ms, this.mom, {
      lr, rho: this.rho, momentum: this.momentum, eps: this.eps, weightDecay: this.weightDecay, decay: this.decay,
    });
  }

  /** The live state tensors ('ms.i', 'mom.i'), owned by the optimizer: save them, do not dispose them. */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    this.ms.forEach((t, i) => (sd[`ms.${i}`] = t));
    this.mom.forEach((t, i) => (sd[`mom.${i}`] = t));
    return sd;
  }

  /** Copies a stateDict() (e.g. from a checkpoint) into this optimizer's state. */
  loadStateDict(sd: Record<string, Tensor>): void {
    objectArg(sd, 'RMSProp.loadStateDict', 'stateDict', 'an object of tensors (from stateDict())');
    loadState(this.ms, sd, 'ms', 'RMSProp.loadStateDict');
    loadState(this.mom, sd, 'mom', 'RMSProp.loadStateDict');
  }

  /** Frees the state tensors; the optimizer cannot step afterwards. */
  dispose(): void {
    for (const t of [...this.ms, ...this.mom]) t.dispose();
  }
}
