// Creation, random, copy and conversion ops (native/*/random.*, native/ops/creation.cc, the cast
// and device-copy kernels): constants, Philox draws against the BigInt reference of
// test/philox_ref.ts, uploads, clones, casts and copies between devices. All of them in bf16 and
// f16 as well (`half`): a value rounded once, bitwise on every backend.
import * as ap from '../../lib/index.js';
import { availableDevices } from '../../lib/testing/backends.js';
import { refNormalAt, refUniformAt } from '../philox_ref.js';
import { numel } from '../helpers.js';
import { entry, EXACT, floats, fmt, ints, SAME_BITS, type AnyEntry, type Case } from './table.js';

const SHAPES = [[1031], [2, 3, 5, 7], [], [1, 1, 1, 17]];
const shapeCases = SHAPES.map((s) => ({ label: fmt(s), inputs: [], p: s }));
const constant = (shape: number[], v: number): Float64Array[] => [new Float64Array(numel(shape)).fill(v)];

interface Fill { shape: number[]; value: number; int?: boolean }
const FILLS: Case<Fill>[] = [
  { shape: [1031], value: -2.5 }, { shape: [2, 3, 5, 7], value: 1 / 3 }, { shape: [], value: 7 }, { shape: [3, 17], value: -4, int: true },
].map((p) => ({ label: `${fmt(p.shape)} = ${p.value}${p.int ? ' i32' : ''}`, inputs: [], p }));

// Keys past 2^32 in seed and offset: both halves of Philox's key and counter words matter.
interface Draw { shape: number[]; seed: bigint; offset: bigint; a: number; b: number }
const DRAWS: Case<Draw>[] = [
  { shape: [1031], seed: 42n, offset: 5n, a: 0, b: 1 },
  { shape: [3, 5, 7], seed: 2n ** 40n + 3n, offset: 2n ** 33n + 1n, a: -1.5, b: 2.5 },
  { shape: [2, 1, 1, 17], seed: 7n, offset: 0n, a: 2, b: 6 },
].map((p) => ({ label: `${fmt(p.shape)} key (${p.seed}, ${p.offset})`, inputs: [], p }));

const uniformRef = ({ shape, seed, offset, a, b }: Draw): Float64Array[] =>
  [Float64Array.from({ length: numel(shape) }, (_, i) => a + (b - a) * refUniformAt(seed, offset, i))];
const normalRef = ({ shape, seed, offset, a, b }: Draw): Float64Array[] =>
  [Float64Array.from({ length: numel(shape) }, (_, i) => a + b * refNormalAt(seed, offset, i))];

// Device copies go through another device when there is one, so `to`'s gradient rule (copy
// back) is exercised rather than the no-op of a tensor already on the target.
const other = availableDevices().find((d) => d !== 'cpu');
const viaCases: Case<string>[] = [...new Set(['cpu', other ?? 'cpu'])].map((via, i) => ({
  label: `[3,7,11] via ${via}`, inputs: [floats([3, 7, 11], 40 + i, -3, 3)], p: via,
}));

const copyCases: Case[] = [[1031], [2, 5, 3, 17], []].map((s, i) => ({ label: fmt(s), inputs: [floats(s, 30 + i, -3, 3)], p: undefined }));

