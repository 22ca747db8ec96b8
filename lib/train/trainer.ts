// One training step for each method, and the epoch loop around it. An AdvProp step attacks
// through the auxiliary BN, then runs ONE forward/backward on the 2N batch [clean; adversarial]
// with segments [[0, N], [1, N]], so each half is normalised by its own BN and both halves share
// every convolution launch.
import { valueAndGrad } from '../autograd/engine.js';
import { noGrad } from '../autograd/mode.js';
import { AdvpropError } from '../errors.js';
import { pgd } from '../attack/pgd.js';
import { MultiBatchNorm2d, type Module } from '../nn/index.js';
import { accuracy, crossEntropy } from '../ops/cross_entropy.js';
import { argmax } from '../kernels/loss.js';
import { add } from '../ops/arithmetic.js';
import { mulScalar } from '../ops/unary.js';
import { concat0, slice0 } from '../ops/shape.js';
import type { Segments } from '../ops/multi_batch_norm.js';
import { ExponentialMovingAverage, RMSProp, SGD } from '../optim/index.js';
import { defaultDevice } from '../device.js';
import type { Tensor } from '../tensor.js';
import { tensor } from '../creation.js';
import { keep, tidy } from '../memory.js';
import type { AttackNorm } from '../ops/attack.js';
import { METHODS, stepPlan, type Method } from './methods.js';
import { learningRate, scaledLr, type ScheduleName } from './schedule.js';

export interface TrainerOptions {
  method?: Method; // default 'advprop'
  /** Attack radius in pixel units of 255; default 1. */
  epsilon?: number;
  attackSteps?: number; // default ε + 1 (1 for ε = 1)
  attackStepSize?: number; // default 1 (pixel units)
  attackNorm?: AttackNorm; // default 'linf'
  randomStart?: boolean; // default false
  attackBnMode?: 'train-frozen' | 'eval'; // default 'train-frozen'
  attackTarget?: 'true' | 'random'; // default 'true'
  cleanWeight?: number; // default 1
  advWeight?: number; // default 1
  optimizer?: 'rmsprop' | 'sgd'; // default 'rmsprop' (TensorFlow's form, ρ 0.9, momentum 0.9, ε 1e-3)
  /** Peak learning rate; default 0.016 per 256 images of the batch (clean images only). */
  lr?: number;
  momentum?: number; // default 0.9
  schedule?: ScheduleName; // default 'exponential': warm-up, then ×0.97 every 2.4 epochs
  warmupEpochs?: number; // default 5, never more than a fifth of the run
  weightDecay?: number; // default 1e-5, on every parameter except batch norm's
  labelSmoothing?: number; // default 0.1
  /** EMA decay of weights and BN statistics, or false; default 0.9999 with TF's warm-up. */
  ema?: number | false;
  /** adv-finetune: the fraction of epochs spent on adversarial pre-training; default 0.5. */
  finetuneFraction?: number;
  /** Run length, used by the schedule (fit() sets both). */
  epochs?: number;
  stepsPerEpoch?: number;
}

export interface StepInput {
  x: Tensor | Float32Array; // NHWC in [0, 1]
  y: Int32Array | Tensor;
  /** The shape of x when it is a Float32Array. */
  shape?: readonly number[];
}

interface PendingStats { cleanLoss: Tensor | null; advLoss: Tensor | null; cleanPred: Tensor | null; advPred: Tensor | null }

function disposePending(value: Tensor | null, p: PendingStats): void {
  for (const t of [value, p.cleanLoss, p.advLoss, p.cleanPred, p.advPred]) t?.dispose();
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
}

type Resolved = Required<Omit<TrainerOptions, 'lr' | 'attackSteps' | 'ema' | 'epochs' | 'stepsPerEpoch'>> &
  Pick<TrainerOptions, 'lr' | 'attackSteps' | 'epochs' | 'stepsPerEpoch'> & { ema: number | false };

