import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import * as data from '../../lib/data/index.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'advprop-data-'));

function idxBytes(dims: number[], body: Uint8Array): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = 0x08; h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, Buffer.from(body)]);
}

describe('data: datasets', () => {
  it('reads the bundled Fashion-MNIST subset (gzipped IDX)', () => {
    const train = data.openDataset(data.bundledDataDir(), 'train');
    const test = data.openDataset(data.bundledDataDir(), 'test');
    assert.equal(data.datasetSize(train), 12000);
    assert.equal(data.datasetSize(test), 2000);
    assert.equal(train.numClasses, 10);
    assert.deepEqual(train.classNames, data.FASHION_MNIST_CLASSES);
    const s = train.source;
    assert.ok(s.kind === 'array' && s.height === 28 && s.width === 28 && s.channels === 1);
    const counts = new Array(10).fill(0);
    for (const l of train.labels) counts[l]++;
    for (const c of counts) assert.ok(c > 1000, `class counts ${counts}`); // the subset is not one class
  });

  it('reads plain and gzipped IDX files and rejects corrupt ones with ERR_FORMAT', () => {
    const dir = tmp();
    const px = Uint8Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 7);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idxBytes([3, 2, 2], px));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes([3], Uint8Array.of(2, 0, 1))));
    const d = data.loadIdxDataset(dir, 'train', 'mnist');
    assert.deepEqual([...d.labels], [2, 0, 1]);
    assert.ok(d.source.kind === 'array');
    assert.deepEqual([...d.source.images], [...px]);

    const bad = join(dir, 'bad');
    writeFileSync(bad, idxBytes([3, 2, 2], px).subarray(0, 20));
    assert.throws(() => data.readIdx(bad), (e: any) => e.code === 'ERR_FORMAT' && /need 28 bytes, file has 20/.test(e.message));
    writeFileSync(bad, Buffer.from('PK\x03\x04 not idx'));
    assert.throws(() => data.readIdx(bad), (e: any) => e.code === 'ERR_FORMAT' && /not an IDX file/.test(e.message));
    writeFileSync(bad, Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    assert.throws(() => data.readIdx(bad), (e: any) => e.code === 'ERR_FORMAT' && /gzip/.test(e.message));
    assert.throws(() => data.openDataset(join(dir, 'missing'), 'train'), (e: any) => e.code === 'ERR_IO');
  });

  it('reads CIFAR-10 binary batches into HWC', () => {
    const dir = tmp();
    const rec = (label: number, seed: number): Buffer => {
      const b = Buffer.alloc(1 + 3072);
      b[0] = label;
      for (let i = 0; i < 3072; i++) b[1 + i] = (i * 31 + seed) & 0xff;
      return b;
    };
    for (let f = 1; f <= 5; f++) writeFileSync(join(dir, `data_batch_${f}.bin`), Buffer.concat([rec(f, f), rec(9, 100 + f)]));
    writeFileSync(join(dir, 'test_batch.bin'), rec(3, 7));
    const d = data.openDataset(dir, 'train');
    assert.equal(d.name, 'cifar-10');
    assert.deepEqual([...d.labels], [1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    assert.ok(d.source.kind === 'array');
    // pixel (y=1, x=2), channel G of image 0: plane G starts at 1024, pixel index 1*32+2
    const p = 1 * 32 + 2;
    assert.equal(d.source.images[p * 3 + 1], ((1024 + p) * 31 + 1) & 0xff);
    assert.equal(data.datasetSize(data.openDataset(dir, 'test')), 1);
    writeFileSync(join(dir, 'test_batch.bin'), Buffer.alloc(100));
    assert.throws(() => data.loadCifar(dir, 'test'), (e: any) => e.code === 'ERR_FORMAT' && /3073-byte/.test(e.message));
  });

  it('reads a folder of class subfolders with PNG and JPEG images', () => {
    const root = tmp();
    for (const cls of ['cat', 'dog']) mkdirSync(join(root, 'train', cls), { recursive: true });
    const png = new PNG({ width: 3, height: 2 });
    for (let i = 0; i < 6; i++) png.data.set([10 * i, 20 * i, 30 * i, 255], 4 * i);
    writeFileSync(join(root, 'train', 'cat', 'a.png'), PNG.sync.write(png));
    const rgba = Buffer.alloc(8 * 8 * 4, 128);
    writeFileSync(join(root, 'train', 'dog', 'b.jpg'), jpeg.encode({ data: rgba, width: 8, height: 8 }, 95).data);
    writeFileSync(join(root, 'train', 'dog', 'notes.txt'), 'ignored');
    const d = data.openDataset(root, 'train');
    assert.deepEqual(d.classNames, ['cat', 'dog']);
    assert.deepEqual([...d.labels], [0, 1]);
    assert.ok(d.source.kind === 'files');
    const img = data.decodeImage(d.source.paths[0]!, 3);
    assert.deepEqual([img.height, img.width], [2, 3]);
    assert.deepEqual([...img.data.subarray(3, 6)], [10, 20, 30]);
    const j = data.decodeImage(d.source.paths[1]!, 1);
    assert.ok(Math.abs(j.data[0]! - 128) <= 2, `jpeg grey ${j.data[0]}`);
    writeFileSync(join(root, 'train', 'dog', 'c.png'), readFileSync(join(root, 'train', 'cat', 'a.png')).subarray(0, 20));
    assert.throws(() => data.decodeImage(join(root, 'train', 'dog', 'c.png'), 3), (e: any) => e.code === 'ERR_FORMAT');
    assert.throws(() => data.openDataset(root, 'test'), (e: any) => e.code === 'ERR_IO' && /val\/ or test\//.test(e.message));
  });
});