export const CREATION_ENTRIES: AnyEntry[] = [
  entry({
    name: 'tensor',
    cases: copyCases,
    ops: { tensor: (x, c, device, dtype) => ap.tensor(x[0].toArray(), c.inputs[0].shape, { device, dtype }) },
    reference: ([x]) => [x],
    tol: EXACT,
    half: EXACT,
    grad: false,
  }),
  entry({
    name: 'fill',
    cases: FILLS,
    ops: {
      full: (_x, c, device, dtype) => ap.full(c.p.shape, c.p.value, { device, dtype: c.p.int ? 'i32' : dtype }),
      'kernels.fill': (_x, c, device, dtype) => ap.kernels.fill(c.p.shape, c.p.value, c.p.int ? 'i32' : dtype, device),
    },
    reference: (_x, c) => constant(c.p.shape, c.p.value),
    tol: EXACT,
    half: EXACT,
    grad: false,
  }),
  ...([['zeros', 0], ['ones', 1]] as const).map(([name, v]) => entry({
    name,
    cases: shapeCases,
    ops: name === 'zeros'
      ? { zeros: (_x, c, device, dtype) => ap.zeros(c.p, { device, dtype }) }
      : { ones: (_x, c, device, dtype) => ap.ones(c.p, { device, dtype }) },
    reference: (_x, c) => constant(c.p, v),
    tol: EXACT,
    half: EXACT,
    grad: false,
  })),
  ...([['zerosLike', 0], ['onesLike', 1]] as const).map(([name, v]) => entry({
    name,
    cases: copyCases,
    ops: name === 'zerosLike' ? { zerosLike: (x) => ap.zerosLike(x[0]) } : { onesLike: (x) => ap.onesLike(x[0]) },
    reference: ([x]) => [new Float64Array(x.length).fill(v)],
    tol: EXACT,
    half: EXACT,
    grad: false,
  })),
  entry({
    name: 'rand',
    cases: DRAWS,
    ops: {
      rand: (_x, { p }, device, dtype) => ap.rand(p.shape, { device, dtype, seed: p.seed, offset: p.offset, lo: p.a, hi: p.b }),
      'kernels.uniform': (_x, { p }, device, dtype) => ap.kernels.uniform(p.shape, dtype, device, p.seed, p.offset, p.a, p.b),
    },
    // lo + (hi − lo)·u is formed in double and rounded once, so the draw is exact.
    reference: (_x, c) => uniformRef(c.p),
    tol: EXACT,
    half: EXACT,
    grad: false,
  }),
  entry({
    name: 'randn',
    cases: DRAWS,
    ops: {
      randn: (_x, { p }, device, dtype) => ap.randn(p.shape, { device, dtype, seed: p.seed, offset: p.offset, mean: p.a, std: p.b }),
      'kernels.normal': (_x, { p }, device, dtype) => ap.kernels.normal(p.shape, dtype, device, p.seed, p.offset, p.a, p.b),
    },
    reference: (_x, c) => normalRef(c.p),
    tol: SAME_BITS,
    half: SAME_BITS,
    grad: false,
  }),
  entry({
    name: 'clone',
    cases: copyCases,
    ops: { clone: (x) => ap.clone(x[0]), 'kernels.clone': (x) => ap.kernels.clone(x[0]) },
    reference: ([x]) => [x],
    tol: EXACT,
    half: EXACT,
    grad: {},
  }),
  entry({
    name: 'to',
    cases: viaCases,
    ops: {
      to: (x, c, device) => ap.to(ap.to(x[0], c.p), device),
      'kernels.toDevice': (x, c, device) => ap.kernels.toDevice(ap.kernels.toDevice(x[0], c.p), device),
    },
    reference: ([x]) => [x],
    tol: EXACT,
    half: EXACT,
    grad: {},
  }),
  entry({
    name: 'cast between floats',
    cases: copyCases,
    ops: { cast: (x) => ap.cast(x[0], 'f64'), 'kernels.cast': (x) => ap.kernels.cast(x[0], 'f64') },
    reference: ([x]) => [x],
    tol: EXACT,
    half: EXACT,
    grad: {},
  }),
  entry({
    name: 'cast to bf16 and f16',
    cases: [
      { label: '[1031] to bf16', inputs: [floats([1031], 55, -3, 3)], p: 'bf16' as const },
      { label: '[2,5,3,17] to f16', inputs: [floats([2, 5, 3, 17], 56, -3, 3)], p: 'f16' as const },
      { label: '[] to f16', inputs: [floats([], 57, -3, 3)], p: 'f16' as const },
      // Past f16's range (infinity from 65520) and below its normals (subnormals, zero).
      { label: '[97] beyond f16 to f16', inputs: [floats([97], 58, -1e5, 1e5)], p: 'f16' as const },
      { label: '[97] tiny to f16', inputs: [floats([97], 59, -1e-6, 1e-6)], p: 'f16' as const },
      { label: '[97] tiny to bf16', inputs: [floats([97], 60, -1e-30, 1e-30)], p: 'bf16' as const },
    ],
    ops: { cast: (x, c) => ap.cast(x[0], c.p), 'kernels.cast': (x, c) => ap.kernels.cast(x[0], c.p) },
    // One rounding to nearest even of the input (checkReference rounds the reference to the
    // output's dtype).
    reference: ([x]) => [x],
    tol: EXACT,
    half: EXACT,
    grad: false,
  }),
  entry({
    name: 'cast to and from i32',
    cases: [
      { label: 'float [1031] to i32', inputs: [floats([1031], 50, -1e6, 1e6)], p: 'i32' as const },
      { label: 'i32 [2,5,3,17] to float', inputs: [ints([2, 5, 3, 17], 51, -3e7, 3e7)], p: 'float' as const },
    ],
    ops: {
      cast: (x, c, _d, dtype) => ap.cast(x[0], c.p === 'i32' ? 'i32' : dtype),
      'kernels.cast': (x, c, _d, dtype) => ap.kernels.cast(x[0], c.p === 'i32' ? 'i32' : dtype),
    },
    // Float to integer truncates toward zero (C's conversion) and saturates (f16 inputs past its
    // range are infinite); i32 to float rounds once.
    reference: ([x], c) => [c.p === 'i32' ? x.map((v) => Math.min(2147483647, Math.max(-2147483648, Math.trunc(v)))) : x],
    tol: EXACT,
    half: EXACT,
    grad: false,
  }),
];
