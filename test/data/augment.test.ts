// EfficientNet's training transforms: the random-resized crop's box distribution (torchvision's
// algorithm), the flip, RandAugment, and the recipes the train command builds.
import { strict as assert } from 'node:assert';
import * as data from '../../lib/data/index.js';
import { randomResizedBox } from '../../lib/data/transforms.js';
import { defaultResolution, imageEvalTransforms, imageTrainTransforms } from '../../lib/data/efficientnet_transforms.js';

function ramp(h: number, w: number, c = 3): data.Image {
  return { data: Uint8Array.from({ length: h * w * c }, (_, i) => (i * 7 + (i >> 5)) & 0xff), height: h, width: w, channels: c };
}

describe('data: EfficientNet transforms', () => {
  it('random-resized crop boxes: inside the image, area 8–100 %, aspect 3/4–4/3, log-uniform aspect', () => {
    const H = 375, W = 500, n = 20000;
    const areas: number[] = [];
    let logAspect = 0, wide = 0;
    for (let k = 0; k < n; k++) {
      const b = randomResizedBox({ height: H, width: W }, new data.Rng(11, 0, k), [0.08, 1], [3 / 4, 4 / 3]);
      assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.h <= H && b.left + b.w <= W, JSON.stringify(b));
      const area = (b.w * b.h) / (W * H), aspect = b.w / b.h;
      // w and h are rounded to whole pixels, which moves area and aspect by a little.
      assert.ok(area >= 0.08 * 0.98 && area <= 1, `area ${area}`);
      assert.ok(aspect >= (3 / 4) * 0.98 && aspect <= (4 / 3) * 1.02, `aspect ${aspect}`);
      areas.push(area);
      logAspect += Math.log(aspect);
      if (aspect > 1) wide++;
    }
    areas.sort((a, b) => a - b);
    // The law the algorithm samples from: area fraction and log aspect uniform, conditioned on the
    // box fitting in the image (10 tries make the fallback negligible here), integrated on a grid.
    const grid: Array<[number, number]> = [];
    let lawLogAspect = 0, lawWide = 0;
    for (let i = 0; i < 920; i++) {
      const s = 0.08 + (i + 0.5) * 0.001;
      let fits = 0;
      for (let j = 0; j < 200; j++) {
        const r = Math.exp(Math.log(3 / 4) + ((j + 0.5) / 200) * (Math.log(4 / 3) - Math.log(3 / 4)));
        if (Math.round(Math.sqrt(s * W * H * r)) <= W && Math.round(Math.sqrt((s * W * H) / r)) <= H) {
          fits++;
          lawLogAspect += Math.log(r);
          if (r > 1) lawWide++;
        }
      }
      grid.push([s, fits]);
    }
    const total = grid.reduce((a, [, f]) => a + f, 0);
    const expectedQuantile = (p: number): number => {
      let acc = 0;
      for (const [s, f] of grid) if ((acc += f) >= p * total) return s;
      return 1;
    };
    for (const p of [0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
      const got = areas[Math.floor(p * (n - 1))]!, want = expectedQuantile(p);
      // Sampling error of a quantile over 20000 draws is under 0.01 here; rounding adds a little.
      assert.ok(Math.abs(got - want) < 0.015, `area quantile ${p}: ${got.toFixed(4)}, the law gives ${want.toFixed(4)}`);
    }
    // Tall boxes fit less often in a landscape image, so the law leans wide.
    assert.ok(Math.abs(logAspect / n - lawLogAspect / total) < 0.006, `mean log aspect ${logAspect / n}, the law gives ${lawLogAspect / total}`);
    assert.ok(Math.abs(wide / n - lawWide / total) < 0.015, `wide boxes ${wide / n}, the law gives ${lawWide / total}`);
  });

  it('after 10 failed tries the box is the centred crop of the clamped aspect (torchvision\'s fallback)', () => {
    for (let k = 0; k < 50; k++) {
      assert.deepEqual(randomResizedBox({ height: 50, width: 1000 }, new data.Rng(k), [0.08, 1], [3 / 4, 4 / 3]), { top: 0, left: 466, h: 50, w: 67 });
      assert.deepEqual(randomResizedBox({ height: 900, width: 30 }, new data.Rng(k), [0.9, 1], [3 / 4, 4 / 3]), { top: 430, left: 0, h: 40, w: 30 });
    }
  });

  it('the flip mirrors rows and happens for half the keys', () => {
    const img = ramp(4, 5);
    const f = data.hflip(img);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) for (let c = 0; c < 3; c++)
      assert.equal(f.data[(y * 5 + x) * 3 + c], img.data[(y * 5 + 4 - x) * 3 + c]);
    assert.deepEqual(data.hflip(f).data, img.data);
    let flipped = 0;
    for (let k = 0; k < 2000; k++) {
      const out = data.applyTransforms(img, [{ name: 'hflip' }], new data.Rng(3, 1, k));
      if (out !== img) { flipped++; assert.deepEqual(out.data, f.data); }
    }
    assert.ok(Math.abs(flipped / 2000 - 0.5) < 0.05, `${flipped} of 2000 flipped`);
    assert.deepEqual(data.applyTransforms(img, [{ name: 'hflip', p: 1 }], new data.Rng(0)).data, f.data);
  });

  it('RandAugment: N ops at magnitude M, the same per key, identity at N = 0', () => {
    const img = ramp(24, 20);
    const ra = (n: number, m: number, key: number) => data.applyTransforms(img, [{ name: 'randAugment', n, m }], new data.Rng(5, key));
    assert.deepEqual(ra(0, 9, 1).data, img.data);
    let changed = 0;
    for (let k = 0; k < 40; k++) {
      const a = ra(2, 9, k);
      assert.deepEqual([a.height, a.width, a.channels], [24, 20, 3]);
      assert.deepEqual(a.data, ra(2, 9, k).data);
      if (a.data.some((v, i) => v !== img.data[i])) changed++;
    }
    // Identity is one op in 14: both draws identity in about 1 of 200 images.
    assert.ok(changed >= 36, `RandAugment changed only ${changed} of 40 images`);
    // Magnitude 0 leaves the geometric and enhancement ops at the identity, not Posterize/Solarize/
    // AutoContrast/Equalize/Invert-like ops, so M changes the outcome.
    let differ = 0;
    for (let k = 0; k < 40; k++) if (ra(2, 0, k).data.some((v, i) => v !== ra(2, 30, k).data[i])) differ++;
    assert.ok(differ > 10, `M = 0 and M = 30 differ on ${differ} of 40 images`);
    assert.throws(() => data.applyTransforms(img, [{ name: 'randAugment', m: 31 }], new data.Rng(0)), (e: any) => e.code === 'ERR_ARG' && /\bm\b/.test(e.message));
    assert.throws(() => data.applyTransforms(img, [{ name: 'randAugment', n: -1 }], new data.Rng(0)), (e: any) => e.code === 'ERR_ARG');
  });

  it('recipes: resolution per model, training crops and augmentations, the evaluation centre crop', () => {
    assert.deepEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'l2'].map(defaultResolution), [224, 240, 260, 300, 380, 456, 528, 600, 672, 800]);
    assert.throws(() => defaultResolution('b9'), (e: any) => e.code === 'ERR_ARG');
    assert.deepEqual(imageTrainTransforms('basic', 240), [{ name: 'randomResizedCrop', size: 240 }, { name: 'hflip' }]);
    assert.deepEqual(imageTrainTransforms('autoaugment', 224).map((t) => t.name), ['randomResizedCrop', 'hflip', 'autoAugment']);
    assert.deepEqual(imageTrainTransforms('randaugment', 224, { n: 3, m: 15 })[2], { name: 'randAugment', n: 3, m: 15 });
    assert.deepEqual(imageTrainTransforms('none', 300), imageEvalTransforms(300));
    // The evaluation crop is centerCropResize with padding 32: 224/256 of the shorter side.
    const img = ramp(300, 400);
    const [t] = imageEvalTransforms(224);
    assert.deepEqual(data.applyTransforms(img, [t!], new data.Rng(0)).data, data.centerCropResize(img, 224, 32).data);
  });
});
