import { strict as assert } from 'node:assert';
import * as data from '../../lib/data/index.js';
import { AdvpropError } from '../../lib/errors.js';
import { corrupt, CORRUPTIONS } from '../../lib/eval/index.js';

const N = 16;
type Shape = [number, number, number, number];

/** The first N bundled Fashion-MNIST test images as floats in [0, 1]. */
function fashion(): { x: Float32Array; shape: Shape } {
  const ds = data.openDataset(data.bundledDataDir(), 'test');
  const s = ds.source;
  assert.ok(s.kind === 'array');
  const size = s.height * s.width * s.channels;
  const x = new Float32Array(N * size);
  for (let i = 0; i < x.length; i++) x[i] = s.images[i]! / 255;
  return { x, shape: [N, s.height, s.width, s.channels] };
}

/** A smooth colour image, for the three-channel paths. */
function colour(n: number, h: number, w: number): Float32Array {
  const x = new Float32Array(n * h * w * 3);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        const o = ((i * h + y) * w + xx) * 3;
        x[o] = (y / h) * 0.8 + 0.1;
        x[o + 1] = (xx / w) * 0.6 + 0.2 * ((i % 2) + 1) / 2;
        x[o + 2] = 0.5 + 0.4 * Math.sin((y + xx + i) / 4);
      }
  return x;
}

const meanAbs = (a: Float32Array, b: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
};

const isArgError = (e: unknown): boolean => e instanceof AdvpropError && e.code === 'ERR_ARG';

