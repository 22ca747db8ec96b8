// One training step for each method, and the epoch loop around it. An AdvProp step attacks
// through the auxiliary BN, then runs ONE forward/backward on the 2N batch [clean; adversarial]
// with segments [[0, N], [1, N]], so each half is normalised by its own BN and both halves share
// every convolution launch.
import { valueAndGrad } from '../autograd/engine.js';
import { noGrad } from '../autograd/mode.js';
import { AdvpropError } from '../errors.js';
import { pgd } from '../attack/pgd.js';
import { MultiBatchNorm2d, type Module } from '../nn/index.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { argmax } from '../kernels/loss.js';
import { add } from '../ops/arithmetic.js';
import { mulScalar } from '../ops/unary.js';
import { concat0, slice0 } from '../ops/shape.js';
import type { Segments } from '../ops/multi_batch_norm.js';
import { ExponentialMovingAverage, RMSProp, SGD } from '../optim/index.js';
import { canonicalDevice, defaultDevice, describeValue } from '../device.js';
import { checkTensor, isTensor, type Tensor } from '../tensor.js';
import { imageBatchTensor, stepLabels } from './images.js';
import { BatchUploader } from './upload.js';
import { keep } from '../memory.js';
import { numArg, objectArg, optionsArg } from '../args.js';
import { checkModule } from '../nn/module.js';
import { stepPlan } from './methods.js';
import { learningRate, scaledLr } from './schedule.js';
import { autocast } from '../precision.js';
import { GradScaler } from './grad_scaler.js';
import { allreduce, allreduceHost, broadcast, world } from '../distributed/world.js';
import { withBnSync } from '../distributed/sync_bn.js';
import { GradOverlap, type OverlapStats, type StepBuckets } from './grad_buckets.js';
import { withSampleMap } from '../random.js';
import { emaUpdate } from '../kernels/optim.js';
import { resolve, type Resolved, type TrainerOptions } from './trainer_options.js';
import { disposePending, StepGraph, type CudaGraphStats, type PendingStats, type QueuedStep, type StepScalars } from './step_graph.js';

export type { TrainerOptions } from './trainer_options.js';

export interface StepInput {
  /** NHWC: a Tensor or Float32Array in [0, 1], or a Uint8Array of bytes (normalised to byte / 255
   * on the model's device by kernels.normalizeImage, the same values as a Float32Array). */
  x: Tensor | Float32Array | Uint8Array;
  y: Int32Array | Tensor;
  /** The shape of x when it is a Float32Array or Uint8Array. */
  shape?: readonly number[];
}

export interface StepResult {
  step: number;
  epoch: number;
  lr: number;
  loss: number;
  cleanLoss: number | null;
  advLoss: number | null;
  cleanAcc: number | null;
  advAcc: number | null;
  /** fp16: the step's gradients overflowed, so the optimizer and EMA did not move (the scale backed off). */
  skipped: boolean;
}

/** Parameters that get weight decay: all but batch norm's (as the EfficientNet recipe). */
export function decayMask(model: Module): boolean[] {
  checkModule(model, 'decayMask');
  const bn = new Set<Tensor>();
  for (const [, m] of model.namedModules()) if (m instanceof MultiBatchNorm2d) for (const p of m.parameters()) bn.add(p);
  return model.parameters().map((p) => !bn.has(p));
}

export class Trainer {
  readonly model: Module;
  readonly options: Resolved;
  /** Optimizer steps taken so far. */
  stepCount = 0;
  private optimizer!: RMSProp | SGD;
  private emaState: ExponentialMovingAverage | null = null;
  private batchSize: number | null = null;
  private uploader: BatchUploader | null = null;
  private nextInput: StepInput | undefined;
  /** fp16's loss scaler; null in the other precisions. */
  readonly scaler: GradScaler | null;
  private stepGraph: StepGraph | null = null;
  private readonly overlap: GradOverlap;

