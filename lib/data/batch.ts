// Turns a list of sample indices into one float batch: decode (file sources), transform with the
// sample's own Rng, scale bytes to [0, 1]. Runs in loader workers and, with workers: 0, in-process.
import { AdvpropError } from '../errors.js';
import type { ImageDataset } from './dataset.js';
import { decodeImage } from './decode.js';
import { Rng } from './rng.js';
import { applyTransforms, type Image, type TransformSpec } from './transforms.js';

export interface BatchJob { epoch: number; indices: Int32Array }
export interface PreparedBatch { x: Float32Array; shape: [number, number, number, number] }

export function loadImage(d: ImageDataset, index: number): Image {
  const s = d.source;
  if (s.kind === 'files') return decodeImage(s.paths[index]!, s.channels);
  const size = s.height * s.width * s.channels;
  return { data: s.images.subarray(index * size, (index + 1) * size), height: s.height, width: s.width, channels: s.channels };
}

export function prepareBatch(d: ImageDataset, transforms: readonly TransformSpec[], seed: number, job: BatchJob): PreparedBatch {
  let x: Float32Array | null = null;
  let shape: [number, number, number, number] = [job.indices.length, 0, 0, 0];
  job.indices.forEach((index, i) => {
    const img = applyTransforms(loadImage(d, index), transforms, new Rng(seed, job.epoch, index));
    if (x === null) {
      shape = [job.indices.length, img.height, img.width, img.channels];
      x = new Float32Array(job.indices.length * img.data.length);
    } else if (img.height !== shape[1] || img.width !== shape[2] || img.channels !== shape[3]) {
      throw new AdvpropError('ERR_SHAPE',
        `loader: sample ${index} is ${img.height}×${img.width}×${img.channels} after transforms, the batch is ${shape[1]}×${shape[2]}×${shape[3]}; add a 'resize' or crop transform`);
    }
    const off = i * img.data.length;
    for (let k = 0; k < img.data.length; k++) x![off + k] = img.data[k]! / 255;
  });
  return { x: x ?? new Float32Array(0), shape };
}
