// ap.data (datasets, transforms, the loader, the data RNG), ap.evaluation and ap.report.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import * as ap from '../../../lib/index.js';
import { entry, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';

const SPLITS = ['train', 'test'] as const;

function image(g: Gen): ap.data.Image {
  const h = 5, w = 4, c = g.r.pick([1, 3]);
  const img = { data: new Uint8Array(h * w * c).map((_, i) => i % 251), height: h, width: w, channels: c };
  if (!g.mutate()) return img;
  return g.r.pick<unknown>([
    null, 'img', { ...img, data: new Uint8Array(3) }, { ...img, height: -1 }, { ...img, width: 2 ** 31 }, { ...img, channels: 0 }, { ...img, data: [1, 2] },
  ]) as ap.data.Image;
}

function transform(g: Gen): ap.data.TransformSpec {
  const t = g.r.pick<() => ap.data.TransformSpec>([
    () => ({ name: 'randomCrop', size: g.size(3), padding: g.size(1), fill: g.num(0) }),
    () => ({ name: 'hflip', p: g.num(0.5) }),
    () => ({ name: 'randomResizedCrop', size: g.r.chance(0.5) ? g.size(6) : [g.size(6), g.size(5)], scale: [g.num(0.08), g.num(1)], ratio: [g.num(0.75), g.num(1.33)] }),
    () => ({ name: 'centerCrop', size: g.size(3) }),
    () => ({ name: 'resize', size: g.size(7) }),
    () => ({ name: 'autoAugment', policy: g.str('imagenet' as const) }),
  ])();
  return g.mutate() ? { ...t, name: g.str('hflip') } as ap.data.TransformSpec : t;
}

const rng = (g: Gen): ap.data.Rng => (g.mutate() ? g.wrongType() as ap.data.Rng : new ap.data.Rng(g.r.u32()));
const dir = (g: Gen): string => g.path(g.ctx.dataDir);
const floats = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => (i % 17) / 16);

function dataset(g: Gen): ap.data.ImageDataset {
  const d = ap.data.openDataset(g.ctx.dataDir, 'train');
  if (!g.mutate()) return d;
  return g.r.pick<unknown>([null, 'd', {}, { ...d, labels: [1] }, { ...d, source: null }, { ...d, source: { ...d.source, kind: 'files', paths: ['/nonexistent.png'] } }]) as ap.data.ImageDataset;
}

function loader(g: Gen): ap.data.DataLoader {
  const l = new ap.data.DataLoader(ap.data.openDataset(g.ctx.dataDir, 'train'), { batchSize: 4, workers: 0 });
  return g.own(l, (x) => x.close());
}

