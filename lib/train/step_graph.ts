// The trainer's --cuda-graph (issue 16): a whole training step (attack, the 2N forward and
// backward, optimizer, EMA) captured once as a CUDA graph and replayed while its shapes and plan
// stay, so a step is a few copies and one graph launch instead of thousands of kernel launches.
//
// What changes from step to step reaches the graph through tensors it reads: the batch and its
// labels (copied into static tensors), the learning rate and the EMA's warm-up decay (device
// scalars the optimizer kernels read when they run, lib/kernels/optim.ts), and the random
// draws' offset (each replay draws what an eager step would, lib/cuda_graph.ts). A step whose key
// (shapes, dtype, plan) differs from the graph's runs eagerly; the graph is (re)captured only
// when the same key comes in two steps in a row, so an epoch's last partial batch stays eager
// (and the graph of the full batches stays), and the first step of a key runs eagerly to create
// what ops make lazily.
import { capture, type CudaGraph } from '../cuda_graph.js';
import { copyInto } from '../ops/copy_into.js';
import { tensor, zeros } from '../creation.js';
import { keep } from '../memory.js';
import { addon } from '../native.js';
import type { Tensor } from '../tensor.js';
import type { ExponentialMovingAverage } from '../optim/index.js';

/** Losses and predictions a step leaves on the device for the trainer to read afterwards. */
export interface PendingStats { cleanLoss: Tensor | null; advLoss: Tensor | null; cleanPred: Tensor | null; advPred: Tensor | null }

/** What a queued step leaves: its loss (scaled by lossScale) and pending statistics. */
export interface QueuedStep { value: Tensor; lossScale: number; pending: PendingStats; skipped: boolean }

/** Device scalars a captured step reads its learning rate and EMA decay from. */
export interface StepScalars { lr: Tensor; emaDecay: Tensor }

export function disposePending(value: Tensor | null, p: PendingStats): void {
  for (const t of [value, p.cleanLoss, p.advLoss, p.cleanPred, p.advPred]) t?.dispose();
}

/** How the steps ran: captured graphs, replays, and steps run eagerly (with --cuda-graph). */
export interface CudaGraphStats { captures: number; replays: number; eagerSteps: number }

// Host values into a device tensor, in stream order (the host copy is taken before this returns).
function fromHost(dst: Tensor, values: Int32Array | Float64Array): void {
  const src = tensor(values, [values.length], { dtype: values instanceof Int32Array ? 'i32' : 'f64', device: 'cpu' });
  try {
    copyInto(dst, src);
  } finally {
    src.dispose();
  }
}

export class StepGraph {
  readonly stats: CudaGraphStats = { captures: 0, replays: 0, eagerSteps: 0 };
  private graph: CudaGraph<QueuedStep> | null = null;
  private key = '';
  private previousKey = '';  // the key of the step before, however it ran
  private statics: { x: Tensor; y: Tensor; scalars: StepScalars } | null = null;

  constructor(readonly device: string) {}

  /**
   * Runs the step keyed `key` on (x, labels) through the graph and returns what it left (owned by
   * the graph: read it, do not dispose it), or null when this step must run eagerly (the caller
   * runs it). `queue` queues one step's ops on the given inputs; `ema`'s update inside it must be
   * an updateFrom(scalars.emaDecay), counted here per replay.
   */
  run(key: string, x: Tensor, labels: Int32Array, lr: number, ema: ExponentialMovingAverage | null,
    queue: (x: Tensor, labels: Tensor, scalars: StepScalars) => QueuedStep): QueuedStep | null {
    const previous = this.previousKey;
    this.previousKey = key;
    if (!this.graph || this.key !== key) {
      if (previous !== key) {
        this.stats.eagerSteps++;
        return null;
      }
      this.recapture(key, x, labels, queue);
    }
    const s = this.statics!;
    copyInto(s.x, x);
    fromHost(s.y, labels);
    fromHost(s.scalars.lr, Float64Array.of(lr));
    fromHost(s.scalars.emaDecay, Float64Array.of(ema ? ema.currentDecay() : 0));
    this.graph!.replay();
    ema?.advance();
    this.stats.replays++;
    return this.graph!.result;
  }

  dispose(): void {
    if (this.graph) {
      const r = this.graph.result;
      disposePending(r.value, r.pending);
      this.graph.dispose();
    }
    this.graph = null;
    this.key = '';
    if (this.statics) for (const t of [this.statics.x, this.statics.y, this.statics.scalars.lr, this.statics.scalars.emaDecay]) t.dispose();
    this.statics = null;
  }

  private recapture(key: string, x: Tensor, labels: Int32Array, queue: (x: Tensor, labels: Tensor, scalars: StepScalars) => QueuedStep): void {
    this.dispose();
    const device = this.device;
    // Outside the capture and every tidy scope: the graph reads these addresses at each replay.
    const statics = {
      x: keep(zeros(x.shape, { device, dtype: x.dtype })),
      y: keep(zeros([labels.length], { device, dtype: 'i32' })),
      scalars: { lr: keep(zeros([1], { device, dtype: 'f64' })), emaDecay: keep(zeros([1], { device, dtype: 'f64' })) },
    };
    this.statics = statics;
    // The graph allocates from its own pool and never from the shared cache, which still holds
    // the eager steps' freed activations: give those back first, so that a run does not hold a
    // step's memory twice.
    addon.emptyCache(device);
    try {
      this.graph = capture(device, () => queue(statics.x, statics.y, statics.scalars));
    } catch (e) {
      this.dispose();
      throw e;
    }
    this.key = key;
    this.stats.captures++;
  }
}
