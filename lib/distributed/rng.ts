// Every rank's random-number state, gathered on every rank, for rank 0's checkpoint (issue 17:
// "checkpoints holding every rank's RNG state"). Each u64 travels as two 32-bit halves in f64,
// which a sum with the other ranks' zeros leaves exact.
import { getRngState } from '../random.js';
import { allreduceHost, world } from './world.js';

export interface RankRng { seed: bigint; offset: bigint }

/** [rank] -> that rank's (seed, offset); a collective. */
export function gatherRngStates(): RankRng[] {
  const { rank, size } = world();
  const v = new Float64Array(4 * size);
  const s = getRngState();
  const MASK = 0xffffffffn;
  [s.seed >> 32n, s.seed & MASK, s.offset >> 32n, s.offset & MASK].forEach((h, i) => { v[4 * rank + i] = Number(h); });
  allreduceHost(v);
  const u64 = (hi: number, lo: number): bigint => (BigInt(hi) << 32n) | BigInt(lo);
  return Array.from({ length: size }, (_, r) => ({ seed: u64(v[4 * r]!, v[4 * r + 1]!), offset: u64(v[4 * r + 2]!, v[4 * r + 3]!) }));
}
