// ap.io (safetensors and model files) and ap.optim (optimizers and the EMA).
import { join } from 'node:path';
import * as ap from '../../../lib/index.js';
import { entry, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';
import { tinyModel } from '../fixtures.js';

const out = (g: Gen, name: string): string => g.outPath(join(g.ctx.tmp, `${name}-${g.r.u32()}.safetensors`));
const layout = (g: Gen): 'ohwi' | 'oihw' => g.str(g.r.pick(['ohwi', 'oihw'] as const));

/** Named tensors to save: valid, or with a bad name, a non-tensor or a disposed tensor. */
function named(g: Gen): Record<string, ap.Tensor> | Map<string, ap.Tensor> {
  const rec: Record<string, ap.Tensor> = { a: g.tensor([2, 3]), 'b.weight': g.tensor([2, 1, 3, 3], { dtype: g.r.pick(['f32', 'f64', 'i32'] as const) }) };
  if (g.mutate()) rec[g.r.pick(['__metadata__', '', '__proto__', 'constructor'])] = g.validTensor([1]);
  return g.r.chance(0.2) ? new Map(Object.entries(rec)) : rec;
}

function params(g: Gen): ap.Tensor[] {
  const ps = [g.validTensor([2, 3], { grad: true }), g.validTensor([4], { grad: true })];
  return g.mutate() ? g.tensors([[2, 3], [4]]) : ps;
}

type Opt = ap.optim.RMSProp | ap.optim.SGD;
function optimizer(g: Gen): Opt {
  const ps = [g.validTensor([2, 3]), g.validTensor([4])];
  const o = g.r.chance(0.5) ? new ap.optim.RMSProp(ps, { lr: 0.01 }) : new ap.optim.SGD(ps, { lr: 0.1, momentum: 0.9 });
  return g.own(o, (x) => x.dispose());
}
const optName = (o: Opt): string => (o instanceof ap.optim.SGD ? 'SGD' : 'RMSProp');

export const ioEntries: Entry[] = [
  entry('io.loadSafetensors', (g) => () => ap.io.loadSafetensors(g.path(g.ctx.stFile), g.r.chance(0.4) ? undefined : g.opts({ layout: layout(g), device: g.deviceName(), dtype: g.dtype('f64' as const) }))),
  entry('io.saveSafetensors', (g) => () => ap.io.saveSafetensors(out(g, 'save'), named(g), g.r.chance(0.4) ? undefined : g.opts({ layout: layout(g), metadata: g.opts({ k: g.str('v') }) }))),
  entry('io.readSafetensors', (g) => () => ap.io.readSafetensors(g.path(g.ctx.stFile))),
  entry('io.parseSafetensors', (g) => {
    const bytes = ap.tidy(() => ap.io.serializeSafetensors({ a: ap.zeros([2]) }));
    const b = g.mutate() ? g.r.pick<unknown>([bytes.subarray(0, 9), Buffer.alloc(0), 'abc', null, new Uint8Array(bytes), Buffer.concat([bytes, Buffer.from('x')])]) : bytes;
    return () => ap.io.parseSafetensors(b as Buffer, g.r.chance(0.5) ? undefined : g.str('f'));
  }),
  entry('io.serializeSafetensors', (g) => () => ap.io.serializeSafetensors(named(g), g.r.chance(0.5) ? undefined : g.opts({ layout: layout(g), metadata: g.opts({ x: 'y' }) }))),
  entry('io.writeFileAtomic', (g) => { const b = g.mutate() ? g.wrongType() : Buffer.from('hi'); return () => ap.io.writeFileAtomic(out(g, 'atomic'), b as Buffer); }),
  entry('io.oihwToOhwi', (g) => {
    const d = g.mutate() ? g.r.pick<unknown>([new Float32Array(3), g.wrongType(), [1, 2, 3]]) : new Float32Array(24);
    return () => ap.io.oihwToOhwi(d as Float32Array, g.shape([2, 3, 2, 2]));
  }),
  entry('io.ohwiToOihw', (g) => {
    const d = g.mutate() ? g.r.pick<unknown>([new Float64Array(5), g.wrongType()]) : new Float64Array(24);
    return () => ap.io.ohwiToOihw(d as Float64Array, g.shape([2, 2, 2, 3]));
  }),
  entry('io.saveModel', (g) => {
    const m = g.r.chance(0.8) ? tinyModel(g) : g.wrongType() as ap.nn.Module;
    return () => ap.io.saveModel(out(g, 'model'), m, g.r.chance(0.5) ? undefined : g.opts({ auxiliary: g.bool(false), layout: layout(g) }));
  }),
  entry('io.loadModel', (g) => {
    const m = g.r.chance(0.8) ? tinyModel(g) : g.wrongType() as ap.nn.Module;
    return () => ap.io.loadModel(g.path(g.ctx.stFile), m, g.r.chance(0.5) ? undefined : g.opts({ strict: g.bool(true), auxiliary: g.str('load' as const), layout: g.str('ohwi' as const) }));
  }),
  entry('io.exportOnnx', (g) => {
    const m = g.r.chance(0.8) ? tinyModel(g) : g.wrongType() as ap.models.EfficientNet;
    const file = g.outPath(join(g.ctx.tmp, `onnx-${g.r.u32()}.onnx`));
    const o = g.r.chance(0.3) ? undefined : g.opts({
      resolution: g.size(8), layout: g.str(g.r.pick(['nhwc', 'nchw'] as const)), foldBn: g.bool(true),
      dtype: g.str(g.r.pick(['f32', 'f16'] as const)),
    });
    return () => ap.io.exportOnnx(m, file, o).bytes;
  }),
  // Optimizers.
  entry('optim.RMSProp', (g) => () => new ap.optim.RMSProp(params(g), g.opts({ lr: g.num(0.01), rho: g.num(0.9), momentum: g.num(0.9), eps: g.num(1e-3), weightDecay: g.num(1e-5), decayMask: g.fn(() => true) }))),
  entry('optim.SGD', (g) => () => new ap.optim.SGD(params(g), g.opts({ lr: g.num(0.1), momentum: g.num(0.9), nesterov: g.bool(true), weightDecay: g.num(0), decayMask: g.r.chance(0.5) ? [true, false] : g.fn([true]) }))),
  entry('optim.ExponentialMovingAverage', (g) => () => new ap.optim.ExponentialMovingAverage(params(g), g.r.chance(0.3) ? undefined : g.opts({ decay: g.num(0.999), warmup: g.bool(true) }))),
  entry('optim.RMSProp#step', (g) => { const o = optimizer(g); const grads = g.tensors(o.params.map((p) => p.shape)); return () => o.step(grads); }),
  entry('optim.SGD#step', (g) => { const o = optimizer(g); const grads = g.tensors(o.params.map((p) => p.shape)); return () => o.step(grads); }),
  entry('optim.RMSProp#lr', (g) => { const o = optimizer(g); const v = g.num(0.5); return () => { o.lr = v; }; }),
  entry('optim.RMSProp#loadStateDict', (g) => {
    const o = optimizer(g);
    const sd = { ...o.stateDict() };
    if (g.mutate()) sd[g.r.pick(Object.keys(sd))] = g.tensor([2, 3], { dtype: g.r.pick(['f32', 'i32'] as const) });
    const arg = g.mutate() ? g.wrongType() : sd;
    return () => { o.loadStateDict(arg as Record<string, ap.Tensor>); return optName(o); };
  }),
  entry('optim.SGD#loadStateDict', (g) => { const o = optimizer(g); const arg = g.mutate() ? g.wrongType() : { ...o.stateDict() }; return () => o.loadStateDict(arg as Record<string, ap.Tensor>); }),
  entry('optim.SGD#stateDict', (g) => { const o = optimizer(g); return () => { o.stateDict(); }; }),
  entry('optim.ExponentialMovingAverage#update', (g) => { const e = g.own(new ap.optim.ExponentialMovingAverage([g.validTensor([3])]), (x) => x.dispose()); return () => e.update(); }),
  entry('optim.ExponentialMovingAverage#copyTo', (g) => {
    const e = g.own(new ap.optim.ExponentialMovingAverage([g.validTensor([3])]), (x) => x.dispose());
    return () => e.copyTo(g.tensors([[3]]));
  }),
  entry('optim.ExponentialMovingAverage#loadStateDict', (g) => {
    const e = g.own(new ap.optim.ExponentialMovingAverage([g.validTensor([2])]), (x) => x.dispose());
    const sd = e.stateDict();
    g.own(sd.numUpdates!);
    if (g.mutate()) sd.numUpdates = g.tensor([1], { dtype: g.r.pick(['i32', 'f32'] as const) });
    const arg = g.mutate() ? g.wrongType() : sd;
    return () => e.loadStateDict(arg as Record<string, ap.Tensor>);
  }),
  entry('optim.ExponentialMovingAverage#dispose', (g) => { const e = new ap.optim.ExponentialMovingAverage([g.validTensor([2])]); return () => { e.dispose(); e.update(); }; }),
];
