// Two builds of this library and onnxruntime-node timed on the same B0 eval forward in one process,
// taking turns iteration by iteration, so that load from elsewhere on a shared machine hits all
// three alike (bench/infer.ts times them one after another, minutes apart). Each tree is a
// checkout with its own build/Release/advprop.node; the default new tree is this one.
//   node --import tsx bench/infer_ab.ts --old /path/to/old-checkout [--new .] [--iters 20] [--runs 5]
// B0 224, batch 8, 1000 classes, fp32, fused path; onnxruntime gets the new tree's model exported
// with BN folded (NHWC), as bench/infer.ts does. Prints per run: the medians and their ratios.
// onnxruntime runs last in each round and the next round waits 30 ms after it: its pool threads
// spin for 10 to 20 ms after a run (its default, which it is timed with), and a forward of ours
// started inside that window shared the two cores with them (49 ms instead of 39,
// bench/RESULTS.md). Ours run back to back, as onnxruntime's own runs do in a serving loop.
import { parseArgs } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({
  options: { old: { type: 'string' }, new: { type: 'string', default: '.' }, iters: { type: 'string', default: '20' },
    runs: { type: 'string', default: '5' } },
});
if (!values.old) throw new Error('--old: the checkout of the build to compare against');
const iters = Number(values.iters), runs = Number(values.runs), batch = 8, size = 224;
type Lib = typeof import('../lib/index.js');
const load = async (dir: string): Promise<Lib> => import(pathToFileURL(join(resolve(dir), 'lib/index.ts')).href) as Promise<Lib>;
const [oldLib, newLib] = [await load(values.old), await load(values.new!)];
const ort = (await import('onnxruntime-node' as string)) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

const x = new Float32Array(batch * size * size * 3);
for (let i = 0, s = 1; i < x.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; x[i] = (s / 4294967296) * 2 - 1; }
const forwardOf = (ap: Lib) => {
  const model = ap.models.efficientnet('b0', { numClasses: 1000, domains: 2, seed: 1, device: 'cpu' });
  model.eval();
  const input = ap.tensor(x, [batch, size, size, 3], { device: 'cpu' });
  return { model, run: () => ap.tidy(() => ap.noGrad(() => { model.forward(input, { fuse: true }); })) };
};
const oldF = forwardOf(oldLib), newF = forwardOf(newLib);
const onnxFile = join(mkdtempSync(join(tmpdir(), 'advprop-ab-')), 'b0.onnx');
newLib.io.exportOnnx(newF.model, onnxFile, { resolution: size, layout: 'nhwc', foldBn: true });
const session = await ort.InferenceSession.create(onnxFile, {
  intraOpNumThreads: newLib.buildInfo().threads, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all',
});
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [batch, size, size, 3]) };

const median = (v: number[]): number => v.slice().sort((a, b) => a - b)[v.length >> 1];
for (let r = 0; r < runs; r++) {
  const ts: Record<string, number[]> = { old: [], new: [], onnx: [] };
  const l0 = loadavg()[0];
  for (let i = 0; i < iters + 3; i++)
    for (const k of i % 2 ? ['new', 'old', 'onnx'] : ['old', 'new', 'onnx']) {
      if (k === 'old' || (k === 'new' && i % 2)) await new Promise((r) => setTimeout(r, 30));
      const t0 = performance.now();
      if (k === 'old') oldF.run();
      else if (k === 'new') newF.run();
      else await session.run(feeds);
      if (i >= 3) ts[k].push(performance.now() - t0);
    }
  const [o, n, e] = [median(ts.old), median(ts.new), median(ts.onnx)];
  console.log(`${new Date().toISOString().slice(11, 19)} UTC load ${l0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}: old ${o.toFixed(1)} ms, ` +
    `new ${n.toFixed(1)} ms, onnxruntime ${e.toFixed(1)} ms; new/old ${(n / o).toFixed(3)}, old/onnx ${(o / e).toFixed(2)}, new/onnx ${(n / e).toFixed(2)}`);
}