  constructor(model: Module, options?: TrainerOptions) {
    this.model = checkModule(model, 'Trainer');
    this.options = resolve(options, model.parameters()[0]?.device ?? defaultDevice());
    this.scaler = this.options.precision === 'fp16' ? new GradScaler() : null;
    this.overlap = new GradOverlap(this.options.bucketBytes);
    if (this.options.cudaGraph) {
      const device = model.parameters()[0]?.device ?? defaultDevice();
      if (canonicalDevice(device, 'Trainer') === 'cpu')
        throw new AdvpropError('ERR_DEVICE', `Trainer: cudaGraph needs a cuda or cuda-sim device, but the model is on ${device}`);
      this.stepGraph = new StepGraph(device);
    }
    if (this.options.method === 'advprop') {
      const domains = model.namedModules().map(([, m]) => m).filter((m): m is MultiBatchNorm2d => m instanceof MultiBatchNorm2d);
      if (domains.length > 0 && domains.some((m) => m.domains < 2))
        throw new AdvpropError('ERR_ARG', 'Trainer: advprop needs a model built with at least 2 BN domains (domains: 2)');
    }
    this.broadcastState();
    this.rebuildState();
  }

  /** Data parallel: copies rank 0's parameters and BN statistics into every rank's model (a collective). */
  broadcastState(): void {
    if (world().size > 1) broadcast(this.emaSources(), 0);
  }

  /** (Re)creates optimizer and EMA over the model's current tensors (after loadStateDict replaced them). */
  rebuildState(): void {
    this.stepGraph?.dispose();  // it recorded the old state's addresses
    this.optimizer?.dispose();
    this.emaState?.dispose();
    const params = this.model.parameters();
    const common = { lr: this.options.lr ?? 0, weightDecay: this.options.weightDecay, decayMask: decayMask(this.model) };
    this.optimizer = this.options.optimizer === 'rmsprop'
      ? new RMSProp(params, { ...common, rho: 0.9, momentum: this.options.momentum, eps: 1e-3 })
      : new SGD(params, { ...common, momentum: this.options.momentum });
    this.emaState = this.options.ema === false ? null
      : new ExponentialMovingAverage(this.emaSources(), { decay: this.options.ema, warmup: true });
  }

  get ema(): ExponentialMovingAverage | null { return this.emaState; }
  /** Data parallel with overlapGrads: gradient buckets started, and those started during the backward. */
  get overlapStats(): OverlapStats { return this.overlap.stats; }

  /** With cudaGraph: graphs captured, steps replayed and steps run eagerly so far; null without. */
  get cudaGraphStats(): CudaGraphStats | null { return this.stepGraph ? { ...this.stepGraph.stats } : null; }

  /** With cudaGraph: why every step runs eagerly (fp16, several ranks, a random-target attack), or null. */
  get cudaGraphFallback(): string | null {
    if (!this.stepGraph) return null;
    if (this.scaler) return 'fp16 reads its loss scaler\'s overflow flag on the host inside each step';
    if (world().size > 1) return 'the gradient all-reduce runs on MPI or NCCL from the host';
    if (this.options.attackTarget === 'random') return 'random-target attacks draw their labels on the host';
    return null;
  }
  get optimizerState(): RMSProp | SGD { return this.optimizer; }

  /** Parameters then BN running statistics: what the EMA averages. */
  emaSources(): Tensor[] {
    return [...this.model.parameters(), ...this.model.namedBuffers().map(([, b]) => b)];
  }

  epochAt(step = this.stepCount): number {
    numArg(step, 'Trainer.epochAt', 'step', 0);
    return this.options.stepsPerEpoch ? step / this.options.stepsPerEpoch : 0;
  }

  currentLr(): number {
    const peak = this.options.lr ?? scaledLr(this.batchSize ?? 256);
    const o = this.options;
    if (!o.epochs || !o.stepsPerEpoch) return peak;
    return learningRate({ schedule: o.schedule, baseLr: peak, epochs: o.epochs, warmupEpochs: o.warmupEpochs }, this.epochAt());
  }

  /**
   * One optimizer step on a batch; returns its losses and accuracies. `options.next`, the batch
   * the following step() will get, lets a GPU trainer copy its bytes (a Uint8Array x) to the
   * device while this step's kernels run; the following step must pass the same array.
   */
  step(input: StepInput, options?: { next?: StepInput }): StepResult {
    const next = optionsArg(options, 'Trainer.step').next;
    const { x, labels } = this.toInputs(input);
    const sync = this.options.bnSync === 'domain' ? withBnSync : <T>(fn: () => T): T => fn();
    this.nextInput = next;
    try {
      return autocast(this.options.precision, () => sync(() => this.stepOn(x, labels)));
    } finally {
      this.nextInput = undefined;
      if (x !== input.x) x.dispose();
    }
  }

