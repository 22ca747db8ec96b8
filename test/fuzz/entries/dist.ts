// ap.dist: in the fuzz worker, a process started alone, so a world of one that never loads MPI;
// the collectives still check their arguments.
import * as ap from '../../../lib/index.js';
import { entry, NHWC, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';
import { bnParams, grad, segments, withBackward } from './ops.js';

function tensors(g: Gen): ap.Tensor[] {
  const dtype = g.r.pick(['f32', 'f64', 'i32'] as const);
  const ts = [g.tensor([2, 3], { dtype }), g.tensor([4], { dtype })];
  return g.mutate() ? g.wrongType() as ap.Tensor[] : ts;
}

export const distEntries: Entry[] = [
  entry('dist.init', () => () => ap.dist.init()),
  entry('dist.world', () => () => ap.dist.world()),
  entry('dist.probeMpi', () => () => ap.dist.probeMpi()),
  entry('dist.probeNccl', () => () => ap.dist.probeNccl()),
  entry('dist.barrier', () => () => ap.dist.barrier()),
  entry('dist.finalize', () => () => ap.dist.finalize()),
  entry('dist.allreduce', (g) => {
    const ts = tensors(g);
    const o = g.r.chance(0.3) ? undefined : g.opts({ average: g.bool(true), bucketBytes: g.size(64) });
    return () => { for (const t of ap.dist.allreduce(ts, o)) g.own(t, (x) => x.dispose()); };
  }),
  entry('dist.allreduceStart', (g) => {
    const ts = tensors(g);
    const o = g.r.chance(0.3) ? undefined : g.opts({ average: g.bool(true), bucketBytes: g.size(64) });
    return () => { for (const t of ap.dist.allreduceStart(ts, o).wait()) g.own(t, (x) => x.dispose()); };
  }),
  entry('dist.broadcast', (g) => {
    const ts = tensors(g);
    return () => ap.dist.broadcast(ts, g.r.chance(0.5) ? undefined : g.index(0));
  }),
  entry('dist.shardIndices', (g) => {
    const order = g.r.chance(0.9) ? Int32Array.from({ length: 12 }, (_, i) => i) : g.wrongType() as Int32Array;
    const shard = g.mutate() ? g.wrongType() as ap.dist.Shard : { rank: g.index(1), size: g.size(2) };
    return () => ap.dist.shardIndices(order, g.index(1), g.size(3), shard);
  }),
  entry('dist.withBnSync', (g) => { const f = g.fn(() => 1); return () => ap.dist.withBnSync(f); }),
  entry('dist.syncMultiBatchNorm', (g) => {
    const s = g.r.pick(NHWC), k = g.r.pick([1, 2]);
    const x = g.tensor(s, { grad: grad(g) });
    const p = bnParams(g, k, s[3]!);
    const segs = segments(g, s[0]!, k);
    const o = g.r.chance(0.3) ? undefined : g.opts({ mode: g.str(g.r.pick(['train', 'train-frozen', 'eval'] as const)), momentum: g.num(0.9), eps: g.num(1e-3) });
    return withBackward(g, () => ap.dist.syncMultiBatchNorm(x, p, segs, o));
  }),
];