function resolve(o: TrainerOptions): Resolved {
  const method = o.method ?? 'advprop';
  if (!METHODS.includes(method)) throw new AdvpropError('ERR_ARG', `Trainer: unknown method '${String(method)}' (${METHODS.join(', ')})`);
  const eps = o.epsilon ?? 1;
  if (!(eps >= 0)) throw new AdvpropError('ERR_ARG', `Trainer: epsilon must be ≥ 0, got ${String(o.epsilon)}`);
  const r: Resolved = {
    method, epsilon: eps, attackSteps: o.attackSteps, attackStepSize: o.attackStepSize ?? 1, attackNorm: o.attackNorm ?? 'linf',
    randomStart: o.randomStart ?? false, attackBnMode: o.attackBnMode ?? 'train-frozen', attackTarget: o.attackTarget ?? 'true',
    cleanWeight: o.cleanWeight ?? 1, advWeight: o.advWeight ?? 1, optimizer: o.optimizer ?? 'rmsprop', lr: o.lr,
    momentum: o.momentum ?? 0.9, schedule: o.schedule ?? 'exponential', warmupEpochs: o.warmupEpochs ?? 5,
    weightDecay: o.weightDecay ?? 1e-5, labelSmoothing: o.labelSmoothing ?? 0.1, ema: o.ema === undefined ? 0.9999 : o.ema,
    finetuneFraction: o.finetuneFraction ?? 0.5, epochs: o.epochs, stepsPerEpoch: o.stepsPerEpoch,
  };
  if (r.optimizer !== 'rmsprop' && r.optimizer !== 'sgd') throw new AdvpropError('ERR_ARG', `Trainer: optimizer must be 'rmsprop' or 'sgd', got ${String(r.optimizer)}`);
  if (r.ema !== false && !(r.ema > 0 && r.ema < 1)) throw new AdvpropError('ERR_ARG', `Trainer: ema must be in (0, 1) or false, got ${String(r.ema)}`);
  if (!(r.labelSmoothing >= 0 && r.labelSmoothing < 1)) throw new AdvpropError('ERR_ARG', `Trainer: labelSmoothing must be in [0, 1), got ${r.labelSmoothing}`);
  return r;
}

