// Data parallel: the gradient all-reduce overlapped with the backward, as DDP does. Parameters are
// grouped into buckets in reverse order (the backward makes the last layers' gradients first),
// and a bucket's mean over the ranks is started (ap.dist.allreduceStart: the communication
// thread on the cpu, the communication stream on cuda) as soon as the engine reports every
// gradient in it final, while the backward goes on. The buckets start in bucket order, the same
// on every rank, and the optimizer waits for them all.
import { AdvpropError } from '../errors.js';
import { allreduceStart, type PendingAllreduce } from '../distributed/world.js';
import type { Tensor } from '../tensor.js';

/** Counts since the trainer was made: buckets started, and those started while the backward still had nodes to run. */
export interface OverlapStats {
  buckets: number;
  duringBackward: number;
}

/**
 * Parameter indices in buckets: reverse parameter order, whole tensors, a bucket closed before it
 * would pass `bucketBytes` (a larger tensor alone, cut by the all-reduce itself) or change dtype
 * or device (one all-reduce takes one of each).
 */
export function planBuckets(params: readonly Tensor[], bucketBytes: number): number[][] {
  const buckets: number[][] = [];
  let cur: number[] = [];
  let bytes = 0;
  for (let i = params.length - 1; i >= 0; i--) {
    const p = params[i]!;
    const size = p.numel * (p.dtype === 'f64' ? 8 : p.dtype === 'f32' ? 4 : 2);
    const first = cur.length ? params[cur[0]!]! : null;
    if (first && (bytes + size > bucketBytes || first.dtype !== p.dtype || first.device !== p.device)) {
      buckets.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(i);
    bytes += size;
  }
  if (cur.length) buckets.push(cur);
  return buckets;
}

/** One step's buckets: `onReady` is the engine's onGradReady; `finish` returns the averaged gradients. */
export class StepBuckets {
  private readonly ready: (Tensor | null)[];
  private readonly missing: number[];
  private readonly started: PendingAllreduce[] = [];

  constructor(private readonly plan: readonly number[][], params: number, private readonly bucketBytes: number,
    private readonly stats: OverlapStats) {
    this.ready = new Array<Tensor | null>(params).fill(null);
    this.missing = plan.map((b) => b.length);
  }

  private bucketOf: Map<number, number> | null = null;

  readonly onReady = (index: number, grad: Tensor, remaining: number): void => {
    this.bucketOf ??= new Map(this.plan.flatMap((b, k) => b.map((i) => [i, k] as [number, number])));
    this.ready[index] = grad;
    this.missing[this.bucketOf.get(index)!]!--;
    // In bucket order: a full bucket waits for the ones before it, so every rank starts the same
    // sequence whatever order the engine finished the gradients in.
    while (this.started.length < this.plan.length && this.missing[this.started.length] === 0) this.start(remaining);
  };

  private start(remaining: number): void {
    const bucket = this.plan[this.started.length]!;
    const grads = bucket.map((i) => this.ready[i]!);
    this.started.push(allreduceStart(grads, { average: true, bucketBytes: this.bucketBytes }));
    this.stats.buckets++;
    if (remaining > 0) this.stats.duringBackward++;
  }

  /** Waits for every bucket; returns new tensors, the mean over the ranks of `grads`, in parameter order. */
  finish(grads: readonly Tensor[]): Tensor[] {
    grads.forEach((g, i) => { if (!this.ready[i]) this.ready[i] = g; });
    this.missing.fill(0);
    while (this.started.length < this.plan.length) this.start(0);
    const out = new Array<Tensor | null>(grads.length).fill(null);
    try {
      this.started.forEach((p, k) => {
        const means = p.wait();
        this.plan[k]!.forEach((i, j) => { out[i] = means[j]!; });
      });
    } catch (e) {
      this.abandon();
      for (const t of out) t?.dispose();
      throw e;
    }
    if (out.some((t) => t === null)) throw new AdvpropError('ERR_INTERNAL', 'gradient buckets: a parameter was in no bucket');
    return out as Tensor[];
  }

  /** After a failed backward: waits for what was started (every rank started it) and frees it. */
  abandon(): void {
    for (const p of this.started) {
      try {
        for (const t of p.wait()) t.dispose();
      } catch { /* waited already, or failed: the error that brought us here is the one to report */ }
    }
  }
}

/** A trainer's buckets: the plan (made on the first step) and the counts. */
export class GradOverlap {
  readonly stats: OverlapStats = { buckets: 0, duringBackward: 0 };
  private plan: number[][] | null = null;
  constructor(private readonly bucketBytes: number) {}

  step(params: readonly Tensor[]): StepBuckets {
    this.plan ??= planBuckets(params, this.bucketBytes);
    return new StepBuckets(this.plan, params.length, this.bucketBytes, this.stats);
  }
}