  // Called once the step's kernels are queued and before its statistics are read, so the copy of
  // the next batch overlaps them. A next batch that the uploader refuses is left to the step that
  // gets it, which reports it: this step has already updated the weights.
  private prefetchNext(): void {
    const n = this.nextInput;
    if (!n || !(n.x instanceof Uint8Array) || !Array.isArray(n.shape)) return;
    try {
      this.batchUploader().prefetch(n.x, n.shape);
    } catch (e) {
      if (!(e instanceof AdvpropError) || (e.code !== 'ERR_ARG' && e.code !== 'ERR_SHAPE')) throw e;
    }
  }

  private batchUploader(): BatchUploader {
    const device = this.model.parameters()[0]?.device ?? defaultDevice();
    if (this.uploader?.device !== device) {
      this.uploader?.dispose();
      this.uploader = new BatchUploader(device);
    }
    return this.uploader;
  }

  private toInputs(input: StepInput): { x: Tensor; labels: Int32Array } {
    const op = 'Trainer.step';
    objectArg(input, op, 'input', '{ x, y, shape? }');
    const device = this.model.parameters()[0]?.device ?? defaultDevice();
    if (!(input.x instanceof Float32Array) && !(input.x instanceof Uint8Array) && !isTensor(input.x))
      throw new AdvpropError('ERR_ARG', `${op}: x must be a Tensor, or a Float32Array or Uint8Array with shape, got ${describeValue(input.x)}`);
    const labels = stepLabels(input.y, op);
    let x: Tensor;
    if (input.x instanceof Float32Array || input.x instanceof Uint8Array) {
      if (!Array.isArray(input.shape) || input.shape.length !== 4)
        throw new AdvpropError('ERR_ARG', `Trainer.step: a ${input.x instanceof Float32Array ? 'Float32Array' : 'Uint8Array'} x needs shape [N, H, W, C]`);
      x = input.x instanceof Uint8Array ? this.batchUploader().upload(input.x, input.shape) : imageBatchTensor(input.x, input.shape, device);
    } else {
      x = checkTensor(input.x, op, 'x');
      if (x.shape.length !== 4) throw new AdvpropError('ERR_SHAPE', `Trainer.step: x must be NHWC [N, H, W, C], got [${x.shape.join(', ')}]`);
    }
    if (labels.length !== x.shape[0]) {
      if (x !== input.x) x.dispose();
      throw new AdvpropError('ERR_SHAPE', `Trainer.step: ${labels.length} labels for a batch of ${x.shape[0]}`);
    }
    return { x, labels };
  }

  private stepOn(x: Tensor, labels: Int32Array): StepResult {
    const o = this.options;
    const n = x.shape[0]!;
    // The learning-rate rule sees the global batch: every rank's samples of the step.
    this.batchSize ??= n * world().size;
    const epoch = this.epochAt();
    const plan = stepPlan(o.method, epoch, o.finetuneFraction * (o.epochs ?? Infinity));
    this.model.train();
    const lr = this.currentLr();
    this.optimizer.lr = lr;  // what a replay's device scalar holds too
    const key = this.stepGraph && this.cudaGraphFallback === null
      ? `${x.dtype} [${x.shape.join(',')}] ${plan.clean} ${plan.adversarial} ${plan.advDomain}` : null;
    const graphed = key === null ? null
      : this.stepGraph!.run(key, x, labels, lr, this.emaState, (sx, sy, scalars) => this.queueStep(sx, sy, plan, scalars));
    if (graphed) {
      this.prefetchNext();
      const stats = this.readStats(graphed.value, 1, graphed.pending, labels, false);
      this.stepCount++;
      return { step: this.stepCount, epoch, lr, ...stats, skipped: false };
    }
    const q = this.queueStep(x, labels, plan, null);
    this.prefetchNext();
    const stats = this.readStats(q.value, q.lossScale, q.pending, labels, true);
    this.stepCount++;
    return { step: this.stepCount, epoch, lr, ...stats, skipped: q.skipped };
  }

