// Tensor creation, the Tensor class, memory, devices, the RNG and the autograd controls.
import * as ap from '../../../lib/index.js';
import { entry, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';

const createOpts = (g: Gen, dtype: ap.DType = 'f32'): ap.CreateOptions => g.opts({ device: g.deviceName(), dtype: g.dtype(dtype) });
const small = (g: Gen): number[] => g.shape(g.r.pick([[2, 3], [4], [], [1, 2, 3], [0, 2]]));

/** A tensor built under the tape, so that backward() has something to do. */
function tracked(g: Gen): { x: ap.Tensor; y: ap.Tensor } {
  const x = g.validTensor([2, 3], { grad: true });
  const y = g.own(ap.tidy(() => ap.sum(ap.silu(x))));
  return { x, y };
}

export const tensorEntries: Entry[] = [
  entry('tensor', (g) => {
    const values = g.r.pick<() => unknown>([
      () => [[1, 2], [3, 4]], () => Float32Array.from([1, 2, 3]), () => 3, () => Int32Array.from([1, 2]), () => [1.5, 2 ** 40, -3],
    ])();
    const v = g.mutate() ? g.wrongType() : values;
    const shape = g.r.chance(0.5) ? null : g.shape(Array.isArray(v) && Array.isArray(v[0]) ? [2, 2] : [(v as ArrayLike<number>)?.length ?? 1]);
    return () => ap.tensor(v as ap.TensorLike, shape, createOpts(g, g.r.pick(['f32', 'f64', 'i32'] as const)));
  }),
  entry('full', (g) => {
    const v = g.r.chance(0.5) ? g.num(2) : g.r.pick([NaN, 1e20, -1e20, 2.5, Infinity, 2 ** 31, -(2 ** 31) - 1]);
    return () => ap.full(small(g), v, createOpts(g, g.r.pick(['f32', 'f64', 'i32'] as const)));
  }),
  entry('zeros', (g) => () => ap.zeros(small(g), createOpts(g))),
  entry('ones', (g) => () => ap.ones(small(g), createOpts(g, 'i32'))),
  entry('zerosLike', (g) => { const t = g.tensor([2, 3]); return () => ap.zerosLike(t, g.r.chance(0.5) ? undefined : createOpts(g)); }),
  entry('onesLike', (g) => { const t = g.tensor([3]); return () => ap.onesLike(t, g.r.chance(0.5) ? undefined : createOpts(g, 'f64')); }),
  entry('rand', (g) => () => ap.rand(small(g), g.opts({ device: g.deviceName(), seed: g.num(3), offset: g.num(1), lo: g.num(-1), hi: g.num(1) }))),
  entry('randn', (g) => () => ap.randn(small(g), g.opts({ device: g.deviceName(), dtype: g.dtype('f64'), mean: g.num(0), std: g.num(2) }))),
  entry('tidy', (g) => { const f = g.fn(() => ap.zeros([2])); return () => ap.tidy(f); }),
  entry('keep', (g) => { const t = g.tensor([2]); return () => ap.keep(t); }),
  entry('dispose', (g) => { const t = g.tensor([2]); const v = g.r.pick([t, [t, t], { a: t }, new Map([['a', t]])]); return () => ap.dispose(g.mutate() ? g.wrongType() : v); }),
  entry('memory', () => () => ap.memory()),
  entry('resetPeakMemory', (g) => { const d = g.r.chance(0.2) ? undefined : g.deviceName(); return () => ap.resetPeakMemory(d); }),
  entry('autocast', (g) => {
    const p = g.str(g.r.pick(ap.PRECISIONS));
    const [a, b] = [g.tensor([2, 3]), g.tensor([4, 3])];
    const fn = g.r.chance(0.8) ? () => ap.linear(a, b) : g.wrongType() as () => unknown;
    return () => ap.autocast(p, fn);
  }),
  entry('currentPrecision', () => () => ap.currentPrecision()),
  entry('defaultPrecision', (g) => { const d = g.deviceName(); return () => ap.defaultPrecision(d); }),
  entry('isTensor', (g) => { const v = g.r.chance(0.5) ? g.tensor([1]) : g.wrongType(); return () => ap.isTensor(v); }),
  entry('devices', () => () => ap.devices()),
  entry('defaultDevice', () => () => ap.defaultDevice()),
  entry('setDefaultDevice', (g) => { const d = g.r.chance(0.3) ? null : g.deviceName(); return () => ap.setDefaultDevice(d); }),
  entry('buildInfo', () => () => ap.buildInfo()),
  entry('synchronize', (g) => { const d = g.deviceName(); return () => ap.synchronize(d); }),
  entry('emptyCache', (g) => { const d = g.deviceName(); return () => ap.emptyCache(d); }),
  entry('copyInto', (g) => {
    const dst = g.tensor([2, 3]);
    const src = g.r.chance(0.3) ? g.tensor(g.r.pick([[3, 2], [2, 3], [6]])) : g.tensor([2, 3]);
    return () => ap.copyInto(dst, src);
  }),
  entry('cudaGraph.capture', (g) => {
    const d = g.deviceName();
    const x = g.tensor([2, 3]);
    const f = g.fn(() => ap.add(x, x));
    return () => {
      const graph = ap.cudaGraph.capture(d, f);
      try {
        graph.replay();
      } finally {
        graph.dispose();
        ap.dispose(graph.result);
      }
    };
  }),
  entry('manualSeed', (g) => { const s = g.r.chance(0.3) ? 5n : g.num(5); return () => ap.manualSeed(s); }),
  entry('getRngState', () => () => ap.getRngState()),
  entry('withSampleMap', (g) => {
    const m = g.mutate() ? g.wrongType() as ap.SampleMap : { segment: g.size(2), stride: g.size(4), base: g.index(1) };
    const f = g.fn(() => 1);
    return () => ap.withSampleMap(m, f);
  }),
  entry('setRngState', (g) => {
    const s = g.opts({ seed: g.r.chance(0.5) ? 3n : g.num(3) as unknown as bigint, offset: g.r.chance(0.5) ? 0n : g.num(0) as unknown as bigint });
    return () => ap.setRngState(s);
  }),
  entry('AdvpropError', (g) => { const code = g.str('ERR_ARG'); const msg = g.str('m'); return () => new ap.AdvpropError(code as ap.ErrorCode, msg); }),
  // The Tensor class: construction is refused; its methods take the usual bad arguments.
  entry('Tensor', (g) => { const h = g.wrongType(); return () => new (ap.Tensor as unknown as new (a: unknown, b: unknown) => unknown)(Symbol('x'), h); }),
  entry('Tensor#toArray', (g) => { const t = g.receiver([2, 2]); return () => t.toArray(); }),
  entry('Tensor#data', (g) => { const t = g.receiver([3]); return () => t.data(); }),
  entry('Tensor#item', (g) => { const t = g.receiver(g.r.pick([[], [1], [2]])); return () => t.item(); }),
  entry('Tensor#toNested', (g) => { const t = g.receiver([2, 0, 3]); return () => t.toNested(); }),
  entry('Tensor#toString', (g) => { const t = g.receiver([2]); return () => t.toString(); }),
  entry('Tensor#requiresGrad', (g) => { const t = g.receiver([2], { dtype: g.r.pick(['f32', 'i32'] as const) }); const v = g.bool(true); return () => { t.requiresGrad = v; }; }),
  entry('Tensor#reshape', (g) => { const t = g.receiver([2, 3]); const s = g.shape(g.r.pick([[6], [3, 2], [-1], [-1, 2]])); return () => t.reshape(s); }),
  entry('Tensor#slice0', (g) => { const t = g.receiver([4, 2]); const a = g.index(1), b = g.index(2); return () => t.slice0(a, b); }),
  entry('Tensor#to', (g) => { const t = g.receiver([2]); const d = g.deviceName(g.otherDevice ?? 'cpu'); return () => t.to(d); }),
  entry('Tensor#cast', (g) => { const t = g.receiver([2]); const d = g.dtype(g.r.pick(['f64', 'i32'] as const)); return () => t.cast(d); }),
  entry('Tensor#sum', (g) => { const t = g.receiver([2, 3]); const a = g.r.chance(0.5) ? g.index(1) : g.shape([0, 1]); const k = g.bool(false); return () => t.sum(a, k); }),
  entry('Tensor#detach', (g) => { const t = g.receiver([2]); return () => t.detach(); }),
  entry('Tensor#zeroGrad', (g) => { const { x, y } = tracked(g); y.backward(); return () => x.zeroGrad(); }),
  entry('Tensor#dispose', (g) => { const t = g.receiver([2]); return () => { t.dispose(); t.dispose(); }; }),
  entry('Tensor#backward', (g) => {
    const { y } = tracked(g);
    const dy = g.r.chance(0.7) ? undefined : g.tensor([]);
    const o = g.r.chance(0.5) ? undefined : g.opts({ retainGraph: g.bool(true) });
    return () => y.backward(dy, o);
  }),
  entry('Tensor#flatten', (g) => { const t = g.receiver([2, 3]); return () => t.flatten(); }),
  entry('Tensor#mulScalar', (g) => { const t = g.receiver([2, 3]); const a = g.num(2); return () => t.mulScalar(a); }),
  // Autograd.
  entry('grad', (g) => {
    const x = g.tensor([2, 3], { grad: g.r.chance(0.5) });
    const f = g.fn(() => ap.sum(ap.square(x)));
    const inputs = g.r.chance(0.8) ? [x] : g.tensors([[2, 3]]);
    return () => ap.grad(f, inputs, g.r.chance(0.5) ? undefined : g.opts({ allowUnused: g.bool(true), retainGraph: g.bool(false) }));
  }),
  entry('valueAndGrad', (g) => {
    const x = g.tensor([3]);
    const f = g.fn(() => ap.mean(ap.exp(x)));
    return () => ap.valueAndGrad(f, g.r.chance(0.8) ? [x] : (g.wrongType() as ap.Tensor[]), g.r.chance(0.5) ? undefined : g.opts({ allowUnused: g.bool(false) }));
  }),
  entry('noGrad', (g) => { const f = g.fn(() => ap.zeros([1])); return () => ap.noGrad(f); }),
  entry('enableGrad', (g) => { const f = g.fn(() => ap.zeros([1])); return () => ap.enableGrad(f); }),
  entry('isGradEnabled', () => () => ap.isGradEnabled()),
  entry('setGradEnabled', (g) => { const v = g.bool(true); return () => ap.setGradEnabled(v); }),
  entry('autograd.backward', (g) => { const { y } = tracked(g); const dy = g.r.chance(0.6) ? undefined : g.tensor([]); return () => ap.autograd.backward(y, dy, g.r.chance(0.5) ? undefined : g.opts({})); }),
  entry('autograd.grad', (g) => { const x = g.tensor([2]); return () => ap.autograd.grad(() => ap.sum(x), [x]); }),
  entry('autograd.valueAndGrad', (g) => { const x = g.tensor([2]); return () => ap.autograd.valueAndGrad(() => ap.sum(x), g.r.chance(0.7) ? [x] : []); }),
  entry('autograd.noGrad', (g) => { const f = g.fn(() => 1); return () => ap.autograd.noGrad(f); }),
  entry('autograd.enableGrad', (g) => { const f = g.fn(() => 1); return () => ap.autograd.enableGrad(f); }),
  entry('autograd.isGradEnabled', () => () => ap.autograd.isGradEnabled()),
  entry('autograd.setGradEnabled', (g) => { const v = g.bool(false); return () => ap.autograd.setGradEnabled(v); }),
  entry('autograd.stats', () => () => ap.autograd.stats()),
  entry('autograd.resetStats', () => () => ap.autograd.resetStats()),
  entry('autograd.recordingNeeds', (g) => { const xs = g.tensors([[2], [3]]); return () => ap.autograd.recordingNeeds(xs); }),
  entry('autograd.record', (g) => {
    const x = g.validTensor([2], { grad: true });
    const out = g.tensor([2]);
    const inputs = g.r.chance(0.8) ? [x] : g.tensors([[2]]);
    const rule = g.fn((dy: ap.Tensor) => [dy]);
    return () => {
      ap.autograd.record(out, g.str('fuzz'), inputs, g.r.chance(0.8) ? [] : g.tensors([[2]]), rule as ap.autograd.GradientRule);
      ap.tidy(() => ap.sum(out).backward());
    };
  }),
];
