// The PGD update and random start (not differentiable: they produce the attack's next input).
// The arithmetic lives in the native kernels (native/include/advprop/attack.h); this layer adds
// the global Philox key for an unseeded random start.
import type { Tensor } from '../tensor.js';
import * as k from '../kernels/attack.js';
import { currentSampleMap, resolveKey } from '../random.js';

export type AttackNorm = k.AttackNorm;
export type PgdStepOptions = k.PgdStepOptions;
export type RandomStartOptions = k.RandomStartOptions;

/** The next adversarial image (not differentiable; a new tensor). */
export function pgdStep(xAdv: Tensor, grad: Tensor, x: Tensor, opts: PgdStepOptions): Tensor {
  return k.pgdStep(xAdv, grad, x, opts);
}

/**
 * x plus uniform noise in the eps-ball, clamped to [min, max] (Philox; same on every backend).
 * Without `samples`, the sample map of an enclosing withSampleMap (a data-parallel step) applies.
 */
export function pgdRandomStart(x: Tensor, opts: RandomStartOptions): Tensor {
  const key = resolveKey(opts, 'pgdRandomStart');
  return k.pgdRandomStart(x, { ...opts, seed: key.seed, offset: key.offset, samples: opts.samples ?? currentSampleMap() });
}
