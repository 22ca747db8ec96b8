import { strict as assert } from 'node:assert';
import * as data from '../../lib/data/index.js';
import type { Image } from '../../lib/data/index.js';

function ramp(h: number, w: number, c: number): Image {
  return { data: Uint8Array.from({ length: h * w * c }, (_, i) => (i * 13) % 251), height: h, width: w, channels: c };
}
const px = (img: Image, y: number, x: number, k = 0): number => img.data[(y * img.width + x) * img.channels + k]!;

describe('data: transforms', () => {
  it('resize to the same size is the identity; a constant image stays constant; 2× down averages 2×2 blocks', () => {
    const img = ramp(5, 7, 3);
    assert.equal(data.resize(img, 5, 7), img);
    const flat: Image = { data: new Uint8Array(6 * 4 * 2).fill(77), height: 6, width: 4, channels: 2 };
    assert.ok(data.resize(flat, 9, 5).data.every((v) => v === 77));
    const small = data.resize({ data: Uint8Array.of(0, 100, 40, 60), height: 2, width: 2, channels: 1 }, 1, 1);
    assert.equal(small.data[0], 50);
  });

  it('hflip mirrors columns and twice is the identity', () => {
    const img = ramp(3, 4, 3);
    const f = data.hflip(img);
    assert.equal(px(f, 1, 0, 2), px(img, 1, 3, 2));
    assert.deepEqual(data.hflip(f).data, img.data);
  });

  it('randomCrop with padding is a shifted copy with zero fill; centerCrop takes the middle', () => {
    const img = ramp(8, 8, 1);
    for (let s = 0; s < 20; s++) {
      const out = data.applyTransforms(img, [{ name: 'randomCrop', padding: 2 }], new data.Rng(s));
      assert.deepEqual([out.height, out.width], [8, 8]);
      // find the shift from a pixel that must be inside the source for any shift of at most 2
      let found = false;
      for (let dy = -2; dy <= 2 && !found; dy++)
        for (let dx = -2; dx <= 2 && !found; dx++) {
          let ok = true;
          for (let y = 0; y < 8 && ok; y++)
            for (let x = 0; x < 8 && ok; x++) {
              const sy = y + dy, sx = x + dx;
              const want = sy < 0 || sx < 0 || sy >= 8 || sx >= 8 ? 0 : px(img, sy, sx);
              ok = px(out, y, x) === want;
            }
          found = ok;
        }
      assert.ok(found, `seed ${s}: crop is not a shifted copy`);
    }
    const c = data.applyTransforms(img, [{ name: 'centerCrop', size: 4 }], new data.Rng(0));
    assert.equal(px(c, 0, 0), px(img, 2, 2));
  });

  it('randomResizedCrop and autoAugment give the requested size, and the same key gives the same image', () => {
    const img = ramp(32, 24, 3);
    const ts: data.TransformSpec[] = [{ name: 'randomResizedCrop', size: [16, 12] }, { name: 'autoAugment' }, { name: 'hflip' }];
    let changed = 0;
    for (let s = 0; s < 30; s++) {
      const a = data.applyTransforms(img, ts, new data.Rng(1, s));
      const b = data.applyTransforms(img, ts, new data.Rng(1, s));
      assert.deepEqual([a.height, a.width, a.channels], [16, 12, 3]);
      assert.deepEqual(a.data, b.data);
      const plain = data.applyTransforms(img, [ts[0]!], new data.Rng(1, s));
      if (!Buffer.from(plain.data).equals(Buffer.from(a.data))) changed++;
    }
    assert.ok(changed > 10, `autoAugment/hflip changed only ${changed} of 30 images`);
  });

  it('rejects unknown transforms', () => {
    assert.throws(() => new data.DataLoader(data.openDataset(data.bundledDataDir(), 'test'), { batchSize: 4, transforms: [{ name: 'blur' } as any] }),
      (e: any) => e.code === 'ERR_ARG' && /unknown transform/.test(e.message));
  });
});
