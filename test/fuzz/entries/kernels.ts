// The raw kernels of ap.kernels.*: no tape, so every argument goes straight to the addon's checks.
import * as ap from '../../../lib/index.js';
import { entry, NHWC, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';
import { segments } from './ops.js';

const k = ap.kernels;
const conv = (g: Gen): ap.kernels.Conv2dOptions | undefined => (g.r.chance(0.3) ? undefined : g.opts({
  stride: g.size(1), dilation: g.r.chance(0.5) ? g.size(1) : [1, g.size(2)] as [number, number], groups: g.size(1),
  padding: g.r.pick<unknown>(['same', 'valid', [0, 1, 0, 1], g.str('valid')]) as 'same',
}));
const UNARY = ['scale', 'addScalar', 'silu', 'sigmoid', 'relu', 'exp', 'log', 'square', 'neg'] as const;

const un = (name: 'neg' | 'silu' | 'sigmoid' | 'relu' | 'exp' | 'log' | 'square'): Entry =>
  entry(`kernels.${name}`, (g) => { const x = g.tensor(g.r.pick(NHWC)); return () => k[name](x); });
const unB = (name: 'siluBackward' | 'sigmoidBackward' | 'reluBackward' | 'expBackward' | 'logBackward' | 'squareBackward'): Entry =>
  entry(`kernels.${name}`, (g) => { const s = g.r.pick(NHWC); const x = g.tensor(s), dy = g.tensor(s); return () => k[name](x, dy); });
const bin = (name: 'add' | 'sub' | 'mul' | 'div'): Entry =>
  entry(`kernels.${name}`, (g) => { const s = g.r.pick(NHWC); const a = g.tensor(s), b = g.tensor(g.r.pick([s, s.slice(-1), []])); return () => k[name](a, b); });

function bnRaw(g: Gen, s: readonly number[], kd: number): ap.MultiBatchNormParams {
  const c = s[3]!;
  const p = { gamma: g.tensor([kd, c]), beta: g.tensor([kd, c]), runningMean: g.tensor([kd, c]), runningVar: g.tensor([kd, c], { lo: 0.5, hi: 2 }) };
  if (g.mutate()) {
    const keys = Object.keys(p) as (keyof typeof p)[];
    p[g.r.pick(keys)] = p[g.r.pick(keys)];
  }
  return g.mutate() ? g.wrongType() as ap.MultiBatchNormParams : p;
}

const bnOpts = (g: Gen): ap.MultiBatchNormOptions | undefined => (g.r.chance(0.3) ? undefined : g.opts({
  mode: g.str(g.r.pick(['train', 'train-frozen', 'eval'] as const)), act: g.str(g.r.pick(['none', 'silu', 'relu'] as const)), momentum: g.num(0.5), eps: g.num(1e-3),
}));

/** Lists for the fused optimizer kernels: one entry per shape, aliasing and length mismatches as mutations. */
function lists(g: Gen, count: number): ap.Tensor[][] {
  const shapes = [[2, 3], [4]].slice(0, 1 + g.r.int(2));
  const out = Array.from({ length: count }, () => g.tensors(shapes));
  if (g.mutate()) out[g.r.int(count)] = out[g.r.int(count)]!;
  return out;
}

export const kernelEntries: Entry[] = [
  entry('kernels.fill', (g) => { const s = g.shape([2, 3]); const v = g.num(1); return () => k.fill(s, v, g.dtype('f32'), g.deviceName()); }),
  entry('kernels.uniform', (g) => () => k.uniform(g.shape([3]), g.dtype('f32'), g.deviceName(), g.num(1), g.num(0), g.num(0), g.num(1))),
  entry('kernels.normal', (g) => () => k.normal(g.shape([3]), g.dtype('f64'), g.deviceName(), g.num(1), g.num(2), g.num(0), g.num(1))),
  entry('kernels.clone', (g) => { const x = g.tensor([2]); return () => k.clone(x); }),
  entry('kernels.toDevice', (g) => { const x = g.tensor([2]); const d = g.deviceName(g.otherDevice ?? 'cpu'); return () => k.toDevice(x, d); }),
  entry('kernels.cast', (g) => { const x = g.tensor([2]); const d = g.dtype('i32'); return () => k.cast(x, d); }),
  entry('kernels.binary', (g) => { const a = g.tensor([2, 3]), b = g.tensor([3]); const op = g.str('mul' as const); return () => k.binary(op, a, b); }),
  bin('add'), bin('sub'), bin('mul'), bin('div'),
  entry('kernels.unary', (g) => { const x = g.tensor([2, 3]); const op = g.str(g.r.pick(UNARY)); const a = g.num(2); return () => k.unary(op, x, a); }),
  entry('kernels.unaryBackward', (g) => { const x = g.tensor([2, 3]), dy = g.tensor([2, 3]); const op = g.str(g.r.pick(UNARY)); return () => k.unaryBackward(op, x, dy, g.num(1)); }),
  entry('kernels.scale', (g) => { const x = g.tensor([2]); const a = g.num(3); return () => k.scale(x, a); }),
  entry('kernels.addScalar', (g) => { const x = g.tensor([2]); const a = g.num(3); return () => k.addScalar(x, a); }),
  un('neg'), un('silu'), un('sigmoid'), un('relu'), un('exp'), un('log'), un('square'),
  unB('siluBackward'), unB('sigmoidBackward'), unB('reluBackward'), unB('expBackward'), unB('logBackward'), unB('squareBackward'),
  entry('kernels.sum', (g) => { const x = g.tensor([2, 3, 4]); const ax = g.r.chance(0.5) ? g.index(-1) : g.shape([0, 1]); return () => k.sum(x, ax, g.bool(false)); }),
  entry('kernels.mean', (g) => { const x = g.tensor([2, 3]); const ax = g.shape([1]); return () => k.mean(x, ax, g.bool(true)); }),
  entry('kernels.sumToShape', (g) => { const x = g.tensor([2, 3]); const s = g.shape(g.r.pick([[3], [2, 3], [], [1, 3]])); return () => k.sumToShape(x, s); }),
  entry('kernels.normalizeAxes', (g) => { const ax = g.r.chance(0.5) ? g.index(1) : g.shape([0, -1]); const rank = g.size(3); return () => k.normalizeAxes(ax, rank, 'fuzz'); }),
  entry('kernels.sumBackward', (g) => { const dy = g.tensor([2]); const s = g.shape([2, 3]); const ax = g.shape([1]); return () => k.sumBackward(dy, s, ax, g.bool(false)); }),
  entry('kernels.reshape', (g) => { const x = g.tensor([2, 3]); const s = g.shape([3, -1]); return () => k.reshape(x, s); }),
  entry('kernels.slice0', (g) => { const x = g.tensor([4, 2]); return () => k.slice0(x, g.index(1), g.index(3)); }),
  entry('kernels.concat0', (g) => { const xs = g.tensors([[1, 2], [3, 2]]); return () => k.concat0(xs); }),
  entry('kernels.slice0Backward', (g) => { const dy = g.tensor([2, 3]); return () => k.slice0Backward(dy, g.index(5), g.index(1)); }),
  entry('kernels.linear', (g) => { const x = g.tensor([3, 4]), w = g.tensor([2, 4]); const b = g.r.chance(0.5) ? null : g.tensor([2]); return () => k.linear(x, w, b); }),
  entry('kernels.linearBackwardInput', (g) => { const dy = g.tensor([3, 2]), w = g.tensor([2, 4]); return () => k.linearBackwardInput(dy, w); }),
  entry('kernels.linearBackwardWeight', (g) => { const dy = g.tensor([3, 2]), x = g.tensor([3, 4]); return () => k.linearBackwardWeight(dy, x); }),
  entry('kernels.normalizeConv', (g) => { const o = conv(g); return () => k.normalizeConv(o, 'fuzz'); }),
  entry('kernels.conv2d', (g) => {
    const s = g.r.pick(NHWC);
    const x = g.tensor(s), w = g.tensor([2, 3, 3, s[3]!]);
    const b = g.r.chance(0.5) ? null : g.tensor([2]);
    return () => k.conv2d(x, w, b, conv(g));
  }),
  entry('kernels.conv2dBnEval', (g) => {
    const s = g.r.pick(NHWC), kd = g.r.pick([1, 2]);
    const x = g.tensor(s), w = g.tensor([s[3]!, 1, 1, s[3]!]);
    const p = bnRaw(g, [0, 0, 0, s[3]!], kd);
    const r = g.r.chance(0.5) ? null : g.tensor(s);
    const bn = g.mutate() ? p : { ...p, domain: g.index(kd), eps: g.num(1e-3), act: g.str(g.r.pick(['none', 'silu', 'relu'] as const)) };
    return () => k.conv2dBnEval(x, w, bn as ap.kernels.Conv2dBnEvalParams, r, conv(g));
  }),
  entry('kernels.conv2dBackwardInput', (g) => {
    const s = g.r.pick(NHWC);
    const dy = g.tensor([s[0]!, s[1]!, s[2]!, 2]), w = g.tensor([2, 1, 1, s[3]!]);
    return () => k.conv2dBackwardInput(dy, w, g.shape(s), conv(g));
  }),
  entry('kernels.conv2dBackwardWeight', (g) => {
    const s = g.r.pick(NHWC);
    const dy = g.tensor([s[0]!, s[1]!, s[2]!, 2]), x = g.tensor(s);
    return () => k.conv2dBackwardWeight(dy, x, g.shape([2, 1, 1, s[3]!]), conv(g));
  }),
  entry('kernels.globalAvgPool', (g) => { const x = g.tensor(g.r.pick(NHWC)); return () => k.globalAvgPool(x); }),
  entry('kernels.globalAvgPoolBackward', (g) => { const s = g.r.pick(NHWC); const dy = g.tensor([s[0]!, s[3]!]); return () => k.globalAvgPoolBackward(dy, g.shape(s)); }),
  entry('kernels.channelScale', (g) => { const s = g.r.pick(NHWC); const x = g.tensor(s), sc = g.tensor([s[0]!, s[3]!]); return () => k.channelScale(x, sc); }),
  entry('kernels.channelScaleAdd', (g) => { const s = g.r.pick(NHWC); const x = g.tensor(s), sc = g.tensor([s[0]!, s[3]!]), b = g.tensor([s[0]!, s[3]!]); return () => k.channelScaleAdd(x, sc, b); }),
  entry('kernels.channelScaleBackward', (g) => {
    const s = g.r.pick(NHWC);
    const x = g.tensor(s), sc = g.tensor([s[0]!, s[3]!]), dy = g.tensor(s);
    const need = g.r.chance(0.3) ? undefined : g.opts({ dx: g.bool(true), ds: g.bool(false) });
    return () => k.channelScaleBackward(x, sc, dy, need);
  }),
  entry('kernels.crossEntropyForward', (g) => {
    const z = g.tensor([3, 4]); const y = g.tensor([3], { dtype: 'i32', ints: 4 });
    return () => k.crossEntropyForward(z, y, g.num(0.1), g.bool(true));
  }),
  entry('kernels.crossEntropyBackward', (g) => {
    const z = g.tensor([3, 4]), y = g.tensor([3], { dtype: 'i32', ints: 4 }), lse = g.tensor([3]), dy = g.tensor(g.r.pick([[3], []]));
    return () => k.crossEntropyBackward(z, y, lse, dy, g.num(1), g.num(0.1));
  }),
  entry('kernels.argmax', (g) => { const z = g.tensor([3, 4]); return () => k.argmax(z); }),
  entry('kernels.pgdStep', (g) => {
    const s = g.r.pick(NHWC);
    const xa = g.tensor(s), gr = g.tensor(s), x = g.tensor(s);
    return () => k.pgdStep(xa, gr, x, g.opts({ eps: g.r.chance(0.8) ? g.num(0.1) : g.tensor([s[0]!]), alpha: g.num(0.05), norm: g.str('l2' as const) }));
  }),
  entry('kernels.pgdRandomStart', (g) => {
    const x = g.tensor(g.r.pick(NHWC));
    return () => k.pgdRandomStart(x, g.opts({ eps: g.num(0.1), seed: g.num(5), offset: g.num(0), min: g.num(0), max: g.num(1) }));
  }),
  entry('kernels.dropoutMask', (g) => { const x = g.tensor([3, 4]); return () => k.dropoutMask(x, g.num(0.5), g.num(1), g.num(0)); }),
  entry('kernels.dropConnectMask', (g) => { const x = g.tensor([3, 4]); return () => k.dropConnectMask(x, g.num(0.5), g.num(1), g.num(0)); }),
  entry('kernels.dropConnectAdd', (g) => { const h = g.tensor([3, 4]), r = g.tensor([3, 4]); return () => k.dropConnectAdd(h, r, g.num(0.5), g.num(2), g.num(0)); }),
  entry('kernels.normalizeImage', (g) => {
    const s = g.r.pick(NHWC), c = s[3]!;
    const x = g.tensor(s, { dtype: 'u8' });
    const o = g.r.chance(0.3) ? undefined : g.opts({
      mean: g.r.chance(0.5) ? g.num(0.5) : Array.from({ length: c }, () => g.num(0.4)),
      std: g.r.chance(0.5) ? g.num(0.25) : Array.from({ length: c }, () => g.num(2)),
      dtype: g.dtype(g.r.pick(['f32', 'bf16', 'f16'] as const)),
    });
    return () => k.normalizeImage(x, o);
  }),
  entry('kernels.normalizeBatchNormOptions', (g) => { const o = bnOpts(g); return () => k.normalizeBatchNormOptions(o, 'fuzz'); }),
  entry('kernels.checkSegments', (g) => { const s = segments(g, 3, 2); return () => k.checkSegments(s, 'fuzz'); }),
  entry('kernels.multiBatchNorm', (g) => {
    const s = g.r.pick(NHWC), kd = g.r.pick([1, 2]);
    const x = g.tensor(s), p = bnRaw(g, s, kd);
    return () => k.multiBatchNorm(x, p, segments(g, s[0]!, kd), bnOpts(g));
  }),
  entry('kernels.multiBatchNormBackward', (g) => {
    const s = g.r.pick(NHWC), kd = 2;
    const x = g.tensor(s), dy = g.tensor(s), p = bnRaw(g, s, kd);
    const segs = segments(g, s[0]!, kd);
    const ns = Array.isArray(segs) ? segs.length : 1;
    const mean = g.tensor([ns, s[3]!]), invstd = g.tensor([ns, s[3]!], { lo: 0.5, hi: 2 });
    return () => k.multiBatchNormBackward(dy, x, p, mean, invstd, segs, bnOpts(g));
  }),
  entry('kernels.rmspropUpdate', (g) => {
    const [p, gr, ms, mom] = lists(g, 4);
    const decay = g.r.chance(0.5) || !Array.isArray(p) ? undefined : p.map(() => g.bool(true));
    const o = g.opts({ lr: g.num(0.01), rho: g.num(0.9), momentum: g.num(0.9), eps: g.num(1e-3), weightDecay: g.num(0), decay });
    return () => k.rmspropUpdate(p!, gr!, ms!, mom!, o);
  }),
  entry('kernels.sgdUpdate', (g) => {
    const [p, gr, b] = lists(g, 3);
    const o = g.opts({ lr: g.num(0.1), momentum: g.num(0.9), nesterov: g.bool(true), weightDecay: g.num(1e-4) });
    return () => k.sgdUpdate(p!, gr!, b!, o);
  }),
  entry('kernels.emaUpdate', (g) => { const [e, s] = lists(g, 2); return () => k.emaUpdate(e!, s!, g.num(0.99)); }),
];
