// Reductions (native/*/reduce.*: sum and mean over any axis set, sumToShape, sumBackward) and the
// batch-axis shape ops (reshape and slice0 views, concat0, slice0Backward).
import * as ap from '../../lib/index.js';
import { numel } from '../helpers.js';
import { entry, EXACT, F64_ACCUMULATED, floats, fmt, type AnyEntry, type Case } from './table.js';

/** Strides of a row-major shape. */
const strides = (shape: readonly number[]): number[] => shape.map((_, i) => numel(shape.slice(i + 1)));

/** For each element of `shape`, its index in `target` aligned at the right, size-1 target dims collapsed. */
function collapseIndex(shape: readonly number[], target: readonly number[]): Int32Array {
  const st = strides(shape), tt = strides(target), off = shape.length - target.length;
  return Int32Array.from({ length: numel(shape) }, (_, i) => {
    let j = 0;
    for (let d = off; d < shape.length; d++) {
      const k = Math.floor(i / st[d]) % shape[d];
      if (target[d - off] !== 1) j += k * tt[d - off];
    }
    return j;
  });
}

/** The shape a reduction over `axes` keeps (1 on reduced axes). */
const keptShape = (shape: number[], axes: number[]): number[] => shape.map((s, i) => (axes.length === 0 || axes.includes(i) ? 1 : s));

function sumTo(x: Float64Array, shape: number[], target: number[], scale = 1): Float64Array {
  const out = new Float64Array(numel(target));
  collapseIndex(shape, target).forEach((j, i) => { out[j] += x[i]; });
  return out.map((v) => v * scale);
}

interface Red { axes: number[]; keep: boolean }
const RED_CASES: Case<Red>[] = ([
  [[3, 7, 5, 13], [], false], [[3, 7, 5, 13], [1, 2], true], [[3, 7, 5, 13], [3], false], [[3, 7, 5, 13], [0, 2], false],
  [[2, 9, 11, 17], [0, 1, 2], false], [[1031], [0], true], [[5, 1, 7], [0], false],
  [[3, 1031, 37], [1], false], [[5, 4099], [], false],
] as [number[], number[], boolean][]).map(([s, axes, keep], i) => ({
  label: `${fmt(s)} over ${fmt(axes)}${keep ? ' keepdims' : ''}`, inputs: [floats(s, 60 + i, -2, 2)], p: { axes, keep },
}));
const count = (c: Case<Red>): number => numel(c.inputs[0].shape) / numel(keptShape(c.inputs[0].shape, c.p.axes));

interface ToShape { target: number[] }
const TO_SHAPE: Case<ToShape>[] = ([[[2, 5, 3, 17], [17]], [[2, 5, 3, 17], [1, 3, 17]], [[1031], []], [[7, 13], [7, 13]]] as [number[], number[]][])
  .map(([s, target], i) => ({ label: `${fmt(s)} to ${fmt(target)}`, inputs: [floats(s, 70 + i, -2, 2)], p: { target } }));

interface Back { xShape: number[]; axes: number[]; mean: boolean }
const BACK: Case<Back>[] = ([[[3, 7, 5, 13], [1, 2], true], [[3, 7, 5, 13], [], false], [[2, 9, 11, 17], [0, 1, 2], true], [[1031], [0], false]] as [number[], number[], boolean][])
  .map(([xShape, axes, mean], i) => ({
    label: `to ${fmt(xShape)} over ${fmt(axes)}${mean ? ' mean' : ''}`, inputs: [floats(keptShape(xShape, axes), 80 + i, -2, 2)], p: { xShape, axes, mean },
  }));

interface Slice { start: number; length: number }
const SLICES: Case<Slice>[] = ([[[7, 3, 5], 2, 4], [[1031], 1030, 1], [[5, 17], 0, 5]] as [number[], number, number][])
  .map(([s, start, length], i) => ({ label: `${fmt(s)} rows ${start}+${length}`, inputs: [floats(s, 90 + i)], p: { start, length } }));

