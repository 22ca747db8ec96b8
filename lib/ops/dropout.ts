// CONTRACT STUB (issue 4): the attack/dropout helper replaces this body; the signature is agreed.
import type { Tensor } from '../tensor.js';
import { AdvpropError } from '../errors.js';

export interface DropOptions { seed?: number | bigint; offset?: number | bigint }

/** Element-wise dropout with keep probability 1-rate, kept values scaled by 1/(1-rate). Differentiable. */
export function dropout(x: Tensor, rate: number, opts: DropOptions = {}): Tensor {
  void x; void rate; void opts;
  throw new AdvpropError('ERR_INTERNAL', 'dropout: not built yet');
}

/** Drop-connect (stochastic depth): one keep decision per sample (dim 0), kept samples scaled by 1/(1-rate). Differentiable. */
export function dropConnect(x: Tensor, rate: number, opts: DropOptions = {}): Tensor {
  void x; void rate; void opts;
  throw new AdvpropError('ERR_INTERNAL', 'dropConnect: not built yet');
}
