// Projected gradient descent (Madry et al.) and FGSM against a model, in pixel space. As in
// AdvProp, ε and the step α are in units of 1/255 on images in [0, 1], the number of iterations
// defaults to ε + 1 (1 for ε = 1), and the attack runs through the auxiliary BN (domain 1) with
// that domain's batch statistics, left un-updated ('train-frozen'). Each iteration asks autograd
// for the image's gradient only, so no weight-gradient kernel runs.
import { grad } from '../autograd/engine.js';
import { AdvpropError } from '../errors.js';
import { nextKey } from '../random.js';
import { Rng } from '../data/rng.js';
import { checkTensor, isTensor, type Tensor } from '../tensor.js';
import { describeValue } from '../device.js';
import { opNames } from '../native.js';
import { LIMITS, boolArg, intArg, numArg, objectArg, oneOfArg } from '../args.js';
import { mulScalar, neg } from '../ops/unary.js';
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
  /**
   * Multiplies the loss whose gradient drives the attack (default 1): fp16 loss scaling, so that
   * the image gradient does not underflow f16 on its way back through the network. The step's
   * direction (the gradient's sign for linf, its direction for l2) does not depend on it.
   */
  lossScale?: number;
}

export function defaultSteps(epsilon: number): number {
  numArg(epsilon, 'defaultSteps', 'epsilon', 0, 255);
  return epsilon === 1 ? 1 : Math.round(epsilon) + 1;
}

function checkOptions(options: PgdOptions, op: string): Required<Omit<PgdOptions, 'min' | 'max' | 'lossScale'>> & { min: number; max: number; lossScale: number } {
  const o = objectArg<PgdOptions>(options, op, 'options', '{ epsilon, ... }');
  // ε and α in pixel units of 255: more than 255 cannot change an image in [0, 1].
  const epsilon = numArg(o.epsilon, op, 'epsilon', 0, 255);
  return {
    epsilon,
    steps: intArg(o.steps ?? defaultSteps(epsilon), op, 'steps', 0, LIMITS.attackSteps),
    stepSize: numArg(o.stepSize ?? 1, op, 'stepSize', 0, 255),
    norm: oneOfArg(o.norm ?? 'linf', op, 'norm', opNames().attackNorm),
    randomStart: boolArg(o.randomStart ?? false, op, 'randomStart'),
    domain: intArg(o.domain ?? 1, op, 'domain', 0, LIMITS.domains - 1),
    bnMode: oneOfArg(o.bnMode ?? 'train-frozen', op, 'bnMode', ['train-frozen', 'eval'] as const),
    target: oneOfArg(o.target ?? 'true', op, 'target', ['true', 'random'] as const),
    min: numArg(o.min ?? 0, op, 'min'),
    max: numArg(o.max ?? 1, op, 'max'),
    lossScale: numArg(o.lossScale ?? 1, op, 'lossScale', 0, Infinity, { min: true }),
  };
}

// Host labels, or an i32 [n] tensor kept on its device when nothing needs them on the host (a
// true-label attack: crossEntropy takes them as they are, so a CUDA graph can capture the attack).
function toLabels(y: Int32Array | readonly number[] | Tensor, n: number, op: string, host: boolean): Int32Array | Tensor {
  let arr: Int32Array;
  if (y instanceof Int32Array) arr = y;
  else if (Array.isArray(y)) arr = Int32Array.from(y.map((v, i) => intArg(v, op, `y[${i}]`, 0, 2 ** 31 - 1)));
  else if (isTensor(y) && checkTensor(y, op, 'y').dtype === 'i32') {
    if (y.rank !== 1 || y.shape[0] !== n) throw new AdvpropError('ERR_SHAPE', `${op}: labels [${y.shape.join(', ')}] must be [${n}] for a batch of ${n}`);
    if (!host) return y;
    arr = y.toArray() as Int32Array;
  } else throw new AdvpropError('ERR_ARG', `${op}: labels must be an Int32Array, an array of numbers or an i32 tensor, got ${isTensor(y) ? `${y.dtype} [${y.shape.join(', ')}]` : describeValue(y)}`);
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
  return attack('pgd', model, x, y, opts);
}

function attack(op: string, model: AttackModel, x: Tensor, y: Int32Array | readonly number[] | Tensor, opts: PgdOptions): Tensor {
  if (typeof (model as { forward?: unknown } | null)?.forward !== 'function')
    throw new AdvpropError('ERR_ARG', `${op}: model must have a forward(x, opts) method (an nn.Module), got ${describeValue(model)}`);
  checkTensor(x, op, 'x');
  if (x.rank < 1) throw new AdvpropError('ERR_SHAPE', `${op}: x must have a batch dimension, got []`);
  const o = checkOptions(opts, op);
  const n = x.shape[0]!;
  let labels = toLabels(y, n, op, o.target === 'random');
  const segments: Segments = [[o.domain, n]];
  const eps = o.epsilon / 255, alpha = o.stepSize / 255;
  let xAdv = o.randomStart && eps > 0 ? pgdRandomStart(x, { eps, norm: o.norm, min: o.min, max: o.max }) : x;
  for (let i = 0; i < o.steps; i++) {
    const current = xAdv;
    let g: Tensor | undefined, dir: Tensor | undefined;
    try {
      [g] = grad(() => {
        const logits = model.forward(current, { segments, bnMode: o.bnMode });
        if (i === 0 && o.target === 'random') labels = randomWrongLabels(labels as Int32Array, logits.shape[1]!);
        const loss = crossEntropy(logits, labels);
        return o.lossScale === 1 ? loss : mulScalar(loss, o.lossScale);
      }, [current]);
      // A targeted attack descends the loss of the wrong label.
      dir = o.target === 'random' ? neg(g!) : g!;
      xAdv = pgdStep(current, dir, x, { eps, alpha, min: o.min, max: o.max, norm: o.norm });
    } finally {
      if (dir !== g) dir?.dispose();
      g?.dispose();
      // The iterate is ours (x is the caller's): freed on success and on failure alike.
      if (current !== x) current.dispose();
    }
  }
  return xAdv === x ? clone(x) : xAdv;
}

/** One step of size ε from x (Goodfellow et al.). */
export function fgsm(model: AttackModel, x: Tensor, y: Int32Array | readonly number[] | Tensor, opts: Omit<PgdOptions, 'steps' | 'stepSize' | 'randomStart'>): Tensor {
  const o = objectArg<PgdOptions>(opts, 'fgsm', 'options', '{ epsilon, ... }');
  return attack('fgsm', model, x, y, { ...o, steps: 1, stepSize: o.epsilon, randomStart: false });
}