  // Queues one step: the attack, the forward and backward, the all-reduce, the optimizer and the
  // EMA. With `scalars` (inside a CUDA graph capture) the rate and the EMA decay are read from
  // device scalars when the kernels run, and no host value is read.
  private queueStep(x: Tensor, labels: Int32Array | Tensor, plan: ReturnType<typeof stepPlan>, scalars: StepScalars | null): QueuedStep {
    const o = this.options;
    const n = x.shape[0]!;
    // Data parallel: this rank's n samples are its block of each n × size segment of the global
    // batch (the clean one, then the adversarial one), so dropout, drop-connect and the random
    // start draw what one process holding the global batch would.
    const w = world();
    const samples = w.size > 1 ? { segment: n, stride: n * w.size, base: n * w.rank } : undefined;
    const xAdv = plan.adversarial
      ? withSampleMap(samples, () => pgd(this.model, x, labels, {
        epsilon: o.epsilon, steps: o.attackSteps, stepSize: o.attackStepSize, norm: o.attackNorm, randomStart: o.randomStart,
        domain: plan.advDomain, bnMode: o.attackBnMode, target: o.attackTarget, lossScale: this.scaler?.scale,
      }))
      : null;
    try {
      const buckets = w.size > 1 && o.overlapGrads ? this.overlap.step(this.model.parameters()) : null;
      const parts = withSampleMap(samples, () => this.lossAndGrads(x, xAdv, labels, plan, buckets));
      parts.valueOwner.dispose();
      if (world().size > 1) {
        try {
          // The mean over ranks of each rank's mean loss is the global batch's mean loss.
          const averaged = buckets ? buckets.finish(parts.grads) : allreduce(parts.grads, { average: true, bucketBytes: o.bucketBytes });
          for (const g of parts.grads) g.dispose();
          parts.grads = averaged;
          if (o.bnSync === 'none') this.averageRunningStats();
        } catch (e) {
          // parts.grads: the step's own gradients, or their averages once the all-reduce returned.
          disposePending(parts.value, parts.pending);
          for (const g of parts.grads) g.dispose();
          throw e;
        }
      }
      let skipped = false;
      let grads = parts.grads;
      try {
        if (this.scaler) {
          const u = this.scaler.unscale(parts.grads);
          grads = u.grads;
          skipped = !u.finite;
          this.scaler.update(u.finite);
        }
        if (!skipped) {
          if (scalars) {
            this.optimizer.step(grads, { lr: scalars.lr });
            this.emaState?.updateFrom(scalars.emaDecay);
          } else {
            this.optimizer.step(grads);
            this.emaState?.update();
          }
        }
      } catch (e) {
        // No reads after a failure: on a failed GPU context they would throw and hide this error.
        disposePending(parts.value, parts.pending);
        throw e;
      } finally {
        for (const g of parts.grads) g.dispose();
        if (grads !== parts.grads) for (const g of grads) g.dispose();
      }
      return { value: parts.value, lossScale: parts.lossScale, pending: parts.pending, skipped };
    } finally {
      xAdv?.dispose();
    }
  }

  // --bn-sync none: each rank's forward moved the running statistics towards its own batch's, so
  // they are replaced by their mean over the ranks (the mean of the per-rank batch means and of the
  // per-rank unbiased variances), identical on every rank before the EMA reads them. Written in
  // place (emaUpdate with decay 0 is an exact copy), as the modules hold these tensors.
  private averageRunningStats(): void {
    const buffers = this.model.namedBuffers().map(([, b]) => b);
    if (buffers.length === 0) return;
    const mean = allreduce(buffers, { average: true, bucketBytes: this.options.bucketBytes });
    try {
      emaUpdate(buffers, mean, 0);
    } finally {
      for (const t of mean) t.dispose();
    }
  }

  // Losses and predictions stay on the device until readStats, after the optimizer step is queued:
  // reading them inside the step would drain a GPU's queue between the forward and the backward.
  private lossAndGrads(x: Tensor, xAdv: Tensor | null, labels: Int32Array | Tensor, plan: ReturnType<typeof stepPlan>, buckets: StepBuckets | null) {
    const params = this.model.parameters();
    const pending: PendingStats = { cleanLoss: null, advLoss: null, cleanPred: null, advPred: null };
    const lossScale = this.scaler?.scale ?? 1;
    let result: { value: Tensor; grads: Tensor[] };
    try {
      // fp16: the backward runs on the scaled loss (a power of two: scaling and unscaling are exact).
      result = valueAndGrad(() => {
        const l = this.loss(x, xAdv, labels, plan, pending);
        return lossScale === 1 ? l : mulScalar(l, lossScale);
      }, params, buckets ? { onGradReady: buckets.onReady } : undefined);
    } catch (e) {
      // The kept tensors are outside every tidy: a failed forward or backward must free them here.
      disposePending(null, pending);
      buckets?.abandon();
      throw e;
    }
    const { value, grads } = result;
    return { grads, value: keep(value.detach()), lossScale, pending, valueOwner: value };
  }

