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

  it('resizeBicubic: identity at the same size, constant images stay constant, 2× up uses Keys\' a = -0.5 weights', () => {
    const img = ramp(5, 7, 3);
    assert.equal(data.resizeBicubic(img, 5, 7), img);
    const flat: Image = { data: new Uint8Array(6 * 4 * 2).fill(77), height: 6, width: 4, channels: 2 };
    for (const [h, w] of [[13, 9], [2, 3], [6, 1]] as const) assert.ok(data.resizeBicubic(flat, h, w).data.every((v) => v === 77), `${h}×${w}`);
    // One row, 8 → 16 columns: output 2k + 1 sits a quarter pixel right of source k, so its taps are
    // at distances 1.25, 0.25, 0.75, 1.75 with weights (worked by hand from the kernel) below.
    const src = [10, 200, 30, 90, 160, 0, 255, 70];
    const up = data.resizeBicubic({ data: Uint8Array.from(src), height: 1, width: 8, channels: 1 }, 1, 16);
    for (let k = 1; k <= 5; k++) {
      const want = -0.0703125 * src[k - 1]! + 0.8671875 * src[k]! + 0.2265625 * src[k + 1]! - 0.0234375 * src[k + 2]!;
      assert.equal(up.data[2 * k + 1], Math.min(255, Math.max(0, Math.round(want))), `column ${2 * k + 1}`);
    }
    // The kernel overshoots at a step: clamped to the byte range rather than wrapped.
    const step = data.resizeBicubic({ data: Uint8Array.of(0, 0, 0, 255, 255, 255), height: 1, width: 6, channels: 1 }, 1, 24);
    assert.deepEqual([step.data[0], step.data[23]], [0, 255]);
    assert.ok([...step.data].every((v, i) => i === 0 || v >= step.data[i - 1]!), `not monotone: ${[...step.data]}`);
  });

  it('resizeBicubic shrinks with an antialiasing kernel: a linear ramp stays linear inside', () => {
    // 24 → 12 columns: output x is centred on source position 2x + 0.5 and every tap within 4 source
    // pixels counts; a symmetric kernel over a ramp gives the ramp's value there.
    const src = Uint8Array.from({ length: 24 }, (_, j) => 10 * j);
    const down = data.resizeBicubic({ data: src, height: 1, width: 24, channels: 1 }, 1, 12);
    for (let x = 2; x <= 9; x++) assert.equal(down.data[x], 20 * x + 5, `column ${x}`);
    // A 2-pixel checkerboard shrunk by 2 is grey inside (a point sampler would keep 0 or 255).
    const board = Uint8Array.from({ length: 16 * 16 }, (_, i) => (((i >> 4) + (i & 15)) % 2 ? 255 : 0));
    const grey = data.resizeBicubic({ data: board, height: 16, width: 16, channels: 1 }, 8, 8);
    for (let y = 2; y < 6; y++) for (let x = 2; x < 6; x++) assert.ok(Math.abs(px(grey, y, x) - 127.5) <= 1, `${y},${x}: ${px(grey, y, x)}`);
  });

  it('centerCropResize takes the centred square of size/(size + padding) of the shorter side, as EfficientNet evaluates', () => {
    const img = ramp(40, 60, 3);
    // 8 / (8 + 32) of 40 rows = 8: the 8 × 8 square at ((40 - 8 + 1) >> 1, (60 - 8 + 1) >> 1), no resize.
    assert.deepEqual(data.centerCropResize(img, 8).data, data.crop(img, 16, 26, 8, 8).data);
    // Padding 0: the whole shorter side, centred.
    assert.deepEqual(data.centerCropResize(ramp(10, 20, 1), 10, 0).data, data.crop(ramp(10, 20, 1), 0, 5, 10, 10).data);
    // Larger images: the crop is resized bicubically to size × size.
    const big = data.centerCropResize(img, 24, 8);
    assert.deepEqual([big.height, big.width, big.channels], [24, 24, 3]);
    assert.deepEqual(big.data, data.resizeBicubic(data.crop(img, 5, 15, 30, 30), 24, 24).data);
    for (const bad of [() => data.centerCropResize(img, 0), () => data.centerCropResize(img, 8, -1), () => data.resizeBicubic(img, 2 ** 20, 2)])
      assert.throws(bad, (e: any) => e.code === 'ERR_ARG');
  });
});
