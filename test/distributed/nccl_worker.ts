// One rank of test/distributed/nccl.test.ts: collectives on device tensors under mpirun. Prints
// one JSON line per rank: what each call returned or the error code and message it threw.
// argv: DEVICE (cuda-sim, cuda)
import * as ap from '../../lib/index.js';

const w = ap.dist.init();
// One GPU per rank, as advprop train picks it.
const device = process.argv[2] === 'cuda' ? `cuda:${w.localRank}` : process.argv[2]!;
const out: Record<string, unknown> = { rank: w.rank, size: w.size };
const attempt = (name: string, fn: () => unknown): void => {
  try {
    out[name] = fn();
  } catch (e) {
    const err = e as ap.AdvpropError;
    out[name] = { code: err.code, message: err.message };
  }
};
// Rank r holds r + 1 + i at element i: the sum over ranks is known in closed form.
const local = (dtype: 'f32' | 'f64' | 'bf16') => ap.tensor(Array.from({ length: 5 }, (_, i) => w.rank + 1 + i), [5], { device, dtype });
attempt('sum', () => Array.from(ap.dist.allreduce([local('f32'), local('f64')]).flatMap((t) => Array.from(t.toArray()))));
attempt('average', () => Array.from(ap.dist.allreduce([local('f32')], { average: true })[0]!.toArray()));
attempt('bf16', () => Array.from(ap.dist.allreduce([local('bf16')])[0]!.toArray()));
attempt('broadcast', () => {
  const t = local('f32');
  ap.dist.broadcast([t], 0);
  return Array.from(t.toArray());
});
attempt('mixed', () => ap.dist.allreduce([local('f32'), ap.tensor([1], [1], { device: 'cpu' })]));
console.log(JSON.stringify(out));
