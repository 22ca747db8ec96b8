// SGD with momentum as PyTorch defines it without dampening (buf starts at 0, so the first step
// sets buf = g), optionally Nesterov, with the same L2 weight decay as RMSProp (g ← g + wd·p).
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import * as kernels from '../kernels.js';
import type { Tensor } from '../tensor.js';
import { checkGrads, checkNumber, checkOptions, checkParams, loadState, stepRate, type StepOptions, resolveMask, stateLike, type DecayMask } from './common.js';
import { objectArg } from '../args.js';

export interface SGDOptions {
  lr: number;
  /** Default 0. */
  momentum?: number;
  /** Default false; needs momentum > 0. */
  nesterov?: boolean;
  /** Default 0. */
  weightDecay?: number;
  /** Which parameters weightDecay applies to (index, parameter); default all. */
  decayMask?: DecayMask;
}

const OPTIONS = ['lr', 'momentum', 'nesterov', 'weightDecay', 'decayMask'] as const;

export class SGD {
  readonly params: readonly Tensor[];
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly decay: readonly boolean[];
  private _lr: number;
  private bufs: Tensor[];

  constructor(params: readonly Tensor[], options: SGDOptions) {
    const op = 'SGD';
    const o = checkOptions(options, op, OPTIONS);
    this.params = Object.freeze(checkParams(params, op));
    this._lr = checkNumber(o.lr, op, 'lr', 0);
    this.momentum = checkNumber(o.momentum ?? 0, op, 'momentum', 0);
    const nesterov = o.nesterov ?? false;
    if (typeof nesterov !== 'boolean') throw new AdvpropError('ERR_ARG', `${op}: 'nesterov' must be a boolean, got ${describeValue(nesterov)}`);
    if (nesterov && this.momentum === 0) throw new AdvpropError('ERR_ARG', `${op}: nesterov needs momentum > 0`);
    this.nesterov = nesterov;
    this.weightDecay = checkNumber(o.weightDecay ?? 0, op, 'weightDecay', 0);
    this.decay = Object.freeze(resolveMask(o.decayMask, this.params, op));
    this.bufs = this.params.map((p) => stateLike(p, 0));
  }

  get lr(): number {
    return this._lr;
  }

  set lr(v: number) {
    this._lr = checkNumber(v, 'SGD', 'lr', 0);
  }

  step(grads: readonly Tensor[], options?: StepOptions): void {
    const g = checkGrads(grads, this.params.length, 'SGD.step');
    const lr = stepRate(options, this._lr, 'SGD.step');
    kernels.sgdUpdate(this.params, g, this.bufs, {
      lr, momentum: this.momentum, nesterov: this.nesterov, weightDecay: this.weightDecay, decay: this.decay,
    });
  }

  /** The live momentum buffers ('buf.i'), owned by the optimizer. */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    this.bufs.forEach((t, i) => (sd[`buf.${i}`] = t));
    return sd;
  }

  loadStateDict(sd: Record<string, Tensor>): void {
    objectArg(sd, 'SGD.loadStateDict', 'stateDict', 'an object of tensors (from stateDict())');
    loadState(this.bufs, sd, 'buf', 'SGD.loadStateDict');
  }

  dispose(): void {
    for (const t of this.bufs) t.dispose();
  }
}
