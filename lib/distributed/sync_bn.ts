// Batch norm across replicas, per segment (--bn-sync domain): each segment's statistics are those
// of the same segment on every rank together, so the clean and adversarial halves of AdvProp's 2N
// batch stay separately normalised, over the whole global batch.
//
// Built on the existing kernels, so it runs on every device: the forward asks the kernel for the
// local batch statistics ('train-frozen'), combines them across ranks on the host in f64 (count,
// sum, sum of squares), then normalises with the kernel in 'eval' mode given the global mean and
// variance as its "running" statistics. The backward runs the kernel in 'eval' mode (dx = k·g,
// the local sums Σg and Σg·x̂ as dbeta and dgamma), all-reduces the two sums and adds the batch
// terms −k·(Σg + x̂·Σg·x̂)/N that the eval backward leaves out. dgamma and dbeta stay local: the
// trainer's gradient all-reduce averages them with every other gradient.
import { AdvpropError } from '../errors.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { tensor } from '../creation.js';
import { record, recordingNeeds } from '../autograd/node.js';
import * as k from '../kernels/multi_batch_norm.js';
import { binary, concat0, slice0 } from '../kernels.js';
import { emaUpdate } from '../kernels/optim.js';
import { multiBatchNorm, type MultiBatchNormOptions, type MultiBatchNormParams, type Segments } from '../ops/multi_batch_norm.js';
import { allreduceHost, world } from './world.js';
import { functionArg } from '../args.js';

let depth = 0;

/** Runs fn with batch norm synchronised across ranks (a no-op in a world of one). */
export function withBnSync<T>(fn: () => T): T {
  functionArg(fn, 'dist.withBnSync', 'fn');
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

/** True inside withBnSync in a world of more than one rank. */
export function bnSyncActive(): boolean {
  return depth > 0 && world().size > 1;
}

type Host = Float32Array | Float64Array;
const host = (t: Tensor): Host => t.toArray() as Host;

/**
 * multiBatchNorm with each segment's batch statistics taken over that segment on every rank.
 * Every rank must call it with the same number of segments, in the same order, each domain at
 * most once. 'eval' (and a world of one) is the plain op.
 */
export function syncMultiBatchNorm(x: Tensor, params: MultiBatchNormParams, segments: Segments, opts: MultiBatchNormOptions = {}): Tensor {
  const op = 'syncMultiBatchNorm';
  const o = k.normalizeBatchNormOptions(opts, op);
  if (o.mode === 'eval' || world().size === 1) return multiBatchNorm(x, params, segments, o);
  const X = checkTensor(x, op, 'x');
  const G = checkTensor(params?.gamma, op, 'gamma');
  const B = checkTensor(params?.beta, op, 'beta');
  const RM = checkTensor(params?.runningMean, op, 'runningMean');
  const RV = checkTensor(params?.runningVar, op, 'runningVar');
  const domains = segments.map(([d]) => d);
  if (new Set(domains).size !== domains.length)
    throw new AdvpropError('ERR_ARG', `${op}: segments name domain(s) [${domains.join(', ')}]; across ranks each domain may appear once`);
  // The local statistics; the kernel checks x, the parameters and the segments.
  const local = k.multiBatchNorm(X, params, segments, { ...o, mode: 'train-frozen' });
  local.y.dispose();
  const lm = host(local.mean), li = host(local.invstd);
  local.mean.dispose();
  local.invstd.dispose();
  const [, H, W, C] = X.shape as [number, number, number, number];
  const S = segments.length, K = G.shape[0]!, hw = H * W;
  // Per segment: count, then Σx and Σx² per channel, from the local mean and biased variance.
  const row = 1 + 2 * C;
  const stats = new Float64Array(S * row);
  segments.forEach(([, count], s) => {
    const n = count * hw;
    stats[s * row] = n;
    for (let c = 0; c < C; c++) {
      const mu = lm[s * C + c]!, inv = li[s * C + c]!;
      const v = Math.max(0, 1 / (inv * inv) - o.eps);
      stats[s * row + 1 + c] = n * mu;
      stats[s * row + 1 + C + c] = n * (v + mu * mu);
    }
  });
  allreduceHost(stats);
  const mean = new Float64Array(S * C), variance = new Float64Array(S * C), total = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    const n = (total[s] = stats[s * row]!);
    for (let c = 0; c < C; c++) {
      const mu = stats[s * row + 1 + c]! / n;
      mean[s * C + c] = mu;
      variance[s * C + c] = Math.max(0, stats[s * row + 1 + C + c]! / n - mu * mu);
    }
  }
  // The global statistics in the rows of the segments' domains, normalised by the eval kernel.
  const gm = new Float64Array(K * C), gv = new Float64Array(K * C).fill(1);
  segments.forEach(([d], s) => {
    gm.set(mean.subarray(s * C, (s + 1) * C), d * C);
    gv.set(variance.subarray(s * C, (s + 1) * C), d * C);
  });
  const place = { dtype: RM.dtype, device: RM.device };
  const gmT = tensor(gm, [K, C], place), gvT = tensor(gv, [K, C], place);
  let out: k.MultiBatchNormForward;
  try {
    // trainingMath: this is a training forward, so SiLU rounds as a 1-process run's train mode does.
    out = k.multiBatchNorm(X, { gamma: G, beta: B, runningMean: gmT, runningVar: gvT }, segments, { ...o, mode: 'eval', trainingMath: true });
  } finally {
    gmT.dispose();
    gvT.dispose();
  }
  if (o.mode === 'train') updateRunning(RM, RV, segments, mean, variance, total, o.momentum, C);
  const needs = recordingNeeds([X, G, B]);
  if (needs) {
    const segs = segments.map(([d, c]) => [d, c] as const);
    record(out.y, op, [X, G, B], [X, G, B, out.mean, out.invstd], (dy, saved, need) => {
      const [sx, sg, sb, sm, si] = saved as Tensor[];
      const grads = syncBackward(dy, sx!, sg!, sb!, sm!, si!, segs, o, total);
      return grads.map((t, i) => {
        if (need[i]) return t;
        t.dispose();
        return null;
      });
    }, ['x', 'gamma', 'beta']);
  }
  out.mean.dispose();
  out.invstd.dispose();
  return out.y;
}