  // The step's loss on the clean and/or adversarial batch (one 2N forward when both), keeping
  // detached losses and argmax predictions in `pending` for readStats.
  private loss(x: Tensor, xAdv: Tensor | null, labels: Int32Array | Tensor, plan: ReturnType<typeof stepPlan>, pending: PendingStats): Tensor {
    const o = this.options;
    const n = x.shape[0]!;
    const ls = { labelSmoothing: o.labelSmoothing };
    let input: Tensor, segments: Segments;
    if (plan.clean && xAdv) {
      input = concat0([x, xAdv]);
      segments = plan.advDomain === 0 ? [[0, 2 * n]] : [[0, n], [plan.advDomain, n]];
    } else {
      input = xAdv ?? x;
      segments = [[xAdv ? plan.advDomain : 0, n]];
    }
    const logits = this.model.forward(input, { segments });
    const both = plan.clean && xAdv !== null;
    const clean = plan.clean ? (both ? slice0(logits, 0, n) : logits) : null;
    const adv = xAdv ? (both ? slice0(logits, n, n) : logits) : null;
    const lc = clean ? crossEntropy(clean, labels, ls) : null;
    const la = adv ? crossEntropy(adv, labels, ls) : null;
    noGrad(() => {
      if (lc) pending.cleanLoss = keep(lc.detach());
      if (la) pending.advLoss = keep(la.detach());
      if (clean) pending.cleanPred = keep(argmax(clean));
      if (adv) pending.advPred = keep(argmax(adv));
    });
    if (lc && la) return add(mulScalar(lc, o.cleanWeight), mulScalar(la, o.advWeight));
    return (lc ?? la)!;
  }

  /** One host read per number, after everything of the step has been queued; frees the tensors when `owned`. */
  private readStats(value: Tensor, lossScale: number, p: PendingStats, labels: Int32Array, owned: boolean) {
    const n = labels.length;
    const correct = (pred: Tensor | null): number | null => {
      if (!pred) return null;
      const h = pred.toArray() as Int32Array;
      let c = 0;
      for (let i = 0; i < n; i++) if (h[i] === labels[i]) c++;
      return c / n;
    };
    try {
      const r = {
        loss: value.item() / lossScale,
        cleanLoss: p.cleanLoss ? p.cleanLoss.item() : null,
        advLoss: p.advLoss ? p.advLoss.item() : null,
        cleanAcc: correct(p.cleanPred),
        advAcc: correct(p.advPred),
      };
      if (world().size === 1) return r;
      // Reported over the global batch: the ranks' means, averaged (equal per-rank batches).
      const v = Float64Array.from([r.loss, r.cleanLoss ?? 0, r.advLoss ?? 0, r.cleanAcc ?? 0, r.advAcc ?? 0]);
      allreduceHost(v);
      const avg = (i: number, keep: unknown): number | null => (keep === null ? null : v[i]! / world().size);
      return { loss: avg(0, r.loss)!, cleanLoss: avg(1, r.cleanLoss), advLoss: avg(2, r.advLoss), cleanAcc: avg(3, r.cleanAcc), advAcc: avg(4, r.advAcc) };
    } finally {
      if (owned) disposePending(value, p);
    }
  }

  /** Writes the EMA weights and statistics into `target` (a model of the same architecture). */
  copyEmaTo(target: Module): void {
    checkModule(target, 'Trainer.copyEmaTo', 'target');
    if (!this.emaState) throw new AdvpropError('ERR_ARG', 'Trainer: EMA is off (ema: false)');
    this.emaState.copyTo([...target.parameters(), ...target.namedBuffers().map(([, b]) => b)]);
  }

  dispose(): void {
    this.stepGraph?.dispose();
    this.optimizer.dispose();
    this.emaState?.dispose();
    this.uploader?.dispose();
    this.uploader = null;
  }
}
