// One fuzz entry: a public function, class or method, and how to build a call to it from a Gen.
import type { Gen } from './gen.js';

export interface Entry {
  /** The export's path ('add', 'kernels.conv2d', 'nn.Conv2d'), '#method' for a method of it. */
  name: string;
  /** Relative frequency in a run (default 1); slow entries get less. */
  weight: number;
  /** Time limit of one call in ms (default 10 s); past it the call is a hang. */
  timeoutMs: number;
  /** Builds the arguments (valid or not, from g) and returns the call. */
  make(g: Gen): () => unknown;
}

export function entry(name: string, make: (g: Gen) => () => unknown, o: { weight?: number; timeoutMs?: number } = {}): Entry {
  return { name, make, weight: o.weight ?? 1, timeoutMs: o.timeoutMs ?? 10_000 };
}

/** NHWC shapes small enough for every backend, with odd sizes. */
export const NHWC: readonly (readonly number[])[] = [[2, 3, 3, 2], [1, 4, 4, 3], [3, 2, 5, 1], [2, 5, 5, 4]];
