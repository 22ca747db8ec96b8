// ap.nn layers and the Module methods, and ap.models (configs, the EfficientNet, summaries).
import * as ap from '../../../lib/index.js';
import { entry, NHWC, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';
import { SIDE, TINY, TINY_STAGES, tinyModel } from '../fixtures.js';
import { segments } from './ops.js';

const init = (g: Gen): ap.nn.LayerInit => (g.r.chance(0.5) ? {} : { device: g.deviceName(), dtype: g.dtype('f32' as const), seed: g.num(3) });
const fwdOpts = (g: Gen, n: number, k = 2): ap.nn.ForwardOptions | undefined =>
  g.r.chance(0.4) ? undefined : g.opts({ segments: segments(g, n, k), bnMode: g.str(g.r.pick(['train', 'eval', 'train-frozen'] as const)) });

/** A module of each kind, valid, for the Module method entries. */
function someModule(g: Gen): ap.nn.Module {
  const m = g.r.pick<() => ap.nn.Module>([
    () => tinyModel(g),
    () => new ap.nn.Conv2d(2, 3, 3, { device: g.device, bias: true }),
    () => new ap.nn.MultiBatchNorm2d(3, { device: g.device }),
    () => new ap.nn.Sequential([new ap.nn.Linear(4, 3, { device: g.device }), new ap.nn.Dropout(0.1)]),
  ])();
  return g.own(m, (x) => x.dispose());
}

/** A state dict for `m`: its own, or one with a key missing, renamed, reshaped or not a tensor. */
function stateFor(g: Gen, m: ap.nn.Module): Record<string, ap.Tensor> {
  const sd = m.stateDict();
  for (const t of Object.values(sd)) g.own(t);
  if (!g.mutate()) return sd;
  const keys = Object.keys(sd);
  const key = g.r.pick(keys);
  switch (g.r.int(5)) {
    case 0: delete sd[key]; return sd;
    case 1: return { ...sd, 'bogus.weight': g.validTensor([1]) };
    case 2: return { ...sd, [key]: g.tensor(sd[key]!.shape) };
    case 3: return { ...sd, __proto__: g.validTensor([1]) } as Record<string, ap.Tensor>;
    default: return g.wrongType() as Record<string, ap.Tensor>;
  }
}

const method = (name: string, f: (g: Gen, m: ap.nn.Module) => () => unknown): Entry => entry(`nn.Module#${name}`, (g) => f(g, someModule(g)));

export const nnEntries: Entry[] = [
  entry('nn.Conv2d', (g) => () => new ap.nn.Conv2d(g.size(2), g.size(4), g.size(3), g.r.chance(0.3) ? undefined : g.opts({
    ...init(g), stride: g.size(1), groups: g.size(1), dilation: g.size(1), bias: g.bool(true), padding: g.str(g.r.pick(['same', 'symmetric', 'valid'] as const)),
  }))),
  entry('nn.Linear', (g) => () => new ap.nn.Linear(g.size(3), g.size(5), g.r.chance(0.4) ? undefined : g.opts({ ...init(g), bias: g.bool(false) }))),
  entry('nn.MultiBatchNorm2d', (g) => () => new ap.nn.MultiBatchNorm2d(g.size(3), g.r.chance(0.3) ? undefined : g.opts({
    ...init(g), domains: g.size(2), momentum: g.num(0.9), eps: g.num(1e-3), act: g.str('silu' as const),
  }))),
  entry('nn.Dropout', (g) => () => new ap.nn.Dropout(g.num(0.2))),
  entry('nn.DropConnect', (g) => () => new ap.nn.DropConnect(g.num(0.2))),
  entry('nn.DropConnect#forwardAdd', (g) => {
    const m = new ap.nn.DropConnect(0.5);
    const s = g.r.pick(NHWC);
    const h = g.tensor(s), r = g.tensor(s);
    return () => m.forwardAdd(h, r);
  }),
  entry('nn.SqueezeExcite', (g) => () => new ap.nn.SqueezeExcite(g.size(4), g.size(2), init(g))),
  entry('nn.MBConvBlock', (g) => () => new ap.nn.MBConvBlock(g.opts({
    inChannels: g.size(4), outChannels: g.size(4), kernel: g.size(3), stride: g.size(1), expand: g.size(2), seChannels: g.size(1),
    dropConnect: g.num(0.1), domains: g.size(2), bnMomentum: g.num(0.9), bnEps: g.num(1e-3), padding: g.str('same' as const), device: g.deviceName(),
  }))),
  entry('nn.Sequential', (g) => {
    const layers = g.r.chance(0.7) ? [new ap.nn.Linear(3, 2, { device: g.device }), new ap.nn.Dropout(0)] : g.wrongType();
    return () => new ap.nn.Sequential(layers as ap.nn.Module[]);
  }),
  entry('nn.Initializer', (g) => { const o = g.r.chance(0.5) ? undefined : g.opts({ seed: g.num(2), device: g.deviceName() }); return () => new ap.nn.Initializer(o).make(g.shape([2, 3]), g.r.pick<unknown>([{ type: 'normal', std: g.num(1) }, { type: 'const', value: g.num(0) }, g.wrongType()]) as ap.nn.InitOptions as never); }),
  entry('nn.convInit', (g) => () => ap.nn.convInit(g.size(8), g.size(3), g.size(3), g.size(1))),
  entry('nn.denseInit', (g) => () => ap.nn.denseInit(g.size(10))),
  entry('nn.auxKey', (g) => () => ap.nn.auxKey(g.str('bn1.weight'), g.size(1))),
  entry('nn.resolveSegments', (g) => () => ap.nn.resolveSegments(segments(g, 4, 2), g.size(4), g.size(2), 'fuzz')),
  entry('nn.StateDictError', (g) => () => new ap.nn.StateDictError(g.str('ERR_ARG') as 'ERR_ARG', g.str('m'), g.wrongType() as ap.nn.LoadReport)),
  method('forward', (g, m) => {
    const shape = m instanceof ap.nn.Sequential ? [3, 4] : m instanceof ap.models.EfficientNet ? [2, SIDE, SIDE, 1] : [2, 4, 4, m instanceof ap.nn.Conv2d ? 2 : 3];
    const x = g.tensor(shape, { lo: 0, hi: 1 });
    return () => ap.tidy(() => { m.forward(x, fwdOpts(g, shape[0]!)); });
  }),
  method('loadStateDict', (g, m) => {
    const sd = stateFor(g, m);
    const o = g.r.chance(0.5) ? undefined : g.opts({ strict: g.bool(true), auxiliary: g.str(g.r.pick(['load', 'skip', 'fromClean'] as const)) });
    return () => m.loadStateDict(sd, o);
  }),
  method('stateDict', (g, m) => () => m.stateDict(g.r.chance(0.5) ? undefined : g.opts({ auxiliary: g.bool(false) }))),
  method('to', (g, m) => () => m.to(g.deviceName(g.otherDevice ?? 'cpu'))),
  method('cast', (g, m) => () => m.cast(g.dtype('f64' as const))),
  method('train', (g, m) => () => m.train(g.bool(false))),
  method('withTensors', (g, m) => {
    const [name, t] = m.namedParameters()[0]!;
    const repl = g.r.chance(0.5) ? { [g.str(name)]: g.tensor(t.shape) } : g.opts({ [name]: g.tensor(t.shape) });
    return () => m.withTensors(repl, g.fn(() => 1));
  }),
  method('param', (g, m) => () => m.param(g.str('weight'))),
  method('buffer', (g, m) => () => m.buffer(g.str('running_mean'))),
  method('namedModules', (g, m) => () => m.namedModules(g.str(''))),
  method('zeroGrad', (_g, m) => () => m.zeroGrad()),
  method('dispose', (_g, m) => () => { m.dispose(); m.dispose(); }),
  // ap.models.
  entry('models.efficientnet', (g) => {
    const name = g.str(g.r.pick(['b0', 'b1', 'l2'] as const));
    const tiny = g.r.chance(0.8);
    const o = g.opts({
      ...(tiny ? TINY : { width: 0.1, depth: 0.1 }), numClasses: g.size(10), domains: g.size(2), inChannels: g.size(1),
      width: g.num(tiny ? 1 : 0.1), depth: g.num(tiny ? 1 : 0.1), resolution: g.size(8), dropout: g.num(0.2), dropConnect: g.num(0.2),
      padding: g.str('same' as const), bnEps: g.num(1e-3), bnMomentum: g.num(0.99), stemFilters: g.size(8), headFilters: g.size(16),
      depthDivisor: g.size(8), device: g.deviceName(), dtype: g.dtype('f32' as const), seed: g.num(1),
      ...(g.r.chance(0.2) ? { normalize: g.r.pick<unknown>([null, { mean: g.num(0.5), std: g.num(0.5) }, { mean: [0.5, 0.5], std: 1 }, 'none']) } : {}),
      ...(g.r.chance(0.2) && tiny ? { stages: [{ ...TINY_STAGES[0]!, repeats: g.size(1), kernel: g.size(3), stride: g.size(1), expand: g.size(1), outFilters: g.size(8), seRatio: g.num(0.25) }] } : {}),
    } as ap.models.BuildOptions);
    return () => ap.models.efficientnet(name, o);
  }, { weight: 3 }),
  entry('models.EfficientNet', (g) => {
    const cfg = ap.models.efficientnetConfig('b0', TINY);
    const c = g.mutate() ? { ...cfg, [g.r.pick(Object.keys(cfg))]: g.wrongType() } : cfg;
    return () => new ap.models.EfficientNet(c as ap.models.EfficientNetConfig, g.opts({ device: g.deviceName(), seed: g.num(2) }));
  }),
  entry('models.EfficientNet#features', (g) => { const m = tinyModel(g); const x = g.tensor([2, SIDE, SIDE, 1], { lo: 0, hi: 1 }); return () => ap.tidy(() => { m.features(x, fwdOpts(g, 2)); }); }),
  entry('models.efficientnetConfig', (g) => {
    const o = g.opts({ width: g.num(1), depth: g.num(1), inChannels: g.size(3), numClasses: g.size(10), domains: g.size(2), resolution: g.size(224),
      stemFilters: g.size(32), headFilters: g.size(1280), depthDivisor: g.size(8), dropout: g.num(0.2), bnMomentum: g.num(0.9) });
    return () => ap.models.efficientnetConfig(g.str(g.r.pick(['b0', 'b7', 'l2'] as const)), o);
  }, { weight: 3 }),
  entry('models.efficientnetTensorSpecs', (g) => { const c = ap.models.efficientnetConfig('b0', TINY); return () => ap.models.efficientnetTensorSpecs(g.mutate() ? g.wrongType() as ap.models.EfficientNetConfig : c); }),
  entry('models.countParameters', (g) => { const c = ap.models.efficientnetConfig('b1'); return () => ap.models.countParameters(g.mutate() ? g.wrongType() as ap.models.EfficientNetConfig : c, g.r.chance(0.5) ? undefined : g.size(1)); }),
  entry('models.roundFilters', (g) => () => ap.models.roundFilters(g.size(32), g.num(1.1), g.r.chance(0.5) ? undefined : g.size(8))),
  entry('models.roundRepeats', (g) => () => ap.models.roundRepeats(g.size(3), g.num(1.2))),
  entry('models.blockLayerNames', (g) => { const b = ap.models.efficientnetConfig('b0').blocks[1]!; return () => ap.models.blockLayerNames(g.opts(b)); }),
  entry('models.summary', (g) => { const m = tinyModel(g); return () => ap.models.summary(m, g.r.chance(0.3) ? undefined : g.opts({ inputShape: g.shape([1, SIDE, SIDE, 1]), print: false })); }),
  entry('models.familyTable', () => () => ap.models.familyTable(), { weight: 0.2 }),
  entry('models.efficientnetRows', (g) => { const c = ap.models.efficientnetConfig('b0', TINY); return () => ap.models.efficientnetRows(c, g.shape([1, SIDE, SIDE, 1])); }),
];
