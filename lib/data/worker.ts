// A loader worker: holds the dataset (shared memory for array sources) and prepares the batches
// the main thread asks for, one at a time in arrival order.
import { parentPort, workerData } from 'node:worker_threads';
import { prepareBatchAsync, type BatchJob, type BatchOutput } from './batch.js';
import type { ImageDataset } from './dataset.js';
import type { TransformSpec } from './transforms.js';

const { dataset, transforms, seed, strict, output, decodeAhead } = workerData as { dataset: ImageDataset; transforms: TransformSpec[]; seed: number; strict: boolean; output: BatchOutput; decodeAhead: number };

let queue: Promise<void> = Promise.resolve();

parentPort!.on('message', (msg: { id: number; job: BatchJob }) => {
  queue = queue.then(async () => {
    try {
      const out = await prepareBatchAsync(dataset, transforms, seed, msg.job, strict, output, decodeAhead);
      // The batch's buffer is transferred (moved, not copied) to the main thread.
      parentPort!.postMessage({ id: msg.id, x: out.x, shape: out.shape, kept: out.kept, skipped: out.skipped }, [out.x.buffer as ArrayBuffer]);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      parentPort!.postMessage({ id: msg.id, error: { code: err.code ?? 'ERR_INTERNAL', message: err.message ?? String(e) } });
    }
  });
});
