// Dynamic loss scaling for fp16 training, with PyTorch's GradScaler rules: the loss is multiplied
// by `scale` before the backward so that small gradients survive f16's range (smallest subnormal
// 2^-24); the gradients are divided by it again in f32; a step whose gradients hold an inf or NaN
// is skipped and the scale halved; after `growthInterval` clean steps in a row the scale doubles.
// bf16 has f32's exponent range and needs none of this.
import * as k from '../kernels.js';
import { AdvpropError } from '../errors.js';
import { describeValue, showValue } from '../device.js';
import { noGrad } from '../autograd/mode.js';
import type { Tensor } from '../tensor.js';

export interface GradScalerOptions {
  initScale?: number; // default 2^16
  growthFactor?: number; // default 2
  backoffFactor?: number; // default 0.5
  growthInterval?: number; // default 2000 clean steps
}

export interface GradScalerState {
  scale: number;
  /** Clean steps since the scale last changed. */
  growthTracker: number;
}

// The scale never leaves the finite f32 range (a scale of inf would turn every gradient into NaN).
const MIN_SCALE = 2 ** -24, MAX_SCALE = 2 ** 64;

export class GradScaler {
  scale: number;
  growthTracker = 0;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;

  constructor(options: GradScalerOptions = {}) {
    const num = (v: unknown, name: string, dflt: number, ok: (x: number) => boolean, rule: string): number => {
      const x = v ?? dflt;
      if (typeof x !== 'number' || !Number.isFinite(x) || !ok(x))
        throw new AdvpropError('ERR_ARG', `GradScaler: ${name} must be ${rule}, got ${describeValue(v)}`);
      return x;
    };
    this.scale = num(options.initScale, 'initScale', 2 ** 16, (x) => x >= MIN_SCALE && x <= MAX_SCALE, `in [2^-24, 2^64]`);
    this.growthFactor = num(options.growthFactor, 'growthFactor', 2, (x) => x > 1, 'a number > 1');
    this.backoffFactor = num(options.backoffFactor, 'backoffFactor', 0.5, (x) => x > 0 && x < 1, 'a number in (0, 1)');
    this.growthInterval = num(options.growthInterval, 'growthInterval', 2000, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  }

  /**
   * The gradients divided by the scale (new tensors; the caller disposes both lists) and whether
   * all of them are finite. One host read: the sum of every gradient's sum, which is inf or NaN
   * exactly when some element is (or when the finite sum overflows f32, which a usable gradient
   * never does; such a step is skipped as well).
   */
  unscale(grads: readonly Tensor[]): { grads: Tensor[]; finite: boolean } {
    return noGrad(() => {
      const inv = 1 / this.scale;
      const out: Tensor[] = [];
      let total: Tensor | null = null;
      try {
        for (const g of grads) {
          const u = k.scale(g, inv);
          out.push(u);
          const s = k.sum(u);
          if (total === null) total = s;
          else {
            const t: Tensor = k.add(total, s);
            total.dispose();
            s.dispose();
            total = t;
          }
        }
        const finite = total === null ? true : Number.isFinite(total.item());
        return { grads: out, finite };
      } catch (e) {
        // A bad gradient (disposed, wrong dtype): nothing made here outlives the error.
        for (const t of out) t.dispose();
        throw e;
      } finally {
        total?.dispose();
      }
    });
  }

  /** After a step: back off on overflow, grow after growthInterval clean steps. */
  update(finite: boolean): void {
    if (!finite) {
      this.scale = Math.max(MIN_SCALE, this.scale * this.backoffFactor);
      this.growthTracker = 0;
    } else if (++this.growthTracker >= this.growthInterval) {
      this.scale = Math.min(MAX_SCALE, this.scale * this.growthFactor);
      this.growthTracker = 0;
    }
  }

  state(): GradScalerState {
    return { scale: this.scale, growthTracker: this.growthTracker };
  }

  loadState(s: unknown, where = 'GradScaler.loadState'): void {
    const o = s as Partial<GradScalerState> | null;
    if (!o || typeof o !== 'object' || typeof o.scale !== 'number' || !(o.scale >= MIN_SCALE && o.scale <= MAX_SCALE) ||
        typeof o.growthTracker !== 'number' || !Number.isInteger(o.growthTracker) || o.growthTracker < 0)
      throw new AdvpropError('ERR_FORMAT', `${where}: loss-scaler state must be { scale in [2^-24, 2^64], growthTracker >= 0 }, got ${o && typeof o === 'object' ? `{ scale: ${showValue(o.scale)}, growthTracker: ${showValue(o.growthTracker)} }` : describeValue(s)}`);
    this.scale = o.scale;
    this.growthTracker = o.growthTracker;
  }
}