export const REDUCE_SHAPE_ENTRIES: AnyEntry[] = [
  ...(['sum', 'mean'] as const).map((name) => entry({
    name,
    cases: RED_CASES,
    ops: name === 'sum'
      ? { sum: (x, c) => ap.sum(x[0], c.p.axes, c.p.keep), 'kernels.sum': (x, c) => ap.kernels.sum(x[0], c.p.axes, c.p.keep) }
      : { mean: (x, c) => ap.mean(x[0], c.p.axes, c.p.keep), 'kernels.mean': (x, c) => ap.kernels.mean(x[0], c.p.axes, c.p.keep) },
    reference: ([x], c) => {
      const s = c.inputs[0].shape;
      return [sumTo(x, s, keptShape(s, c.p.axes), name === 'mean' ? 1 / count(c) : 1)];
    },
    // The reduce kernels accumulate in double on every backend and round once (to bf16/f16 too).
    tol: F64_ACCUMULATED,
    half: F64_ACCUMULATED,
    grad: {},
  })),
  entry({
    name: 'sumToShape',
    cases: TO_SHAPE,
    ops: { 'kernels.sumToShape': (x, c) => ap.kernels.sumToShape(x[0], c.p.target) },
    reference: ([x], c) => [sumTo(x, c.inputs[0].shape, c.p.target)],
    tol: F64_ACCUMULATED,
    half: F64_ACCUMULATED,
    grad: false,
  }),
  entry({
    name: 'sumBackward',
    cases: BACK,
    ops: { 'kernels.sumBackward': (x, c) => ap.kernels.sumBackward(x[0], c.p.xShape, c.p.axes, c.p.mean) },
    // dy · (1/count), the scale and the product in double and one rounding, as the kernel does.
    reference: ([dy], c) => {
      const kept = keptShape(c.p.xShape, c.p.axes);
      const scale = c.p.mean ? 1 / (numel(c.p.xShape) / numel(kept)) : 1;
      return [Float64Array.from(collapseIndex(c.p.xShape, kept), (j) => scale * dy[j])];
    },
    tol: EXACT,
    half: EXACT, // the double product rounded once to 16 bits
    grad: false,
  }),
  entry({
    name: 'reshape',
    cases: ([[[3, 7, 5, 13], [21, -1]], [[1031], [1, 1031, 1]], [[2, 1, 17], [34]]] as [number[], number[]][])
      .map(([s, to], i) => ({ label: `${fmt(s)} to ${fmt(to)}`, inputs: [floats(s, 95 + i)], p: to })),
    ops: { reshape: (x, c) => ap.reshape(x[0], c.p), 'kernels.reshape': (x, c) => ap.kernels.reshape(x[0], c.p) },
    reference: ([x]) => [x],
    tol: EXACT,
    half: EXACT, // bytes moved, zeros filled: any storage dtype
    grad: {},
  }),
  entry({
    name: 'slice0',
    cases: SLICES,
    ops: {
      slice0: (x, c) => ap.slice0(x[0], c.p.start, c.p.length),
      'kernels.slice0': (x, c) => ap.kernels.slice0(x[0], c.p.start, c.p.length),
    },
    reference: ([x], c) => {
      const row = x.length / c.inputs[0].shape[0];
      return [x.slice(c.p.start * row, (c.p.start + c.p.length) * row)];
    },
    tol: EXACT,
    half: EXACT, // bytes moved, zeros filled: any storage dtype
    grad: {},
  }),
  entry({
    name: 'slice0Backward',
    cases: ([[[3, 5, 7], 7, 2], [[1], 1031, 1030], [[5, 17], 5, 0]] as [number[], number, number][])
      .map(([s, rows, start], i) => ({ label: `${fmt(s)} into ${rows} rows at ${start}`, inputs: [floats(s, 99 + i)], p: { rows, start } })),
    ops: { 'kernels.slice0Backward': (x, c) => ap.kernels.slice0Backward(x[0], c.p.rows, c.p.start) },
    reference: ([dy], c) => {
      const row = dy.length / c.inputs[0].shape[0];
      const out = new Float64Array(c.p.rows * row);
      out.set(dy, c.p.start * row);
      return [out];
    },
    tol: EXACT,
    half: EXACT, // bytes moved, zeros filled: any storage dtype
    grad: false,
  }),
  entry({
    name: 'concat0',
    cases: [
      { label: '[1,3,5] [2,3,5] [4,3,5]', inputs: [floats([1, 3, 5], 105), floats([2, 3, 5], 106), floats([4, 3, 5], 107)], p: undefined },
      { label: '[1031] [13]', inputs: [floats([1031], 108), floats([13], 109)], p: undefined },
      { label: 'one [3,17]', inputs: [floats([3, 17], 110)], p: undefined },
    ],
    ops: { concat0: (x) => ap.concat0(x), 'kernels.concat0': (x) => ap.kernels.concat0(x) },
    reference: (xs) => {
      const out = new Float64Array(xs.reduce((n, x) => n + x.length, 0));
      xs.reduce((at, x) => { out.set(x, at); return at + x.length; }, 0);
      return [out];
    },
    tol: EXACT,
    half: EXACT, // bytes moved, zeros filled: any storage dtype
    grad: {},
  }),
];
