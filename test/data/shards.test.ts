// WebDataset tar shards: the tar reader (long names, checksums, truncation), indexing into samples,
// every sample decoding to its generated pattern, and the loader's shard-order shuffling:
// deterministic per (seed, epoch), each sample once, the same with any worker count, ranks disjoint.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import * as data from '../../lib/data/index.js';
import { imageTrainTransforms } from '../../lib/data/efficientnet_transforms.js';
import { prepareBatchAsync } from '../../lib/data/batch.js';
import { listTar } from '../../lib/data/tar.js';
import { shardPermutation } from '../../lib/data/rng.js';
import { collect } from './collect.js';
import { encode, pattern } from './images.js';
import { tarBytes, writeShards, type ShardSample } from './tars.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'advprop-shards-'));


const isFormat = (file: string, offset: RegExp) => (e: any) =>
  e.code === 'ERR_FORMAT' && e.message.includes(file) && offset.test(e.message);

describe('data: tar reader', () => {
  const dir = tmp();
  const long = `${'deep/'.repeat(30)}name.jpg`;

  it('lists regular files with their offsets, long names in GNU, pax and ustar-prefix form, and skips the rest', () => {
    const file = join(dir, 'a.tar');
    writeFileSync(file, tarBytes([
      { name: 'dir/', type: '5' },
      { name: 'a.txt', data: Buffer.from('hello') },
      { name: 'link', type: '2' },
      { name: long, data: Buffer.from('gnu'), long: 'gnu' },
      { name: long.replace('name', 'pax'), data: Buffer.from('pax!'), long: 'pax' },
      { name: long.replace('name', 'ustar'), data: Buffer.alloc(700, 7), long: 'prefix' },
      { name: 'sized.bin', data: Buffer.from('12345'), paxSize: true },
    ]));
    const bytes = readFileSync(file);
    const m = listTar(file, (n) => n.endsWith('.txt'));
    assert.deepEqual(m.map((x) => x.name), ['a.txt', long, long.replace('name', 'pax'), long.replace('name', 'ustar'), 'sized.bin']);
    assert.deepEqual(m.map((x) => x.size), [5, 3, 4, 700, 5]);
    assert.equal(m[0]!.data!.toString(), 'hello');
    assert.equal(m[1]!.data, undefined);
    for (const x of m) assert.deepEqual(bytes.subarray(x.offset, x.offset + x.size), [Buffer.from('hello'), Buffer.from('gnu'), Buffer.from('pax!'), Buffer.alloc(700, 7), Buffer.from('12345')][m.indexOf(x)]);
  });

  it('reads the archives GNU tar writes in its gnu, pax, ustar and v7 formats (skipped without tar)', function () {
    if (spawnSync('tar', ['--version']).status !== 0) {
      console.log('    (no tar command: skipped)');
      this.skip();
    }
    const src = join(dir, 'src');
    const files: Record<string, Buffer> = {
      'short.cls': Buffer.from('3'),
      [`${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(30)}.jpg`]: Buffer.alloc(1000, 9),
      'empty.txt': Buffer.alloc(0),
    };
    for (const [name, bytes] of Object.entries(files)) {
      mkdirSync(dirname(join(src, name)), { recursive: true });
      writeFileSync(join(src, name), bytes);
    }
    for (const format of ['gnu', 'pax', 'ustar', 'v7']) {
      const names = Object.keys(files).filter((n) => format !== 'v7' || n.length < 100);
      const file = join(dir, `${format}.tar`);
      const r = spawnSync('tar', ['-cf', file, `--format=${format}`, '-C', src, ...names], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const bytes = readFileSync(file);
      const m = listTar(file);
      assert.deepEqual(m.map((x) => x.name), names, format);
      for (const x of m) assert.deepEqual(bytes.subarray(x.offset, x.offset + x.size), files[x.name], `${format}: ${x.name}`);
    }
  });

  it('refuses a bad checksum, a truncated archive and a non-tar with ERR_FORMAT naming the file and offset', () => {
    const good = tarBytes([{ name: 'x.jpg', data: Buffer.alloc(600, 1) }, { name: 'x.cls', data: Buffer.from('1') }]);
    const write = (name: string, b: Buffer): string => { const f = join(dir, name); writeFileSync(f, b); return f; };
    const flipped = Buffer.from(good);
    flipped[1024 + 512 + 3] ^= 0x20; // the second header's name
    let f = write('sum.tar', flipped);
    assert.throws(() => listTar(f), isFormat(f, /checksum mismatch at byte offset 1536/));
    f = write('cut-data.tar', good.subarray(0, 900));
    assert.throws(() => listTar(f), isFormat(f, /past the end of the file.* at byte offset 0/));
    f = write('cut-header.tar', good.subarray(0, 1536 + 100));
    assert.throws(() => listTar(f), isFormat(f, /truncated header at byte offset 1536/));
    f = write('no-end.tar', good.subarray(0, 2560));
    assert.throws(() => listTar(f), isFormat(f, /without the end-of-archive block at byte offset 2560/));
    f = write('junk.tar', Buffer.alloc(2048, 0x41));
    assert.throws(() => listTar(f), isFormat(f, /at byte offset 0/));
    assert.throws(() => listTar(join(dir, 'absent.tar')), (e: any) => e.code === 'ERR_IO');
  });
});

describe('data: WebDataset shards', function () {
  this.timeout(120000);
  const root = tmp();
  let samples: ShardSample[] = [];
  before(async () => {
    samples = await writeShards(join(root, 'train'), 3, 7, 4);
    await writeShards(join(root, 'val'), 1, 5, 4);
  });

  it('indexes each shard into samples (key.jpg/png + key.cls) with labels and a class count from the data', () => {
    const ds = data.openDataset(root, 'train');
    const s = ds.source as data.TarSource;
    assert.equal(s.kind, 'tar');
    assert.equal(s.shards.length, 3);
    assert.deepEqual([...s.starts], [0, 7, 14, 21]);
    assert.deepEqual([...ds.labels], samples.map((x) => x.label));
    assert.equal(ds.numClasses, 4);
    assert.equal(ds.classNames, undefined);
    assert.deepEqual(s.names, samples.map((x) => `${x.key}.${x.kind === 'png' ? 'png' : 'jpg'}`));
    assert.equal(data.datasetSize(data.openDataset(root, 'test')), 5);
    // classes.txt names the classes (and sets their count).
    writeFileSync(join(root, 'classes.txt'), 'ant\nbee\ncat\ndog\nelk\n');
    try {
      const named = data.openDataset(root, 'train');
      assert.equal(named.numClasses, 5);
      assert.deepEqual(named.classNames, ['ant', 'bee', 'cat', 'dog', 'elk']);
      writeFileSync(join(root, 'classes.txt'), 'ant\nbee\n');
      assert.throws(() => data.openDataset(root, 'train'), (e: any) => e.code === 'ERR_FORMAT' && /names 2 classes/.test(e.message));
    } finally {
      writeFileSync(join(root, 'classes.txt'), '');
    }
    assert.throws(() => data.openDataset(root, 'train'), (e: any) => e.code === 'ERR_FORMAT' && /no class names/.test(e.message));
    writeFileSync(join(root, 'classes.txt'), 'ant\nbee\ncat\ndog\n');
    // --limit keeps whole shards and then part of the next.
    const lim = data.limitDataset(ds, 10).source as data.TarSource;
    assert.deepEqual([...lim.starts], [0, 7, 10]);
    assert.equal(lim.shards.length, 2);
  });

  it('decodes every sample to its generated pattern', async () => {
    const ds = data.openDataset(root, 'train');
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i]!;
      const b = await prepareBatchAsync(ds, [], 0, { epoch: 0, indices: Int32Array.of(i) }, true);
      assert.deepEqual(b.shape, [1, x.height, x.width, 3]);
      const want = pattern(x.width, x.height, x.seed);
      let max = 0;
      for (let k = 0; k < want.length; k++) max = Math.max(max, Math.abs(Math.round(b.x[k]! * 255) - want[k]!));
      assert.ok(max <= (x.kind === 'png' ? 0 : 6), `sample ${i} (${x.kind}): max difference ${max}`);
    }
    // The synchronous path (evaluateModel's) reads the same bytes.
    const { loadImage } = await import('../../lib/data/batch.js');
    assert.deepEqual(loadImage(ds, 1).data, pattern(samples[1]!.width, samples[1]!.height, samples[1]!.seed));
  });

  it('gives identical batches with 0, 1 and 2 workers', async () => {
    const ds = data.openDataset(root, 'train');
    const transforms = imageTrainTransforms('autoaugment', 20);
    const runs = [];
    for (const workers of [0, 1, 2]) runs.push(await collect(new data.DataLoader(ds, { batchSize: 4, seed: 5, workers, transforms }), 1));
    const [a, b, c] = runs;
    assert.equal(a!.length, 5);
    a!.forEach((batch, i) => {
      for (const other of [b!, c!]) {
        assert.deepEqual(other[i]!.indices, batch.indices);
        assert.deepEqual(other[i]!.y, batch.y);
        assert.deepEqual(other[i]!.x, batch.x, `batch ${i} differs between worker counts`);
      }
      batch.indices.forEach((idx, k) => assert.equal(batch.y[k], ds.labels[idx]));
    });
  });

  it('orders an epoch shard by shard: deterministic per (seed, epoch), each sample once, other epochs differ', () => {
    const ds = data.openDataset(root, 'train');
    const order = (seed: number, epoch: number): number[] => [...new data.DataLoader(ds, { batchSize: 2, seed, workers: 0 }).order(epoch)];
    assert.deepEqual(order(3, 0), order(3, 0));
    assert.notDeepEqual(order(3, 0), order(3, 1));
    assert.notDeepEqual(order(3, 0), order(4, 0));
    for (const o of [order(3, 0), order(3, 1)]) assert.deepEqual([...o].sort((x, y) => x - y), samples.map((_, i) => i));
    // Unshuffled: archive order.
    assert.deepEqual([...new data.DataLoader(ds, { batchSize: 2, shuffle: false, workers: 0 }).order(0)], samples.map((_, i) => i));
    // Window 1: whole shards, each front to back, in a seeded shard order.
    const starts = Int32Array.of(0, 50, 120, 200, 260);
    const whole = shardPermutation(starts, new data.Rng(1, 2), 1);
    const runs: number[][] = [];
    for (const i of whole) if (runs.length && runs.at(-1)!.at(-1)! + 1 === i) runs.at(-1)!.push(i); else runs.push([i]);
    assert.deepEqual(runs.map((r) => r[0]).sort((x, y) => x - y), [0, 50, 120, 200]);
    assert.deepEqual(runs.map((r) => r.length).sort((x, y) => x - y), [50, 60, 70, 80]);
    // Window w: every sample is emitted within w of the read position in the shard stream.
    const shardOrder = data.permutation(4, new data.Rng(1, 2));
    const stream = [...shardOrder].flatMap((s) => Array.from({ length: starts[s + 1]! - starts[s]! }, (_, i) => starts[s]! + i));
    const pos = new Map(stream.map((v, i) => [v, i]));
    const w = 16, windowed = shardPermutation(starts, new data.Rng(1, 2), w);
    assert.deepEqual([...windowed].sort((x, y) => x - y), stream.slice().sort((x, y) => x - y));
    windowed.forEach((v, k) => assert.ok(pos.get(v)! < k + w, `output ${k} read stream position ${pos.get(v)}`));
    assert.notDeepEqual([...windowed], stream, 'the window shuffles');
  });

  it('gives data-parallel ranks disjoint parts of each global batch', async () => {
    const ds = data.openDataset(root, 'train');
    const transforms: data.TransformSpec[] = [{ name: 'resize', size: 8 }];
    const whole = await collect(new data.DataLoader(ds, { batchSize: 6, seed: 2, workers: 0, transforms }), 0);
    const ranks = await Promise.all([0, 1].map((rank) => collect(new data.DataLoader(ds, { batchSize: 3, seed: 2, workers: 1, transforms, shard: { rank, size: 2 } }), 0)));
    assert.equal(whole.length, 3);
    whole.forEach((b, i) => {
      const r0 = [...ranks[0]![i]!.indices], r1 = [...ranks[1]![i]!.indices];
      assert.ok(r0.every((x) => !r1.includes(x)));
      assert.deepEqual([...r0, ...r1], [...b.indices]);
    });
  });

  it('refuses shards with a bad label or a lone image, and leaves an undecodable image out with a warning', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'train'));
    const png = encode('png', 8, 8);
    writeFileSync(join(dir, 'train', 'a.tar'), tarBytes([{ name: 'k.png', data: await png }, { name: 'k.cls', data: Buffer.from('cat') }]));
    assert.throws(() => data.openDataset(dir, 'train'), (e: any) => e.code === 'ERR_FORMAT' && /a\.tar: sample 'k' label k\.cls holds 'cat'/.test(e.message));
    writeFileSync(join(dir, 'train', 'a.tar'), tarBytes([{ name: 'k.png', data: await png }, { name: 'j.cls', data: Buffer.from('1') }]));
    assert.throws(() => data.openDataset(dir, 'train'), (e: any) => e.code === 'ERR_FORMAT' && /sample 'k' has an image \(k\.png\) but no \.cls label/.test(e.message));
    // Members of other samples (json only) and names without an extension are not samples.
    writeFileSync(join(dir, 'train', 'a.tar'), tarBytes([
      { name: 'README', data: Buffer.from('x') }, { name: 'meta.json', data: Buffer.from('{}') },
      { name: 'k.png', data: await png }, { name: 'k.cls', data: Buffer.from('1') },
      { name: 'bad.jpg', data: Buffer.from('not a jpeg') }, { name: 'bad.cls', data: Buffer.from('0') },
    ]));
    const ds = data.openDataset(dir, 'train');
    assert.equal(data.datasetSize(ds), 2);
    const warnings: string[] = [];
    const got = await collect(new data.DataLoader(ds, { batchSize: 2, workers: 0, onSkip: (p) => warnings.push(p), transforms: [{ name: 'resize', size: 8 }] }), 0);
    assert.deepEqual(warnings, [`${join(dir, 'train', 'a.tar')}:bad.jpg`]);
    assert.deepEqual([...got[0]!.indices], [0]);
    await assert.rejects(collect(new data.DataLoader(ds, { batchSize: 2, workers: 1, strict: true }), 0), (e: any) => e.code === 'ERR_FORMAT' && e.message.includes('a.tar:bad.jpg'));
  });

  it('says what it looked for when a folder holds no data', () => {
    const dir = tmp();
    for (const split of ['train', 'test'] as const)
      assert.throws(() => data.openDataset(dir, split), (e: any) => e.code === 'ERR_IO' && /WebDataset \.tar shards/.test(e.message) && /class subfolders/.test(e.message));
  });
});