export const dataEntries: Entry[] = [
  entry('data.openDataset', (g) => () => ap.data.openDataset(dir(g), g.str(g.r.pick(SPLITS)), g.r.chance(0.7) ? undefined : g.opts({ channels: g.size(1) }))),
  entry('data.loadIdxDataset', (g) => () => ap.data.loadIdxDataset(dir(g), g.str(g.r.pick(SPLITS)), g.r.chance(0.5) ? undefined : g.str('tiny'))),
  entry('data.hasIdxDataset', (g) => () => ap.data.hasIdxDataset(dir(g), g.str('test' as const))),
  entry('data.loadCifar', (g) => () => ap.data.loadCifar(dir(g), g.str('train' as const))),
  entry('data.hasCifarDataset', (g) => () => ap.data.hasCifarDataset(dir(g), g.str('train' as const))),
  entry('data.loadImageFolder', (g) => () => ap.data.loadImageFolder(g.path(g.ctx.tmp), g.r.chance(0.5) ? undefined : g.size(3))),
  entry('data.hasImageFolder', (g) => () => ap.data.hasImageFolder(g.path(g.ctx.tmp))),
  entry('data.readIdx', (g) => () => ap.data.readIdx(g.path(join(g.ctx.dataDir, 't10k-labels-idx1-ubyte')))),
  entry('data.decodeImage', (g) => {
    const file = join(g.ctx.tmp, `img-${g.r.u32()}.png`);
    writeFileSync(file, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    return () => ap.data.decodeImage(g.path(file), g.size(3));
  }),
  entry('data.datasetSize', (g) => { const d = dataset(g); return () => ap.data.datasetSize(d); }),
  entry('data.limitDataset', (g) => { const d = dataset(g); return () => ap.data.limitDataset(d, g.r.chance(0.2) ? undefined : g.size(5)); }),
  entry('data.defaultDataDir', () => () => ap.data.defaultDataDir()),
  entry('data.bundledDataDir', () => () => ap.data.bundledDataDir()),
  entry('data.crop', (g) => () => ap.data.crop(image(g), g.index(1), g.index(0), g.size(3), g.size(2), g.r.chance(0.5) ? undefined : g.num(0))),
  entry('data.resize', (g) => () => ap.data.resize(image(g), g.size(7), g.size(3))),
  entry('data.resizeBicubic', (g) => () => ap.data.resizeBicubic(image(g), g.size(7), g.size(3))),
  entry('data.centerCropResize', (g) => () => ap.data.centerCropResize(image(g), g.size(6), g.r.chance(0.3) ? undefined : g.size(32))),
  entry('data.hflip', (g) => () => ap.data.hflip(image(g))),
  entry('data.applyTransforms', (g) => {
    const ts = g.r.chance(0.9) ? [transform(g), transform(g)] : g.wrongType();
    return () => ap.data.applyTransforms(image(g), ts as ap.data.TransformSpec[], rng(g));
  }),
  entry('data.Rng', (g) => { const keys = [g.num(1), g.num(2)]; return () => new ap.data.Rng(...keys).next(); }),
  entry('data.Rng#int', (g) => { const r = new ap.data.Rng(1); return () => r.int(g.size(10)); }),
  entry('data.Rng#uniform', (g) => { const r = new ap.data.Rng(1); return () => r.uniform(g.num(0), g.num(1)); }),
  entry('data.permutation', (g) => () => ap.data.permutation(g.size(10), rng(g))),
  entry('data.DataLoader', (g) => {
    const d = dataset(g);
    const o = g.opts({ batchSize: g.size(4), shuffle: g.bool(true), seed: g.num(1), dropLast: g.bool(true), workers: g.r.chance(0.8) ? 0 : g.size(1), prefetch: g.size(2), decodeAhead: g.size(1), transforms: g.r.chance(0.5) ? [] : [transform(g)] });
    return () => g.own(new ap.data.DataLoader(d, o), (l) => l.close());
  }),
  entry('data.DataLoader#epoch', (g) => {
    const l = loader(g);
    const e = g.size(0), s = g.r.chance(0.5) ? undefined : g.index(1);
    return async () => {
      let n = 0;
      for await (const b of l.epoch(e, s)) if (++n >= 2 || b.index > 100) break;
      return n;
    };
  }),
  entry('data.DataLoader#order', (g) => { const l = loader(g); return () => l.order(g.num(1)); }),
  // ap.evaluation.
  entry('evaluation.corrupt', (g) => {
    const shape: [number, number, number, number] = [2, 6, 6, g.r.pick([1, 3])];
    const imgs = g.mutate() ? g.r.pick<unknown>([floats(5), null, [0.5], new Float64Array(2 * 36)]) : floats(shape.reduce((a, b) => a * b, 1));
    const name = g.str(g.r.pick(ap.evaluation.CORRUPTIONS));
    return () => ap.evaluation.corrupt(imgs as Float32Array, g.shape(shape) as typeof shape, name, g.size(3), g.r.chance(0.5) ? undefined : g.num(1));
  }),
  // ap.report.
  entry('report.plotLines', (g) => {
    const o = g.opts({
      title: g.str('t'), xLabel: g.str('x'), yLabel: g.str('y'), width: g.size(200), height: g.size(150),
      series: g.r.chance(0.8) ? [{ name: g.str('a'), points: [[0, g.num(1)], [1, 2]] as [number, number][] }] : g.wrongType() as ap.report.Series[],
      xRange: g.r.chance(0.7) ? undefined : [g.num(0), g.num(1)] as [number, number], yRange: g.r.chance(0.7) ? undefined : [g.num(1), g.num(0)] as [number, number],
    });
    return () => ap.report.plotLines(g.outPath(join(g.ctx.tmp, `plot-${g.r.u32()}.png`)), o);
  }),
  entry('report.renderPlot', (g) => { const o = g.opts({ series: [{ name: 'a', points: [[g.num(0), 1], [2, g.num(3)]] as [number, number][] }], width: g.size(100), height: g.size(80) }); return () => { ap.report.renderPlot(o); }; }),
  entry('report.niceTicks', (g) => () => ap.report.niceTicks(g.num(0), g.num(1), g.r.chance(0.5) ? undefined : g.size(6), g.r.chance(0.5) ? undefined : g.bool(false))),
  entry('report.formatDuration', (g) => () => ap.report.formatDuration(g.num(75))),
  entry('report.formatRate', (g) => () => ap.report.formatRate(g.num(3.5))),
  entry('report.formatField', (g) => () => ap.report.formatField(g.str('acc'), g.r.chance(0.5) ? g.num(0.5) : g.str('x'))),
  entry('report.Progress', (g) => {
    const sink: ap.report.ProgressStream = { write: () => true, isTTY: g.r.chance(0.5), columns: g.r.chance(0.5) ? undefined : g.size(80) };
    const o = g.opts({ total: g.size(10), label: g.str('x'), stream: g.r.chance(0.9) ? sink : g.wrongType() as ap.report.ProgressStream, interval: g.num(0), ttyInterval: g.num(0), now: g.fn(() => 0) });
    return () => {
      const p = new ap.report.Progress(o);
      p.update(g.index(3), g.r.chance(0.7) ? { loss: g.num(1) } : g.wrongType() as ap.report.Fields);
      p.done();
    };
  }),
];
