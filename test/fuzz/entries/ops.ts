// The differentiable ops of ap.*: each call runs the forward and, for a valid graph, sometimes a
// backward through it, so the gradient rules see the same bad shapes the forward accepted.
import * as ap from '../../../lib/index.js';
import { entry, NHWC, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';

/** Runs the op; when its output can be differentiated, half the time a backward through it. */
export function withBackward(g: Gen, f: () => unknown): () => unknown {
  const back = g.r.chance(0.5);
  return () => {
    const out = f();
    if (back && out instanceof ap.Tensor && out.requiresGrad && (out.dtype === 'f32' || out.dtype === 'f64')) {
      ap.tidy(() => ap.sum(ap.square(out)).backward());
    }
    return out;
  };
}

export const grad = (g: Gen): boolean => g.r.chance(0.6);
const operand = (g: Gen, shape: readonly number[]): ap.Tensor | number =>
  g.r.chance(0.3) ? g.num(1.5) : g.tensor(g.r.pick([shape, shape.slice(-1), []]), { grad: grad(g) });

const binary = (name: 'add' | 'sub' | 'mul' | 'div'): Entry => entry(name, (g) => {
  const s = g.r.pick(NHWC);
  const a = g.tensor(s, { grad: grad(g) });
  const b = operand(g, s);
  return withBackward(g, () => ap[name](a, b as ap.Tensor));
});

const unary = (name: 'neg' | 'silu' | 'sigmoid' | 'relu' | 'exp' | 'log' | 'square'): Entry => entry(name, (g) => {
  const x = g.tensor(g.r.pick(NHWC), { grad: grad(g), lo: 0.1, hi: 2 });
  return withBackward(g, () => ap[name](x));
});

const scalarOp = (name: 'scale' | 'mulScalar' | 'addScalar'): Entry => entry(name, (g) => {
  const x = g.tensor([2, 3], { grad: grad(g) });
  const a = g.num(0.5);
  return withBackward(g, () => ap[name](x, a));
});

export function bnParams(g: Gen, k: number, c: number): ap.MultiBatchNormParams {
  const p = {
    gamma: g.tensor([k, c], { grad: grad(g) }), beta: g.tensor([k, c], { grad: grad(g) }),
    runningMean: g.tensor([k, c]), runningVar: g.tensor([k, c], { lo: 0.5, hi: 1.5 }),
  };
  if (g.mutate()) {
    const keys = Object.keys(p) as (keyof typeof p)[];
    p[g.r.pick(keys)] = p[g.r.pick(keys)];
  }
  return g.mutate() ? g.wrongType() as ap.MultiBatchNormParams : p;
}

export function segments(g: Gen, n: number, k: number): ap.Segments {
  const valid: [number, number][] = n >= 2 && k >= 2 ? [[0, n - 1], [1, 1]] : [[0, n]];
  if (!g.mutate()) return valid;
  return g.r.pick<unknown>([
    [[0, n + 1]], [[k, n]], [[-1, n]], [[0, 0.5], [0, n - 0.5]], [], [[0]], 'all', [[0, NaN]], [[0, 2 ** 31]], null, [[0, n], [0, 0]],
  ]) as ap.Segments;
}

export const opEntries: Entry[] = [
  binary('add'), binary('sub'), binary('mul'), binary('div'),
  unary('neg'), unary('silu'), unary('sigmoid'), unary('relu'), unary('exp'), unary('log'), unary('square'),
  scalarOp('scale'), scalarOp('mulScalar'), scalarOp('addScalar'),
  entry('sum', (g) => { const x = g.tensor([2, 3, 4], { grad: grad(g) }); const ax = g.r.chance(0.5) ? g.index(1) : g.shape([0, 2]); const kd = g.bool(true); return withBackward(g, () => ap.sum(x, ax, kd)); }),
  entry('mean', (g) => { const x = g.tensor([2, 3], { grad: grad(g) }); const ax = g.r.chance(0.5) ? undefined : g.shape([-1]); return withBackward(g, () => ap.mean(x, ax)); }),
  entry('reshape', (g) => { const x = g.tensor([2, 6], { grad: grad(g) }); const s = g.shape(g.r.pick([[3, 4], [-1], [12, 1]])); return withBackward(g, () => ap.reshape(x, s)); }),
  entry('slice0', (g) => { const x = g.tensor([4, 3], { grad: grad(g) }); const a = g.index(1), b = g.index(2); return withBackward(g, () => ap.slice0(x, a, b)); }),
  entry('concat0', (g) => { const xs = g.tensors([[2, 3], [1, 3], [0, 3]], { grad: grad(g) }); return withBackward(g, () => ap.concat0(xs)); }),
  entry('cast', (g) => { const x = g.tensor([2, 3], { grad: grad(g) }); const d = g.dtype(g.r.pick(['f64', 'f32', 'i32'] as const)); return withBackward(g, () => ap.cast(x, d)); }),
  entry('to', (g) => { const x = g.tensor([2, 3], { grad: grad(g) }); const d = g.deviceName(g.otherDevice ?? 'cpu'); return withBackward(g, () => ap.to(x, d)); }),
  entry('clone', (g) => { const x = g.tensor([2, 3], { grad: grad(g) }); return withBackward(g, () => ap.clone(x)); }),
  entry('linear', (g) => {
    const x = g.tensor([3, 4], { grad: grad(g) }), w = g.tensor([5, 4], { grad: grad(g) });
    const b = g.r.chance(0.3) ? (g.r.chance(0.5) ? null : undefined) : g.tensor([5], { grad: grad(g) });
    return withBackward(g, () => ap.linear(x, w, b));
  }),
  entry('conv2d', (g) => {
    const [n, h, w, c] = g.r.pick(NHWC);
    const groups = g.r.chance(0.3) ? c : 1;
    const cout = groups === c ? c : 3;
    const k = g.r.pick([1, 3]);
    const x = g.tensor([n!, h!, w!, c!], { grad: grad(g) });
    const wt = g.tensor([cout, k, k, c! / groups], { grad: grad(g) });
    const o = g.r.chance(0.2) ? undefined : g.opts({
      stride: g.r.chance(0.5) ? g.size(2) : [g.size(1), g.size(2)], dilation: g.size(1), groups: g.size(groups),
      padding: g.r.pick<unknown>(['same', 'valid', [1, 0, 1, 0], g.str('same'), [g.size(1), 0, 0, 0]]),
      bias: g.r.chance(0.5) ? undefined : g.tensor([cout], { grad: grad(g) }),
    });
    return withBackward(g, () => ap.conv2d(x, wt, o as ap.Conv2dArgs));
  }),
  entry('globalAvgPool', (g) => { const x = g.tensor(g.r.pick(NHWC), { grad: grad(g) }); return withBackward(g, () => ap.globalAvgPool(x)); }),
  entry('channelScale', (g) => {
    const s = g.r.pick(NHWC);
    const x = g.tensor(s, { grad: grad(g) }), sc = g.tensor([s[0]!, s[3]!], { grad: grad(g) });
    return withBackward(g, () => ap.channelScale(x, sc));
  }),
  entry('squeezeExcite', (g) => {
    const s = g.r.pick(NHWC), c = s[3]!, r = 2;
    const x = g.tensor(s, { grad: grad(g) });
    const w1 = g.tensor([r, c], { grad: grad(g) }), b1 = g.tensor([r]), w2 = g.tensor([c, r], { grad: grad(g) }), b2 = g.tensor([c]);
    return withBackward(g, () => ap.squeezeExcite(x, w1, b1, w2, b2));
  }),
  entry('crossEntropy', (g) => {
    const n = g.r.pick([1, 3]), k = g.r.pick([1, 4]);
    const z = g.tensor([n, k], { grad: grad(g) });
    const y = g.labels(n, k);
    const o = g.r.chance(0.3) ? undefined : g.opts({ labelSmoothing: g.num(0.1), reduction: g.str(g.r.pick(['mean', 'none'] as const)) });
    return withBackward(g, () => ap.crossEntropy(z, y, o));
  }),
  entry('accuracy', (g) => { const z = g.tensor([3, 4]); const y = g.labels(3, 4); return () => ap.accuracy(z, y); }),
  entry('pgdStep', (g) => {
    const s = g.r.pick(NHWC);
    const xa = g.tensor(s, { lo: 0, hi: 1 }), gr = g.tensor(s), x = g.tensor(s, { lo: 0, hi: 1 });
    const eps = g.r.chance(0.7) ? g.num(0.03) : g.tensor([s[0]!]);
    const o = g.opts({ eps, alpha: g.num(0.01), min: g.num(0), max: g.num(1), norm: g.str(g.r.pick(['linf', 'l2'] as const)) });
    return () => ap.pgdStep(xa, gr, x, o);
  }),
  entry('pgdRandomStart', (g) => {
    const x = g.tensor(g.r.pick(NHWC), { lo: 0, hi: 1 });
    const o = g.opts({ eps: g.num(0.03), norm: g.str('linf' as const), ...(g.r.chance(0.5) ? { seed: g.num(3), offset: g.num(0) } : {}) });
    return () => ap.pgdRandomStart(x, o as ap.RandomStartOptions);
  }),
  entry('dropout', (g) => { const x = g.tensor([4, 3], { grad: grad(g) }); const r = g.num(0.3); return withBackward(g, () => ap.dropout(x, r, g.r.chance(0.5) ? undefined : g.opts({ seed: g.num(1) }))); }),
  entry('dropConnect', (g) => { const x = g.tensor(g.r.pick(NHWC), { grad: grad(g) }); const r = g.num(0.5); return withBackward(g, () => ap.dropConnect(x, r, g.r.chance(0.5) ? undefined : g.opts({ seed: g.num(1), offset: g.num(2) }))); }),
  entry('dropConnectAdd', (g) => {
    const s = g.r.pick(NHWC);
    const h = g.tensor(s, { grad: grad(g) }), res = g.tensor(s, { grad: grad(g) });
    const r = g.r.chance(0.3) ? 0 : g.num(0.2);
    return withBackward(g, () => ap.dropConnectAdd(h, res, r, g.r.chance(0.5) ? undefined : g.opts({ seed: g.num(4) })));
  }),
  entry('multiBatchNorm', (g) => {
    const s = g.r.pick(NHWC), k = g.r.pick([1, 2]);
    const x = g.tensor(s, { grad: grad(g) });
    const p = bnParams(g, k, s[3]!);
    const segs = segments(g, s[0]!, k);
    const o = g.r.chance(0.3) ? undefined : g.opts({
      mode: g.str(g.r.pick(['train', 'train-frozen', 'eval'] as const)), momentum: g.num(0.9), eps: g.num(1e-3), act: g.str(g.r.pick(['none', 'silu', 'relu'] as const)),
    });
    return withBackward(g, () => ap.multiBatchNorm(x, p, segs, o));
  }),
];