// running = m·running + (1 − m)·batch with the unbiased global variance, computed in f64 and
// rounded once as the kernel does, written in place (emaUpdate with decay 0 is an exact copy).
function updateRunning(RM: Tensor, RV: Tensor, segments: Segments, mean: Float64Array, variance: Float64Array,
  total: Float64Array, m: number, C: number): void {
  const rm = host(RM), rv = host(RV);
  segments.forEach(([d], s) => {
    const n = total[s]!;
    for (let c = 0; c < C; c++) {
      const v = variance[s * C + c]!;
      const unbiased = n > 1 ? v * (n / (n - 1)) : v;
      rm[d * C + c] = m * rm[d * C + c]! + (1 - m) * mean[s * C + c]!;
      rv[d * C + c] = m * rv[d * C + c]! + (1 - m) * unbiased;
    }
  });
  const place = { dtype: RM.dtype, device: RM.device };
  const fm = tensor(rm, RM.shape, place), fv = tensor(rv, RV.shape, place);
  try {
    emaUpdate([RM, RV], [fm, fv], 0);
  } finally {
    fm.dispose();
    fv.dispose();
  }
}

function syncBackward(dy: Tensor, x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, invstd: Tensor,
  segs: ReadonlyArray<readonly [number, number]>, o: k.NormalBatchNormOptions, total: Float64Array): Tensor[] {
  const g = k.multiBatchNormBackward(dy, x, { gamma, beta }, mean, invstd, segs, { ...o, mode: 'eval' });
  const C = x.shape[3]!, S = segs.length;
  const db = host(g.dbeta), dg = host(g.dgamma), gm = host(gamma), ms = host(mean), is = host(invstd);
  const sums = new Float64Array(S * 2 * C);
  segs.forEach(([d], s) => {
    for (let c = 0; c < C; c++) {
      sums[s * 2 * C + c] = db[d * C + c]!;
      sums[s * 2 * C + C + c] = dg[d * C + c]!;
    }
  });
  allreduceHost(sums);
  // dx = k·g − k·S1/N − k·S2/N·(x − μ)·invstd = dx_eval + x·b + a, per segment and channel.
  const parts: Tensor[] = [];
  const vec = (v: Float64Array): Tensor => tensor(v, [C], { dtype: x.dtype, device: x.device });
  let start = 0;
  try {
    segs.forEach(([d, count], s) => {
      const a = new Float64Array(C), b = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        const inv = is[s * C + c]!, kk = gm[d * C + c]! * inv, n = total[s]!;
        const s1 = sums[s * 2 * C + c]! / n, s2 = sums[s * 2 * C + C + c]! / n;
        b[c] = -kk * s2 * inv;
        a[c] = -kk * s1 + kk * s2 * inv * ms[s * C + c]!;
      }
      const xs = slice0(x, start, count), dxs = slice0(g.dx, start, count);
      const av = vec(a), bv = vec(b);
      const t1 = binary('mul', xs, bv), t2 = binary('add', t1, av);
      parts.push(binary('add', t2, dxs));
      for (const t of [xs, dxs, av, bv, t1, t2]) t.dispose();
      start += count;
    });
  } catch (e) {
    for (const t of [...parts, g.dx, g.dgamma, g.dbeta]) t.dispose();
    throw e;
  }
  g.dx.dispose();
  const dx = parts.length === 1 ? parts[0]! : concat0(parts);
  if (parts.length > 1) for (const t of parts) t.dispose();
  return [dx, g.dgamma, g.dbeta];
}
