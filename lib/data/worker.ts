// A loader worker: holds the dataset (shared memory for array sources) and prepares the batches
// the main thread asks for.
import { parentPort, workerData } from 'node:worker_threads';
import { prepareBatch, type BatchJob } from './batch.js';
import type { ImageDataset } from './dataset.js';
import type { TransformSpec } from './transforms.js';

const { dataset, transforms, seed } = workerData as { dataset: ImageDataset; transforms: TransformSpec[]; seed: number };

parentPort!.on('message', (msg: { id: number; job: BatchJob }) => {
  try {
    const out = prepareBatch(dataset, transforms, seed, msg.job);
    parentPort!.postMessage({ id: msg.id, x: out.x, shape: out.shape }, [out.x.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    parentPort!.postMessage({ id: msg.id, error: { code: err.code ?? 'ERR_INTERNAL', message: err.message ?? String(e) } });
  }
});