/** Parameters that get weight decay: all but batch norm's (as the EfficientNet recipe). */
export function decayMask(model: Module): boolean[] {
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

  constructor(model: Module, options: TrainerOptions = {}) {
    this.model = model;
    this.options = resolve(options);
    if (this.options.method === 'advprop') {
      const domains = model.namedModules().map(([, m]) => m).filter((m): m is MultiBatchNorm2d => m instanceof MultiBatchNorm2d);
      if (domains.length > 0 && domains.some((m) => m.domains < 2))
        throw new AdvpropError('ERR_ARG', 'Trainer: advprop needs a model built with at least 2 BN domains (domains: 2)');
    }
    this.rebuildState();
  }

  /** (Re)creates optimizer and EMA over the model's current tensors (after loadStateDict replaced them). */
  rebuildState(): void {
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
  get optimizerState(): RMSProp | SGD { return this.optimizer; }

  /** Parameters then BN running statistics: what the EMA averages. */
  emaSources(): Tensor[] {
    return [...this.model.parameters(), ...this.model.namedBuffers().map(([, b]) => b)];
  }

  epochAt(step = this.stepCount): number {
    return this.options.stepsPerEpoch ? step / this.options.stepsPerEpoch : 0;
  }

  currentLr(): number {
    const peak = this.options.lr ?? scaledLr(this.batchSize ?? 256);
    const o = this.options;
    if (!o.epochs || !o.stepsPerEpoch) return peak;
    return learningRate({ schedule: o.schedule, baseLr: peak, epochs: o.epochs, warmupEpochs: o.warmupEpochs }, this.epochAt());
  }

  /** One optimizer step on a batch; returns its losses and accuracies. */
  step(input: StepInput): StepResult {
    const { x, labels } = this.toInputs(input);
    try {
      return this.stepOn(x, labels);
    } finally {
      if (x !== input.x) x.dispose();
    }
  }

  private toInputs(input: StepInput): { x: Tensor; labels: Int32Array } {
    const device = this.model.parameters()[0]?.device ?? defaultDevice();
    let x: Tensor;
    if (input.x instanceof Float32Array) {
      if (!input.shape || input.shape.length !== 4) throw new AdvpropError('ERR_ARG', 'Trainer.step: a Float32Array x needs shape [N, H, W, C]');
      x = tensor(input.x, input.shape, { dtype: 'f32', device });
    } else {
      x = input.x;
      if (x.shape.length !== 4) throw new AdvpropError('ERR_SHAPE', `Trainer.step: x must be NHWC [N, H, W, C], got [${x.shape.join(', ')}]`);
    }
    const labels = input.y instanceof Int32Array ? input.y : Int32Array.from(input.y.toArray() as ArrayLike<number>);
    if (labels.length !== x.shape[0]) throw new AdvpropError('ERR_SHAPE', `Trainer.step: ${labels.length} labels for a batch of ${x.shape[0]}`);
    return { x, labels };
  }

  private stepOn(x: Tensor, labels: Int32Array): StepResult {
    const o = this.options;
    const n = x.shape[0]!;
    this.batchSize ??= n;
    const epoch = this.epochAt();
    const plan = stepPlan(o.method, epoch, o.finetuneFraction * (o.epochs ?? Infinity));
    this.model.train();
    const xAdv = plan.adversarial
      ? pgd(this.model, x, labels, {
        epsilon: o.epsilon, steps: o.attackSteps, stepSize: o.attackStepSize, norm: o.attackNorm, randomStart: o.randomStart,
        domain: plan.advDomain, bnMode: o.attackBnMode, target: o.attackTarget,
      })
      : null;
    const lr = this.currentLr();
    try {
      const parts = this.lossAndGrads(x, xAdv, labels, plan);
      parts.valueOwner.dispose();
      try {
        this.optimizer.lr = lr;
        this.optimizer.step(parts.grads);
        this.emaState?.update();
      } catch (e) {
        // No reads after a failure: on a failed GPU context they would throw and hide this error.
        disposePending(parts.value, parts.pending);
        throw e;
      } finally {
        for (const g of parts.grads) g.dispose();
      }
      const stats = this.readStats(parts.value, parts.pending, labels);
      this.stepCount++;
      return { step: this.stepCount, epoch, lr, ...stats };
    } finally {
      xAdv?.dispose();
    }
  }

  // Losses and predictions stay on the device until readStats, after the optimizer step is queued:
  // reading them inside the step would drain a GPU's queue between the forward and the backward.
  private lossAndGrads(x: Tensor, xAdv: Tensor | null, labels: Int32Array, plan: ReturnType<typeof stepPlan>) {
    const params = this.model.parameters();
    const pending: PendingStats = { cleanLoss: null, advLoss: null, cleanPred: null, advPred: null };
    let result: { value: Tensor; grads: Tensor[] };
    try {
      result = valueAndGrad(() => this.loss(x, xAdv, labels, plan, pending), params);
    } catch (e) {
      // The kept tensors are outside every tidy: a failed forward or backward must free them here.
      disposePending(null, pending);
      throw e;
    }
    const { value, grads } = result;
    return { grads, value: keep(value.detach()), pending, valueOwner: value };
  }

  // The step's loss on the clean and/or adversarial batch (one 2N forward when both), keeping
  // detached losses and argmax predictions in `pending` for readStats.
  private loss(x: Tensor, xAdv: Tensor | null, labels: Int32Array, plan: ReturnType<typeof stepPlan>, pending: PendingStats): Tensor {
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

  /** One host read per number, after everything of the step has been queued; frees the tensors. */
  private readStats(value: Tensor, p: PendingStats, labels: Int32Array) {
    const n = labels.length;
    const correct = (pred: Tensor | null): number | null => {
      if (!pred) return null;
      const h = pred.toArray() as Int32Array;
      let c = 0;
      for (let i = 0; i < n; i++) if (h[i] === labels[i]) c++;
      return c / n;
    };
    try {
      return {
        loss: value.item(),
        cleanLoss: p.cleanLoss ? p.cleanLoss.item() : null,
        advLoss: p.advLoss ? p.advLoss.item() : null,
        cleanAcc: correct(p.cleanPred),
        advAcc: correct(p.advPred),
      };
    } finally {
      disposePending(value, p);
    }
  }

  /** Writes the EMA weights and statistics into `target` (a model of the same architecture). */
  copyEmaTo(target: Module): void {
    if (!this.emaState) throw new AdvpropError('ERR_ARG', 'Trainer: EMA is off (ema: false)');
    this.emaState.copyTo([...target.parameters(), ...target.namedBuffers().map(([, b]) => b)]);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.emaState?.dispose();
  }
}

/** Clean top-1 accuracy and mean loss of `model` in eval mode over batches. */
export function evaluateBatches(model: Module, batches: Iterable<{ x: Tensor; y: Int32Array }>): { accuracy: number; loss: number; count: number } {
  model.eval();
  let correct = 0, count = 0, lossSum = 0;
  noGrad(() => {
    for (const b of batches) tidy(() => {
      const logits = model.forward(b.x);
      correct += accuracy(logits, b.y).correct;
      lossSum += crossEntropy(logits, b.y).item() * b.y.length;
      count += b.y.length;
    });
  });
  return { accuracy: count ? correct / count : 0, loss: count ? lossSum / count : 0, count };
}
