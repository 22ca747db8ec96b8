// Decoding ahead (LoaderOptions.decodeAhead): a worker keeps several decodes in flight while it
// transforms one image, and the batches, skips and strict failures are those of one at a time.
import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as data from '../../lib/data/index.js';
import { imageTrainTransforms } from '../../lib/data/efficientnet_transforms.js';
import { collect } from './collect.js';
import { writeImageFolder } from './images.js';
import { expectCode } from '../helpers.js';

describe('data: decoding ahead', function () {
  this.timeout(60000);

  it('gives the same batches and the same skips for decodeAhead 0, 1 and 5, in-process and in workers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-ahead-'));
    const files = await writeImageFolder(dir, 'train', ['a', 'b', 'c'], 5, ['jpeg', 'png']);
    writeFileSync(files[4]!, Buffer.from('not an image'));
    writeFileSync(files[5]!, Buffer.from('not one either'));
    const ds = data.openDataset(dir, 'train');
    const transforms = imageTrainTransforms('autoaugment', 20);
    const runs: Array<{ batches: data.Batch[]; skipped: string[] }> = [];
    for (const [workers, decodeAhead] of [[0, 0], [0, 1], [0, 5], [1, 0], [2, 5]] as const) {
      const skipped: string[] = [];
      const loader = new data.DataLoader(ds, { batchSize: 4, seed: 3, workers, transforms, decodeAhead, dropLast: false, onSkip: (p) => skipped.push(p) });
      runs.push({ batches: await collect(loader, 1), skipped: skipped.sort() });
    }
    const [ref, ...others] = runs;
    assert.equal(ref!.skipped.length, 2);
    for (const r of others) {
      assert.deepEqual(r.skipped, ref!.skipped);
      assert.equal(r.batches.length, ref!.batches.length);
      r.batches.forEach((b, i) => {
        assert.deepEqual(b.indices, ref!.batches[i]!.indices);
        assert.deepEqual(b.x, ref!.batches[i]!.x, `batch ${i}`);
      });
    }
    for (const decodeAhead of [0, 3]) {
      const strict = new data.DataLoader(ds, { batchSize: 15, seed: 3, workers: 0, transforms, strict: true, decodeAhead });
      await assert.rejects(collect(strict, 0), (e: any) => e.code === 'ERR_FORMAT' && files.slice(4, 6).some((f) => e.message.includes(f)));
    }
  });

  it('decodeAhead must be an integer 0..64', () => {
    const ds: data.ImageDataset = { name: 'tiny', source: { kind: 'array', images: new Uint8Array(4 * 2 * 2 * 1), height: 2, width: 2, channels: 1 }, labels: new Int32Array(4), numClasses: 1 };
    for (const bad of [-1, 1.5, 65, 'x'])
      expectCode(() => new data.DataLoader(ds, { batchSize: 2, decodeAhead: bad as number }), 'ERR_ARG', /DataLoader: .*decodeAhead/);
  });
});
