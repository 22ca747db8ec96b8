// A file dataset decoded and transformed once into memory (an array source), through the loader's
// workers: the training run's evaluation set, which every epoch's evaluation reads again.
import { AdvpropError } from '../errors.js';
import { checkDataset, limitDataset, type ImageDataset } from './dataset.js';
import { DataLoader, type LoaderOptions } from './loader.js';
import type { TransformSpec } from './transforms.js';

export async function decodeDataset(d: ImageDataset, transforms: TransformSpec[],
  options: Pick<LoaderOptions, 'workers' | 'strict' | 'onSkip'> & { limit?: number } = {}): Promise<ImageDataset> {
  checkDataset(d, 'decodeDataset');
  if (d.source.kind === 'array' && transforms.length === 0) return limitDataset(d, options.limit);
  const src = limitDataset(d, options.limit);
  const loader = new DataLoader(src, { batchSize: Math.min(64, src.labels.length), shuffle: false, dropLast: false, transforms,
    workers: options.workers, strict: options.strict, onSkip: options.onSkip, output: 'uint8' });
  const parts: Uint8Array[] = [];
  const labels: number[] = [];
  let shape: number[] = [];
  try {
    for await (const b of loader.epoch(0)) {
      shape = b.shape;
      parts.push(b.x as Uint8Array);
      labels.push(...b.y);
    }
  } finally {
    loader.close();
  }
  if (labels.length === 0) throw new AdvpropError('ERR_FORMAT', `${d.name}: none of ${src.labels.length} images could be decoded`);
  const images = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { images.set(p, off); off += p.length; }
  return {
    name: d.name, numClasses: d.numClasses, classNames: d.classNames, labels: Int32Array.from(labels),
    source: { kind: 'array', images, height: shape[1]!, width: shape[2]!, channels: shape[3]! },
  };
}
