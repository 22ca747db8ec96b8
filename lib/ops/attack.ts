// CONTRACT STUB (issue 4): the attack helper replaces this body; the signature is agreed.
import type { Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';

export type AttackNorm = 'linf' | 'l2';
export interface PgdStepOptions {
  eps: number | Tensor; // scalar or per-sample [N]
  alpha: number | Tensor; // scalar or per-sample [N]
  min?: number; // default 0
  max?: number; // default 1
  norm?: AttackNorm; // default 'linf'
}
export interface RandomStartOptions {
  eps: number | Tensor; min?: number; max?: number; norm?: AttackNorm;
  seed?: number | bigint; offset?: number | bigint;
}

/** The next adversarial image (not differentiable; a new tensor). */
export function pgdStep(xAdv: Tensor, grad: Tensor, x: Tensor, opts: PgdStepOptions): Tensor {
  void xAdv; void grad; void x; void opts;
  throw new AdvpropError('ERR_INTERNAL', 'pgdStep: not built yet');
}

/** x plus uniform noise in the eps-ball, clamped to [min, max] (Philox; same on every backend). */
export function pgdRandomStart(x: Tensor, opts: RandomStartOptions): Tensor {
  void x; void opts;
  throw new AdvpropError('ERR_INTERNAL', 'pgdRandomStart: not built yet');
}
