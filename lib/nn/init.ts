// Initialisers. With a seed every tensor gets its own Philox key (seed, offset = index), so a model built
// twice with one seed is identical on every backend; without one the global generator is used.
import type { Tensor } from '../tensor.js';
import { full, rand, randn } from '../creation.js';
import type { TensorSpec } from '../models/efficientnet_config.js';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { numArg, optionsArg } from '../args.js';

export interface InitOptions {
  dtype?: 'f32' | 'f64';
  device?: string;
  /** Seed of this layer's (or model's) initialisation; default: the global generator. */
  seed?: number | bigint;
}

export type InitRule = TensorSpec['init'];

/** Hands out one Philox key per tensor from a base seed. */
export class Initializer {
  private next = 0n;
  readonly opts: InitOptions;
  constructor(opts?: InitOptions) {
    this.opts = optionsArg(opts, 'Initializer');
  }

  make(shape: readonly number[], init: InitRule): Tensor {
    const { dtype, device } = this.opts;
    const kind = (init as { type?: unknown } | null)?.type;
    if (kind !== 'const' && kind !== 'normal' && kind !== 'uniform')
      throw new AdvpropError('ERR_ARG', `Initializer.make: init must be {type: 'const' | 'normal' | 'uniform', ...}, got ${describeValue(init)}`);
    const key = this.opts.seed === undefined ? {} : { seed: this.opts.seed, offset: this.next++ };
    switch (init.type) {
      case 'const': return full(shape, init.value, { dtype, device });
      case 'normal': return randn(shape, { dtype, device, std: init.std, ...key });
      case 'uniform': return rand(shape, { dtype, device, lo: -init.range, hi: init.range, ...key });
    }
  }
}

/** TF's conv_kernel_initializer: normal(0, √(2 / fan_out)), fan_out = kh·kw·cout / groups (the
 * depthwise kernel's TF shape is [kh, kw, C, 1], so its fan_out is kh·kw). */
export function convInit(cout: number, kh: number, kw: number, groups: number): InitRule {
  for (const [v, n] of [[cout, 'cout'], [kh, 'kh'], [kw, 'kw'], [groups, 'groups']] as const) numArg(v, 'convInit', n, 0, Infinity, { min: true });
  return { type: 'normal', std: Math.sqrt(2 / ((kh * kw * cout) / groups)) };
}

/** TF's dense_kernel_initializer: uniform(±1/√out). */
export function denseInit(out: number): InitRule {
  numArg(out, 'denseInit', 'out', 0, Infinity, { min: true });
  return { type: 'uniform', range: 1 / Math.sqrt(out) };
}
