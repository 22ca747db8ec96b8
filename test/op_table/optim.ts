// The fused multi-tensor optimizer updates (native/*/optim.*): RMSProp, SGD with momentum and the
// EMA, each updating a list of tensors of unrelated awkward shapes in place in one call.
import * as ap from '../../lib/index.js';
import { entry, ELEMENTWISE, floats, fmt, type AnyEntry, type Case, type Input } from './table.js';

// The last spans several of the CUDA kernel's 4096-element work items.
const SHAPES = [[17], [3, 5, 7], [1031], [8209]];
const L = SHAPES.length;
const lists = (seed: number, ranges: [number, number][]): Input[] =>
  ranges.flatMap(([lo, hi], k) => SHAPES.map((s, i) => floats(s, seed + 10 * k + i, lo, hi)));
const groups = <T>(xs: T[]): T[][] => Array.from({ length: xs.length / L }, (_, k) => xs.slice(k * L, (k + 1) * L));
const label = (o: object): string => `${SHAPES.map(fmt).join(' ')} ${JSON.stringify(o)}`;

interface Rms { lr: number; rho: number; momentum: number; eps: number; weightDecay: number; decay?: boolean[] }
const RMS: Rms[] = [
  { lr: 0.05, rho: 0.9, momentum: 0.9, eps: 1e-3, weightDecay: 0.05, decay: [true, false, true, false] },
  { lr: 0.016, rho: 0.95, momentum: 0, eps: 1e-8, weightDecay: 0 },
];

interface Sgd { lr: number; momentum: number; nesterov: boolean; weightDecay: number; decay?: boolean[] }
const SGD: Sgd[] = [
  { lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0.1, decay: [false, true, true, true] },
  { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.1, decay: [true, true, false, true] },
  { lr: 0.25, momentum: 0, nesterov: false, weightDecay: 0 },
];

/** g + wd·p on the flagged tensors. */
const decayed = (g: Float64Array, p: Float64Array, wd: number, on: boolean | undefined): Float64Array => g.map((v, j) => v + (on ? wd * p[j] : 0));

export const OPTIM_ENTRIES: AnyEntry[] = [
  entry({
    name: 'rmspropUpdate',
    // params, grads, mean squares (> 0, as after the accumulator's start at 1) and momenta.
    cases: RMS.map((o, i): Case<Rms> => ({ label: label(o), inputs: lists(1500 + 50 * i, [[-2, 2], [-1, 1], [0.2, 1.5], [-0.1, 0.1]]), p: o })),
    ops: {
      'kernels.rmspropUpdate': (x, { p }) => {
        const [params, grads, ms, mom] = groups(x);
        ap.kernels.rmspropUpdate(params, grads, ms, mom, p);
        return [...params, ...ms, ...mom];
      },
    },
    // ms ← ρ·ms + (1−ρ)·g²; mom ← μ·mom + lr·g/√(ms + ε); p ← p − mom.
    reference: (xs, { p: o }) => {
      const [params, grads, ms, mom] = groups(xs).map((g) => g.map((a) => a.slice()));
      params.forEach((p, i) => {
        const g = decayed(grads[i], p, o.weightDecay, o.decay?.[i]);
        for (let j = 0; j < p.length; j++) {
          ms[i][j] = o.rho * ms[i][j] + (1 - o.rho) * g[j] * g[j];
          mom[i][j] = o.momentum * mom[i][j] + (o.lr * g[j]) / Math.sqrt(ms[i][j] + o.eps);
          p[j] -= mom[i][j];
        }
      });
      return [...params, ...ms, ...mom];
    },
    // A handful of roundings and one square root per element.
    tol: ELEMENTWISE,
    grad: false,
  }),
  entry({
    name: 'sgdUpdate',
    cases: SGD.map((o, i): Case<Sgd> => ({ label: label(o), inputs: lists(1600 + 50 * i, [[-2, 2], [-1, 1], [-0.5, 0.5]]), p: o })),
    ops: {
      'kernels.sgdUpdate': (x, { p }) => {
        const [params, grads, bufs] = groups(x);
        ap.kernels.sgdUpdate(params, grads, bufs, p);
        return [...params, ...bufs];
      },
    },
    // buf ← μ·buf + g; p ← p − lr·(nesterov ? g + μ·buf : buf).
    reference: (xs, { p: o }) => {
      const [params, grads, bufs] = groups(xs).map((g) => g.map((a) => a.slice()));
      params.forEach((p, i) => {
        const g = decayed(grads[i], p, o.weightDecay, o.decay?.[i]);
        for (let j = 0; j < p.length; j++) {
          bufs[i][j] = o.momentum * bufs[i][j] + g[j];
          p[j] -= o.lr * (o.nesterov ? g[j] + o.momentum * bufs[i][j] : bufs[i][j]);
        }
      });
      return [...params, ...bufs];
    },
    tol: ELEMENTWISE,
    grad: false,
  }),
  entry({
    name: 'emaUpdate',
    cases: [0.9999, 0.5, 0].map((decay, i): Case<number> => ({ label: label({ decay }), inputs: lists(1700 + 50 * i, [[-2, 2], [-2, 2]]), p: decay })),
    ops: {
      'kernels.emaUpdate': (x, { p }) => {
        const [emas, sources] = groups(x);
        ap.kernels.emaUpdate(emas, sources, p);
        return emas;
      },
    },
    // ema ← d·ema + (1−d)·source.
    reference: (xs, { p: d }) => {
      const [emas, sources] = groups(xs);
      return emas.map((e, i) => e.map((v, j) => d * v + (1 - d) * sources[i][j]));
    },
    tol: ELEMENTWISE,
    grad: false,
  }),
];
