// Which samples a rank reads: global batch b of an epoch is order[b·G, (b+1)·G) with
// G = size × batchSize, the same set of images whatever the number of ranks, and rank r takes its
// r-th block of batchSize. Every rank draws the same permutation (same seed), so the blocks are
// disjoint and together the global batch.
import { AdvpropError } from '../errors.js';
import { intArg } from '../args.js';

export interface Shard { rank: number; size: number }

export function checkShard(shard: unknown, op: string): Shard {
  if (shard === null || typeof shard !== 'object') throw new AdvpropError('ERR_ARG', `${op}: shard must be { rank, size }`);
  const s = shard as Record<string, unknown>;
  const size = intArg(s.size, op, 'shard.size', 1, 1 << 20);
  const rank = intArg(s.rank, op, 'shard.rank', 0, size - 1);
  return { rank, size };
}

/** The indices rank `shard.rank` reads for global batch `batch` of an epoch's `order`. */
export function shardIndices(order: Int32Array, batch: number, batchSize: number, shard: Shard = { rank: 0, size: 1 }): Int32Array {
  const op = 'shardIndices';
  if (!(order instanceof Int32Array)) throw new AdvpropError('ERR_ARG', `${op}: order must be an Int32Array`);
  const s = checkShard(shard, op);
  intArg(batchSize, op, 'batchSize', 1, 2 ** 31 - 1);
  intArg(batch, op, 'batch', 0, 2 ** 31 - 1);
  const start = batch * batchSize * s.size + s.rank * batchSize;
  return order.subarray(Math.min(start, order.length), Math.min(start + batchSize, order.length));
}
