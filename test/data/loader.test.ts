import { strict as assert } from 'node:assert';
import * as data from '../../lib/data/index.js';
import { unitFloats } from '../../lib/data/batch.js';

const test = data.limitDataset(data.openDataset(data.bundledDataDir(), 'test'), 300);
const aug: data.TransformSpec[] = [{ name: 'randomCrop', padding: 2 }, { name: 'hflip' }];

async function collect(loader: data.DataLoader, epoch: number, start = 0): Promise<data.Batch[]> {
  const out: data.Batch[] = [];
  for await (const b of loader.epoch(epoch, start)) out.push(b);
  return out;
}

describe('data: loader', () => {
  it('yields every sample once per epoch, in a seeded order with matching labels', async () => {
    const loader = new data.DataLoader(test, { batchSize: 32, seed: 5, workers: 0, dropLast: false });
    const batches = await collect(loader, 0);
    assert.equal(batches.length, loader.length);
    assert.equal(loader.length, 10);
    const seen = new Set<number>();
    for (const b of batches) {
      assert.deepEqual(b.shape.slice(1), [28, 28, 1]);
      b.indices.forEach((idx, i) => { seen.add(idx); assert.equal(b.y[i], test.labels[idx]); });
      const first = b.indices[0]!;
      assert.ok(test.source.kind === 'array');
      assert.equal(b.x[100], Math.fround(test.source.images[first * 784 + 100]! / 255));
    }
    assert.equal(seen.size, 300);
    assert.notDeepEqual([...loader.order(0)], [...loader.order(1)]);
    const other = new data.DataLoader(test, { batchSize: 32, seed: 6, workers: 0 });
    assert.notDeepEqual([...loader.order(0)], [...other.order(0)]);
  });

  it('gives the same batches with 0 or 2 workers, and from a mid-epoch start', async function () {
    this.timeout(60000);
    const inProc = new data.DataLoader(test, { batchSize: 50, seed: 3, workers: 0, transforms: aug });
    const threaded = new data.DataLoader(test, { batchSize: 50, seed: 3, workers: 2, transforms: aug });
    try {
      const a = await collect(inProc, 2);
      const b = await collect(threaded, 2);
      assert.equal(a.length, 6);
      a.forEach((batch, i) => {
        assert.deepEqual(batch.indices, b[i]!.indices);
        assert.deepEqual(batch.x, b[i]!.x);
      });
      const tail = await collect(threaded, 2, 4);
      assert.deepEqual(tail.map((t) => t.index), [4, 5]);
      assert.deepEqual(tail[0]!.x, a[4]!.x);
    } finally {
      threaded.close();
    }
  });

  it("output 'uint8' hands over the bytes of the 'float' batches, transferred from 0 or 2 workers", async function () {
    this.timeout(60000);
    const float = new data.DataLoader(test, { batchSize: 50, seed: 4, workers: 0, transforms: aug });
    const inProc = new data.DataLoader(test, { batchSize: 50, seed: 4, workers: 0, transforms: aug, output: 'uint8' });
    const threaded = new data.DataLoader(test, { batchSize: 50, seed: 4, workers: 2, transforms: aug, output: 'uint8', prefetch: 3 });
    try {
      const [f, a, b] = [await collect(float, 1), await collect(inProc, 1), await collect(threaded, 1)];
      assert.equal(a.length, 6);
      a.forEach((batch, i) => {
        assert.ok(batch.x instanceof Uint8Array && b[i]!.x instanceof Uint8Array);
        // A buffer of its own (moved from the worker, not a view of the dataset).
        assert.equal(b[i]!.x.byteLength, b[i]!.x.buffer.byteLength);
        assert.deepEqual(batch.shape, f[i]!.shape);
        assert.deepEqual(batch.indices, f[i]!.indices);
        assert.deepEqual(batch.x, b[i]!.x);
        assert.deepEqual(unitFloats(batch.x as Uint8Array), f[i]!.x);
      });
    } finally {
      threaded.close();
    }
    assert.throws(() => new data.DataLoader(test, { batchSize: 5, output: 'bytes' as 'uint8' }), (e: any) => e.code === 'ERR_ARG' && /'output' must be one of 'float', 'uint8'/.test(e.message));
  });

  it('rejects batches it cannot fill and bad sizes', () => {
    assert.throws(() => new data.DataLoader(test, { batchSize: 301 }), (e: any) => e.code === 'ERR_ARG' && /cannot fill one batch of 301/.test(e.message));
    assert.throws(() => new data.DataLoader(test, { batchSize: 0 }), (e: any) => e.code === 'ERR_ARG');
  });
});
