// Projected gradient descent (Madry et al.) and FGSM against a model, in pixel space. As in
// AdvProp, ε and the step α are in units of 1/255 on images in [0, 1], the number of iterations
// defaults to ε + 1 (1 for ε = 1), and the attack runs through the auxiliary BN (domain 1) with
// that domain's batch statistics, left un-updated ('train-frozen'). Each iteration asks autograd
// for the image's gradient only, so no weight-gradient kernel runs.
import { grad } from '../autograd/engine.js';
import { AdvpropError } from '../errors.js';
import { nextKey } from '../random.js';
import { Rng } from '../data/rng.js';
import type { Tensor } from '../tensor.js';
import { neg } from '../ops/unary.js';
import { pgdRandomStart, pgdStep, type AttackNorm } from '../ops/attack.js';
import { clone } from '../ops/cast.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import type { BatchNormMode, Segments } from '../ops/multi_batch_norm.js';

export interface AttackModel {
  forward(x: Tensor, opts?: { segments?: Segments; bnMode?: BatchNormMode }): Tensor;
}

export interface PgdOptions {
  /** Radius in pixel units (of 255). */
  epsilon: number;
  /** Iterations; default ε + 1, or 1 when ε = 1 (the paper's rule). */
  steps?: number;
  /** Step size α in pixel units; default 1. */
  stepSize?: number;
  norm?: AttackNorm; // default 'linf'
  randomStart?: boolean; // default false
  /** The BN domain the attack runs through; default 1 (AdvProp's auxiliary BN). */
  domain?: number;
  /** 'train-frozen' (default): the domain's batch statistics, running ones untouched; 'eval': its running statistics. */
  bnMode?: Extract<BatchNormMode, 'train-frozen' | 'eval'>;
  /** 'true' (default): untargeted, away from the true label; 'random': towards a random wrong label. */
  target?: 'true' | 'random';
  min?: number; // default 0
  max?: number; // default 1
}

export function defaultSteps(epsilon: number): number {
  return epsilon === 1 ? 1 : Math.round(epsilon) + 1;
}

function checkOptions(o: PgdOptions, op: string): Required<Omit<PgdOptions, 'min' | 'max'>> & { min: number; max: number } {
  if (typeof o?.epsilon !== 'number' || !Number.isFinite(o.epsilon) || o.epsilon < 0)
    throw new AdvpropError('ERR_ARG', `${op}: epsilon must be a finite number ≥ 0 (pixel units of 255), got ${String(o?.epsilon)}`);
  const steps = o.steps ?? defaultSteps(o.epsilon);
  if (!Number.isInteger(steps) || steps < 0) throw new AdvpropError('ERR_ARG', `${op}: steps must be an integer ≥ 0, got ${steps}`);
  const stepSize = o.stepSize ?? 1;
  if (!(stepSize >= 0)) throw new AdvpropError('ERR_ARG', `${op}: stepSize must be ≥ 0, got ${stepSize}`);
  const target = o.target ?? 'true';
  if (target !== 'true' && target !== 'random') throw new AdvpropError('ERR_ARG', `${op}: target must be 'true' or 'random', got ${String(target)}`);
  const bnMode = o.bnMode ?? 'train-frozen';
  if (bnMode !== 'train-frozen' && bnMode !== 'eval') throw new AdvpropError('ERR_ARG', `${op}: bnMode must be 'train-frozen' or 'eval', got ${String(bnMode)}`);
  return {
    epsilon: o.epsilon, steps, stepSize, norm: o.norm ?? 'linf', randomStart: o.randomStart ?? false,
    domain: o.domain ?? 1, bnMode, target, min: o.min ?? 0, max: o.max ?? 1,
  };
}

function toLabels(y: Int32Array | readonly number[] | Tensor, n: number, op: string): Int32Array {
  const arr = y instanceof Int32Array ? y : Array.isArray(y) ? Int32Array.from(y) : Int32Array.from((y as Tensor).toArray() as ArrayLike<number>);
  if (arr.length !== n) throw new AdvpropError('ERR_SHAPE', `${op}: ${arr.length} labels for a batch of ${n}`);
  return arr;
}

/** Random wrong labels, drawn from the global key so a seeded run repeats. */
function randomWrongLabels(y: Int32Array, classes: number): Int32Array {
  const key = nextKey();
  const rng = new Rng(Number(key.seed & 0xffffffffn), Number(key.seed >> 32n), Number(key.offset & 0xffffffffn), Number(key.offset >> 32n));
  return y.map((l) => (l + 1 + rng.int(classes - 1)) % classes);
}

/** The adversarial images for x (labels y); a new tensor, x is untouched. */
export function pgd(model: AttackModel, x: Tensor, y: Int32Array | readonly number[] | Tensor, opts: PgdOptions): Tensor {
  const o = checkOptions(opts, 'pgd');
  const n = x.shape[0]!;
  let labels = toLabels(y, n, 'pgd');
  const segments: Segments = [[o.domain, n]];
  const eps = o.epsilon / 255, alpha = o.stepSize / 255;
  let xAdv = o.randomStart && eps > 0 ? pgdRandomStart(x, { eps, norm: o.norm, min: o.min, max: o.max }) : x;
  for (let i = 0; i < o.steps; i++) {
    const current = xAdv;
    const [g] = grad(() => {
      const logits = model.forward(current, { segments, bnMode: o.bnMode });
      if (i === 0 && o.target === 'random') labels = randomWrongLabels(labels, logits.shape[1]!);
      return crossEntropy(logits, labels);
    }, [current]);
    // A targeted attack descends the loss of the wrong label.
    const dir = o.target === 'random' ? neg(g!) : g!;
    xAdv = pgdStep(current, dir, x, { eps, alpha, min: o.min, max: o.max, norm: o.norm });
    if (dir !== g) dir.dispose();
    g!.dispose();
    if (current !== x) current.dispose();
  }
  return xAdv === x ? clone(x) : xAdv;
}

/** One step of size ε from x (Goodfellow et al.). */
export function fgsm(model: AttackModel, x: Tensor, y: Int32Array | readonly number[] | Tensor, opts: Omit<PgdOptions, 'steps' | 'stepSize' | 'randomStart'>): Tensor {
  return pgd(model, x, y, { ...opts, steps: 1, stepSize: opts.epsilon, randomStart: false });
}

