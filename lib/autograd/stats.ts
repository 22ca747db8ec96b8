// Counters that let tests prove what a backward pass did *not* run: kernel calls split by phase,
// gradient-rule calls per op, and input gradients computed per op input.
import { inBackward } from './mode.js';

const forwardKernels = new Map<string, number>();
const backwardKernels = new Map<string, number>();
const backwardCalls = new Map<string, number>();
const inputGrads = new Map<string, number>();

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

/** @internal Every raw kernel call goes through this. */
export function countKernel(name: string): void {
  bump(inBackward() ? backwardKernels : forwardKernels, name);
}

/** @internal */
export function countBackward(op: string, computed: readonly string[]): void {
  bump(backwardCalls, op);
  for (const input of computed) bump(inputGrads, `${op}.${input}`);
}

export interface AutogradStats {
  /** Raw kernel calls made outside backward passes, by kernel name. */
  forwardKernels: Record<string, number>;
  /** Raw kernel calls made by gradient rules and gradient accumulation. */
  backwardKernels: Record<string, number>;
  /** Gradient-rule calls by op name. */
  backwardCalls: Record<string, number>;
  /** Input gradients computed, keyed 'op.input' (e.g. 'mul.b'). */
  inputGrads: Record<string, number>;
}

export function stats(): AutogradStats {
  return {
    forwardKernels: Object.fromEntries(forwardKernels),
    backwardKernels: Object.fromEntries(backwardKernels),
    backwardCalls: Object.fromEntries(backwardCalls),
    inputGrads: Object.fromEntries(inputGrads),
  };
}

export function resetStats(): void {
  forwardKernels.clear();
  backwardKernels.clear();
  backwardCalls.clear();
  inputGrads.clear();
}
