// What the cases share: a tiny EfficientNet, a tiny IDX dataset and a few files, made once per
// worker in its own scratch folder.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ap from '../../lib/index.js';
import type { FuzzContext, Gen } from './gen.js';

/** Two short stages: a whole forward, backward and attack take milliseconds on every backend. */
export const TINY_STAGES: ap.models.StageArgs[] = [
  { repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 8, outFilters: 8, seRatio: 0.25 },
  { repeats: 1, kernel: 3, stride: 2, expand: 2, inFilters: 8, outFilters: 8, seRatio: 0.25 },
];
export const TINY: ap.models.BuildOptions = { width: 1, depth: 1, stages: TINY_STAGES, stemFilters: 8, headFilters: 16, numClasses: 10, inChannels: 1 };
/** Images of the tiny dataset (and of the tiny model's inputs): 8×8 grey. */
export const SIDE = 8;

export function tinyModel(g: Gen, o: { domains?: number; device?: string } = {}): ap.models.EfficientNet {
  const m = ap.models.efficientnet('b0', { ...TINY, domains: o.domains ?? 2, device: o.device ?? g.device, seed: 1 });
  return g.own(m, (x) => x.dispose());
}

function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt8(0x08, 2);
  head.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

export function makeContext(): FuzzContext {
  const tmp = mkdtempSync(join(tmpdir(), 'advprop-fuzz-'));
  const dataDir = join(tmp, 'data');
  mkdirSync(dataDir);
  for (const [prefix, n] of [['train', 16], ['t10k', 8]] as const) {
    const images = Uint8Array.from({ length: n * SIDE * SIDE }, (_, i) => (i * 37) % 256);
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 4);
    writeFileSync(join(dataDir, `${prefix}-images-idx3-ubyte`), idx([n, SIDE, SIDE], images));
    writeFileSync(join(dataDir, `${prefix}-labels-idx1-ubyte`), idx([n], labels));
  }
  const junkFile = join(tmp, 'junk.txt');
  writeFileSync(junkFile, 'not a safetensors file\n');
  const devices = ap.devices().filter((d) => d.available && (d.type === 'cpu' || d.type === 'cuda-sim')).map((d) => d.device);
  const stFile = join(tmp, 'tiny.safetensors');
  const m = ap.models.efficientnet('b0', { ...TINY, domains: 2, device: 'cpu', seed: 1 });
  ap.io.saveModel(stFile, m);
  m.dispose();
  const runDir = join(tmp, 'run');
  mkdirSync(runDir);
  const config = { model: 'b0', width: 0.1, depth: 0.1, numClasses: 10, inChannels: 1, method: 'advprop', data: dataDir, bnMomentum: 0.9 };
  const small = ap.models.efficientnet('b0', { width: 0.1, depth: 0.1, numClasses: 10, inChannels: 1, domains: 2, bnMomentum: 0.9, device: 'cpu', seed: 1 });
  const trainer = new ap.train.Trainer(small, { epochs: 1, stepsPerEpoch: 1 });
  ap.train.saveCheckpoint(join(runDir, 'last.safetensors'), trainer, { epoch: 1, batch: 0 }, config);
  trainer.dispose();
  small.dispose();
  return { devices, root: tmp, tmp, dataDir, stFile, junkFile, runDir };
}
