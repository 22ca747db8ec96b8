// The loader on image files: batches the same whatever the number of workers, corrupt files left
// out with a warning (or ERR_FORMAT with strict), and the evaluation set decoded once.
import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as data from '../../lib/data/index.js';
import { imageEvalTransforms, imageTrainTransforms } from '../../lib/data/efficientnet_transforms.js';
import { decodeDataset } from '../../lib/data/materialize.js';
import { collect } from './collect.js';
import { writeImageFolder } from './images.js';


describe('data: loader on image files', function () {
  this.timeout(60000);
  const root = mkdtempSync(join(tmpdir(), 'advprop-files-'));
  let paths: string[] = [];
  before(async () => { paths = await writeImageFolder(root, 'train', ['a', 'b', 'c'], 8); });

  it('gives identical batches with 0, 1 and 2 workers (seeded per seed, epoch and index)', async () => {
    const ds = data.openDataset(root, 'train');
    assert.equal(data.datasetSize(ds), 24);
    for (const augment of ['autoaugment', 'randaugment'] as const) {
      const transforms = imageTrainTransforms(augment, 24);
      const runs = [];
      for (const workers of [0, 1, 2]) runs.push(await collect(new data.DataLoader(ds, { batchSize: 5, seed: 9, workers, transforms }), 1));
      const [a, b, c] = runs;
      assert.equal(a!.length, 4);
      a!.forEach((batch, i) => {
        assert.deepEqual(batch.shape, [5, 24, 24, 3]);
        for (const other of [b!, c!]) {
          assert.deepEqual(other[i]!.indices, batch.indices);
          assert.deepEqual(other[i]!.y, batch.y);
          assert.deepEqual(other[i]!.x, batch.x, `${augment}: batch ${i} differs between worker counts`);
        }
      });
      // Another epoch draws other crops.
      const next = await collect(new data.DataLoader(ds, { batchSize: 5, seed: 9, workers: 0, transforms, shuffle: false }), 2);
      const same = await collect(new data.DataLoader(ds, { batchSize: 5, seed: 9, workers: 0, transforms, shuffle: false }), 1);
      assert.notDeepEqual(next[0]!.x, same[0]!.x);
    }
  });

  it('leaves a corrupt file out of its batch with one warning naming it; strict stops with ERR_FORMAT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-corrupt-'));
    const files = await writeImageFolder(dir, 'train', ['a', 'b'], 6, ['jpeg', 'png']);
    const bad = files[3]!;
    writeFileSync(bad, Buffer.from('this is not a JPEG'));
    const ds = data.openDataset(dir, 'train');
    const badIndex = (ds.source as data.FileSource).paths.indexOf(bad);
    const transforms = imageTrainTransforms('basic', 16);
    // The byte batches (output 'uint8') leave the file out the same way.
    for (const [workers, output] of [[0, 'float'], [2, 'float'], [2, 'uint8']] as const) {
      const warnings: string[] = [];
      const loader = new data.DataLoader(ds, { batchSize: 4, seed: 1, workers, transforms, dropLast: false, output, onSkip: (p, m) => warnings.push(`${p}: ${m}`) });
      const batches: data.Batch[] = [];
      for (let epoch = 0; epoch < 2; epoch++) for await (const b of loader.epoch(epoch)) batches.push(b);
      loader.close();
      assert.equal(loader.skipped, 1);
      assert.equal(warnings.length, 1, 'one warning per file, not per epoch');
      assert.ok(warnings[0]!.startsWith(bad) && /cannot decode/.test(warnings[0]!), warnings[0]);
      const seen = batches.flatMap((b) => [...b.indices]);
      assert.equal(seen.length, 2 * 11);
      assert.ok(!seen.includes(badIndex));
      for (const b of batches) {
        assert.equal(b.shape[0], b.indices.length);
        assert.equal(b.x.length, b.indices.length * 16 * 16 * 3);
        assert.ok(output === 'uint8' ? b.x instanceof Uint8Array : b.x instanceof Float32Array);
        b.indices.forEach((idx, i) => assert.equal(b.y[i], ds.labels[idx]));
      }
    }
    // The default warning goes to stderr.
    const logged: string[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => { logged.push(a.join(' ')); };
    try {
      await collect(new data.DataLoader(ds, { batchSize: 4, seed: 1, workers: 0, transforms }), 0);
    } finally {
      console.warn = warn;
    }
    assert.ok(logged.some((l) => l.includes(bad)), logged.join('\n'));
    for (const workers of [0, 1]) {
      const strict = new data.DataLoader(ds, { batchSize: 12, seed: 1, workers, transforms, strict: true });
      await assert.rejects(collect(strict, 0), (e: any) => e.code === 'ERR_FORMAT' && e.message.includes(bad));
    }
  });

  it('strict: a failure in a batch prefetched past the last one consumed is no unhandled rejection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-prefetch-'));
    const files = await writeImageFolder(dir, 'train', ['a', 'b'], 4, ['png']);
    const ds = data.openDataset(dir, 'train');
    // Unshuffled batches of 2: the corrupt file is in batch 2, which batch 0's prefetch prepares.
    const bad = (ds.source as data.FileSource).paths[4]!;
    writeFileSync(bad, Buffer.from('not a PNG'));
    const transforms = imageTrainTransforms('basic', 8);
    const unhandled: unknown[] = [];
    const listen = (e: unknown) => { unhandled.push(e); };
    process.on('unhandledRejection', listen);
    try {
      for (const workers of [0, 1]) {
        const loader = new data.DataLoader(ds, { batchSize: 2, shuffle: false, workers, prefetch: 2, transforms, strict: true });
        let consumed = 0;
        for await (const b of loader.epoch(0)) {
          consumed += b.indices.length;
          // The prefetched batches settle (batch 2 rejects) while batch 0 is in use.
          await new Promise((r) => setTimeout(r, 500));
          break;
        }
        loader.close();
        assert.equal(consumed, 2);
        // Consumed, the same batch still stops the epoch with ERR_FORMAT naming the file.
        const again = new data.DataLoader(ds, { batchSize: 2, shuffle: false, workers, transforms, strict: true });
        await assert.rejects(collect(again, 0), (e: any) => e.code === 'ERR_FORMAT' && e.message.includes(bad));
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', listen);
    }
  });

  it('decodes an evaluation set once: centre crops at the resolution, labels kept', async () => {
    const ds = data.openDataset(root, 'train');
    const arr = await decodeDataset(ds, imageEvalTransforms(20), { limit: 10, workers: 2 });
    assert.equal(arr.source.kind, 'array');
    const s = arr.source as data.ArraySource;
    assert.deepEqual([s.height, s.width, s.channels], [20, 20, 3]);
    assert.deepEqual([...arr.labels], [...ds.labels.subarray(0, 10)]);
    const first = data.centerCropResize((await import('../../lib/data/sharp_decode.js').then((m) => m.decodeFile(paths[0]!, 3))).image, 20, 32);
    assert.deepEqual(s.images.subarray(0, 20 * 20 * 3), first.data);
  });
});