describe('eval: corruptions', () => {
  const { x, shape } = fashion();
  const cshape: Shape = [3, 32, 32, 3];
  const cx = colour(3, 32, 32);

  it('lists the CIFAR-10-C corruptions it implements', () => {
    for (const name of ['gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'motion_blur',
      'contrast', 'brightness', 'pixelate', 'jpeg_compression']) assert.ok(CORRUPTIONS.includes(name as never), name);
  });

  for (const name of CORRUPTIONS) {
    it(`${name}: same shape, values in [0, 1], change grows with severity (grey and colour)`, () => {
      const changes: number[] = [];
      for (let sev = 1; sev <= 5; sev++) {
        const y = corrupt(x, shape, name, sev, 7);
        assert.equal(y.length, x.length);
        for (const v of y) assert.ok(v >= 0 && v <= 1 && Number.isFinite(v), `${name}@${sev}: ${v}`);
        changes.push(meanAbs(x, y));
        const cy = corrupt(cx, cshape, name, sev, 7);
        assert.equal(cy.length, cx.length);
        for (const v of cy) assert.ok(v >= 0 && v <= 1, `${name}@${sev} colour: ${v}`);
      }
      assert.ok(changes[0]! > 0, `${name} changes nothing at severity 1`);
      for (let i = 1; i < 5; i++)
        assert.ok(changes[i]! > changes[i - 1]!, `${name}: severity ${i + 1} changes ${changes[i]} <= ${changes[i - 1]} of severity ${i}`);
    });
  }

  it('is deterministic given the seed; the noises differ across seeds and across images', () => {
    for (const name of CORRUPTIONS) assert.deepEqual(corrupt(x, shape, name, 3, 11), corrupt(x, shape, name, 3, 11), name);
    for (const name of ['gaussian_noise', 'shot_noise', 'impulse_noise', 'motion_blur'])
      assert.notDeepEqual(corrupt(x, shape, name, 3, 11), corrupt(x, shape, name, 3, 12), name);
    // The same image at two batch positions gets different noise, and an image's result does not
    // depend on the rest of the batch.
    const size = 28 * 28;
    const two = new Float32Array(2 * size);
    two.set(x.subarray(0, size)); two.set(x.subarray(0, size), size);
    const y = corrupt(two, [2, 28, 28, 1], 'gaussian_noise', 2, 5);
    assert.notDeepEqual(y.subarray(0, size), y.subarray(size));
    assert.deepEqual(y.subarray(0, size), corrupt(x, shape, 'gaussian_noise', 2, 5).subarray(0, size));
  });

  it('gaussian noise has about the documented standard deviation', () => {
    const flat = new Float32Array(64 * 32 * 32).fill(0.5);
    const y = corrupt(flat, [64, 32, 32, 1], 'gaussian_noise', 5, 1);
    let s = 0, s2 = 0;
    for (const v of y) { s += v - 0.5; s2 += (v - 0.5) ** 2; }
    const mean = s / y.length, sd = Math.sqrt(s2 / y.length - mean * mean);
    assert.ok(Math.abs(mean) < 0.002 && Math.abs(sd - 0.1) < 0.002, `mean ${mean} sd ${sd}`);
  });

  it('shot noise keeps the mean; impulse noise hits the documented fraction', () => {
    const flat = new Float32Array(64 * 32 * 32).fill(0.3);
    const y = corrupt(flat, [64, 32, 32, 1], 'shot_noise', 5, 1);
    const mean = y.reduce((a, b) => a + b, 0) / y.length;
    assert.ok(Math.abs(mean - 0.3) < 0.003, `shot mean ${mean}`);
    const z = corrupt(flat, [64, 32, 32, 1], 'impulse_noise', 5, 1);
    const salt = z.filter((v) => v === 1).length / z.length, pepper = z.filter((v) => v === 0).length / z.length;
    assert.ok(Math.abs(salt - 0.035) < 0.005 && Math.abs(pepper - 0.035) < 0.005, `salt ${salt} pepper ${pepper}`);
  });

  it('brightness and contrast match the closed form on constant and two-level images', () => {
    const g = new Float32Array(2 * 4 * 4).fill(0.5);
    const b = corrupt(g, [2, 4, 4, 1], 'brightness', 5, 0);
    for (const v of b) assert.ok(Math.abs(v - 0.8) < 1e-6);
    const hi = new Float32Array(16).fill(0.9);
    for (const v of corrupt(hi, [1, 4, 4, 1], 'brightness', 3, 0)) assert.equal(v, 1);
    // Colour: hue and saturation are kept, so the channels scale by V'/V.
    const rgb = new Float32Array([0.4, 0.2, 0.1, 0, 0, 0]);
    const rb = corrupt(rgb, [1, 1, 2, 3], 'brightness', 2, 0);
    const f = 0.5 / 0.4;
    [0.4 * f, 0.2 * f, 0.1 * f, 0.1, 0.1, 0.1].forEach((e, i) => assert.ok(Math.abs(rb[i]! - e) < 1e-6, `${i}: ${rb[i]} vs ${e}`));
    // A constant image has nothing to contrast; half 0.2 / half 0.6 has mean 0.4.
    for (const v of corrupt(g, [2, 4, 4, 1], 'contrast', 4, 0)) assert.ok(Math.abs(v - 0.5) < 1e-6);
    const two = new Float32Array(16).map((_, i) => (i < 8 ? 0.2 : 0.6));
    const c = corrupt(two, [1, 4, 4, 1], 'contrast', 2, 0);
    two.forEach((v, i) => assert.ok(Math.abs(c[i]! - ((v - 0.4) * 0.5 + 0.4)) < 1e-6));
  });

  it('defocus blur at severity 1 spreads a point as the 3×3 Gaussian of σ = 0.4', () => {
    const img = new Float32Array(9 * 9);
    img[4 * 9 + 4] = 1;
    const y = corrupt(img, [1, 9, 9, 1], 'defocus_blur', 1, 0);
    const e = Math.exp(-1 / (2 * 0.4 * 0.4)), g = [e / (1 + 2 * e), 1 / (1 + 2 * e), e / (1 + 2 * e)];
    for (let dy = -2; dy <= 2; dy++)
      for (let dx = -2; dx <= 2; dx++) {
        const want = Math.abs(dy) <= 1 && Math.abs(dx) <= 1 ? g[dy + 1]! * g[dx + 1]! : 0;
        assert.ok(Math.abs(y[(4 + dy) * 9 + 4 + dx]! - want) < 1e-6, `${dy},${dx}`);
      }
  });

  it('motion blur smears a point along one direction only', () => {
    const img = new Float32Array(15 * 15);
    img[7 * 15 + 7] = 1;
    const y = corrupt(img, [1, 15, 15, 1], 'motion_blur', 5, 4);
    const lit: [number, number][] = [];
    y.forEach((v, i) => { if (v > 1e-4) lit.push([Math.floor(i / 15) - 7, (i % 15) - 7]); });
    assert.ok(lit.length >= 4, `only ${lit.length} pixels lit`);
    // One-sided: every lit pixel is on the same side of the point horizontally (|angle| <= 45°).
    const sides = new Set(lit.map(([, dx]) => Math.sign(dx)).filter((v) => v !== 0));
    assert.equal(sides.size, 1);
    assert.ok(y[7 * 15 + 7]! > 0, 'the point keeps the first tap');
  });

  it('blurs, pixelation and JPEG leave a constant image nearly unchanged', () => {
    const g = new Float32Array(2 * 28 * 28).fill(0.6);
    for (const name of ['defocus_blur', 'motion_blur', 'pixelate'])
      for (const v of corrupt(g, [2, 28, 28, 1], name, 5, 3)) assert.ok(Math.abs(v - 0.6) < 1e-5, name);
    for (const v of corrupt(g, [2, 28, 28, 1], 'jpeg_compression', 5, 3)) assert.ok(Math.abs(v - 0.6) < 3 / 255);
  });

  it('JPEG of a batch equals JPEG of each image alone', () => {
    const size = 28 * 28;
    const batch = corrupt(x.subarray(0, 3 * size), [3, 28, 28, 1], 'jpeg_compression', 4, 0);
    for (let i = 0; i < 3; i++)
      assert.deepEqual(batch.subarray(i * size, (i + 1) * size), corrupt(x.subarray(i * size, (i + 1) * size), [1, 28, 28, 1], 'jpeg_compression', 4, 0));
    const cb = corrupt(cx, cshape, 'jpeg_compression', 2, 0), s3 = 32 * 32 * 3;
    assert.deepEqual(cb.subarray(s3, 2 * s3), corrupt(cx.subarray(s3, 2 * s3), [1, 32, 32, 3], 'jpeg_compression', 2, 0));
  });

  it('rejects unknown names, bad severities and shapes with ERR_ARG', () => {
    assert.throws(() => corrupt(x, shape, 'fog', 1, 0), isArgError);
    for (const sev of [0, 6, 2.5, NaN]) assert.throws(() => corrupt(x, shape, 'contrast', sev, 0), isArgError);
    assert.throws(() => corrupt(x, [N, 28, 28, 2], 'contrast', 1, 0), isArgError);
    assert.throws(() => corrupt(x, [N + 1, 28, 28, 1], 'contrast', 1, 0), isArgError);
  });
});
