// A flat validation folder (ImageNet's val/ as distributed) with a labels.txt: labels by file or
// in sorted file-name order, by class name (the training folders') or by index; mistakes in the
// labels file are ERR_FORMAT naming the file and line.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as data from '../../lib/data/index.js';
import { encode, writeImageFolder } from './images.js';
import { writeShards } from './tars.js';

describe('data: flat validation folder with labels.txt', function () {
  this.timeout(60000);
  const root = mkdtempSync(join(tmpdir(), 'advprop-flat-'));
  const val = join(root, 'val');
  // Written out of name order on purpose: the dataset is in sorted file-name order.
  const files = ['ILSVRC2012_val_00000003.JPEG', 'ILSVRC2012_val_00000001.JPEG', 'ILSVRC2012_val_00000002.png'];
  before(async () => {
    await writeImageFolder(root, 'train', ['n01', 'n02', 'n03'], 2, ['jpeg']);
    mkdirSync(val);
    for (const [i, f] of files.entries()) writeFileSync(join(val, f), await encode(f.endsWith('png') ? 'png' : 'jpeg', 20, 16, i));
  });
  const labelsFile = (text: string): void => writeFileSync(join(val, 'labels.txt'), text);

  it('reads "<file> <label>" lines by class name, in any order, mapped to the training folders', () => {
    labelsFile('# ImageNet validation labels\nILSVRC2012_val_00000002.png,n03\nILSVRC2012_val_00000001.JPEG n01\n\nILSVRC2012_val_00000003.JPEG  n02\n');
    const ds = data.openDataset(root, 'test');
    assert.deepEqual((ds.source as data.FileSource).paths, [...files].sort().map((f) => join(val, f)));
    assert.deepEqual([...ds.labels], [0, 2, 1]);
    assert.equal(ds.numClasses, 3);
    assert.deepEqual(ds.classNames, ['n01', 'n02', 'n03']);
  });

  it('reads one label per line in sorted file-name order, by name or 0-based index', () => {
    labelsFile('n02\n2\nn01\n');
    assert.deepEqual([...data.openDataset(root, 'test').labels], [1, 2, 0]);
  });

  it('refuses unknown labels, wrong counts, unlisted or missing files with ERR_FORMAT naming the line; no labels.txt is ERR_IO', () => {
    const fails = (text: string, msg: RegExp): void => {
      labelsFile(text);
      assert.throws(() => data.openDataset(root, 'test'), (e: any) => e.code === 'ERR_FORMAT' && e.message.includes('labels.txt') && msg.test(e.message), text);
    };
    fails('n01\nn02\nn04\n', /labels\.txt:3: label 'n04' is neither one of the training set's 3 class names nor an index 0\.\.2/);
    fails('n01\nn02\n', /2 labels for the 3 images/);
    fails('n01\n3\nn02\n', /:2: label '3'/);
    fails('ILSVRC2012_val_00000001.JPEG n01\nILSVRC2012_val_00000002.png n02\n', /1 images of .* have no label \(ILSVRC2012_val_00000003\.JPEG\)/);
    fails('ILSVRC2012_val_00000009.JPEG n01\n', /:1: no image ILSVRC2012_val_00000009\.JPEG/);
    fails('a b c\n', /:1: expected "<file> <label>", got 3 fields/);
    rmSync(join(val, 'labels.txt'));
    assert.throws(() => data.openDataset(root, 'test'), (e: any) => e.code === 'ERR_IO' && /holds 3 images but no labels\.txt/.test(e.message));
  });

  it('takes indices (class count from the data) next to tar shards, or names from classes.txt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-flat-shards-'));
    await writeShards(join(dir, 'train'), 1, 4, 4);
    mkdirSync(join(dir, 'val'));
    writeFileSync(join(dir, 'val', 'a.png'), await encode('png', 8, 8));
    writeFileSync(join(dir, 'val', 'b.png'), await encode('png', 8, 8, 1));
    writeFileSync(join(dir, 'val', 'labels.txt'), '1\n0\n');
    let ds = data.openDataset(dir, 'test');
    assert.deepEqual([...ds.labels], [1, 0]);
    assert.equal(ds.numClasses, 2);
    writeFileSync(join(dir, 'val', 'labels.txt'), '1\nfish\n');
    assert.throws(() => data.openDataset(dir, 'test'), (e: any) => e.code === 'ERR_FORMAT' && /label 'fish' is not a class index/.test(e.message));
    writeFileSync(join(dir, 'classes.txt'), 'bird\nfish\ncat\ndog\n');
    ds = data.openDataset(dir, 'test');
    assert.deepEqual([...ds.labels], [1, 1]);
    assert.equal(ds.numClasses, 4);
  });
});
