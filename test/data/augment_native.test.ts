// The native per-image kernels (native/cpu/augment.cc) against the JavaScript reference
// (lib/data/augment_js.ts): the same bytes for every op at every magnitude, 1 and 3 channels,
// odd sizes, random and degenerate images; and the checks of the addon entry.
import { strict as assert } from 'node:assert';
import * as data from '../../lib/data/index.js';
import { applyOp, autoAugment, type Op } from '../../lib/data/autoaugment.js';
import { JS_KERNELS, type AugmentKernels } from '../../lib/data/augment_js.js';
import { NATIVE_KERNELS } from '../../lib/data/augment_native.js';
import { addon } from '../../lib/native.js';
import { unitFloats } from '../../lib/data/batch.js';
import { expectCode } from '../helpers.js';

const OPS: Op[] = ['ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness', 'Color', 'Contrast',
  'Sharpness', 'Posterize', 'Solarize', 'AutoContrast', 'Equalize', 'Invert'];
const SIZES: Array<[number, number]> = [[1, 1], [2, 3], [3, 2], [7, 5], [33, 17], [24, 40]];

function randomImage(h: number, w: number, c: number, seed: number, kind: 'random' | 'flat' | 'two' | 'narrow'): data.Image {
  const rng = new data.Rng(seed, h, w, c);
  const pick = (): number => {
    if (kind === 'flat') return 77;
    if (kind === 'two') return rng.bool() ? 10 : 200;
    if (kind === 'narrow') return 100 + rng.int(20);
    return rng.int(256);
  };
  return { data: Uint8Array.from({ length: h * w * c }, pick), height: h, width: w, channels: c };
}

function same(a: data.Image, b: data.Image, what: string): void {
  assert.deepEqual([b.height, b.width, b.channels], [a.height, a.width, a.channels], what);
  for (let i = 0; i < a.data.length; i++)
    if (a.data[i] !== b.data[i]) assert.fail(`${what}: byte ${i} is ${b.data[i]} natively, ${a.data[i]} in JS`);
}

function images(): Array<[string, data.Image]> {
  const out: Array<[string, data.Image]> = [];
  let seed = 1;
  for (const c of [1, 3])
    for (const [h, w] of SIZES)
      for (const kind of ['random', 'flat', 'two', 'narrow'] as const) out.push([`${h}×${w}×${c} ${kind}`, randomImage(h, w, c, seed++, kind)]);
  return out;
}

describe('data: native augmentation kernels = the JavaScript reference, byte for byte', () => {
  const imgs = images();

  for (const [top, name] of [[9, 'AutoAugment bins 0..9'], [30, 'RandAugment bins 0..30']] as const)
    it(`every op at every magnitude (${name}), both signs, 1 and 3 channels, odd sizes`, () => {
      for (const op of OPS)
        for (let mag = 0; mag <= top; mag++)
          for (const [label, img] of imgs)
            for (const seed of [0, 1]) {
              // The same stream for both, so both draw the same sign.
              const js = applyOp(img, op, mag, new data.Rng(seed, mag), top, JS_KERNELS);
              const nat = applyOp(img, op, mag, new data.Rng(seed, mag), top, NATIVE_KERNELS);
              same(js, nat, `${op} ${mag}/${top} on ${label}`);
            }
    });

  it('the kernels at random parameters (factors −1..3, any affine matrix, any table) and flip', () => {
    const rng = new data.Rng(42);
    const pairs: Array<[string, (k: AugmentKernels, img: data.Image) => data.Image]> = [];
    for (let t = 0; t < 20; t++) {
      const f = rng.uniform(-1, 3);
      const m = Array.from({ length: 4 }, () => rng.uniform(-2, 2)), tx = rng.uniform(-30, 30), ty = rng.uniform(-30, 30);
      const table = Uint8Array.from({ length: 256 }, () => rng.int(256));
      pairs.push([`color ${f}`, (k, i) => k.color(i, f)], [`contrast ${f}`, (k, i) => k.contrast(i, f)],
        [`sharpness ${f}`, (k, i) => k.sharpness(i, f)], [`affine ${m} ${tx} ${ty}`, (k, i) => k.affine(i, m[0]!, m[1]!, m[2]!, m[3]!, tx, ty)],
        [`lut ${t}`, (k, i) => k.lut(i, table)]);
    }
    // Products that overflow to ±∞ (and sums that become NaN) leave the pixel black in both.
    pairs.push(['affine huge', (k, i) => k.affine(i, 1e308, 1e308, -1e308, 1e308, 1e308, -1e308)],
      ['affine half-pixel shifts', (k, i) => k.affine(i, 1, 0, 0, 1, 0.5, -0.5)]);
    pairs.push(['flip', (k, i) => k.flip(i)], ['equalize', (k, i) => k.equalize(i)], ['autoContrast', (k, i) => k.autoContrast(i)]);
    for (const [what, f] of pairs) for (const [label, img] of imgs) same(f(JS_KERNELS, img), f(NATIVE_KERNELS, img), `${what} on ${label}`);
    // flip, lut, affine, sharpness, equalize and autoContrast take 2 and 4 channels too.
    for (const c of [2, 4]) {
      const img = randomImage(9, 11, c, 5, 'random');
      for (const [what, f] of pairs.filter(([w]) => !w.startsWith('color') && !w.startsWith('contrast')))
        same(f(JS_KERNELS, img), f(NATIVE_KERNELS, img), `${what} on 9×11×${c}`);
    }
  });

  it('AutoAugment and RandAugment over many images: the same bytes either way', () => {
    for (let i = 0; i < 300; i++) {
      const img = randomImage(13 + (i % 7), 9 + (i % 5), i % 2 ? 3 : 1, i, 'random');
      same(data.applyTransforms(img, [{ name: 'autoAugment' }], new data.Rng(3, i)), autoJs(img, new data.Rng(3, i)), `AutoAugment image ${i}`);
    }
  });

  it('imageAugment: bad input is an AdvpropError with a code, naming the op', () => {
    const img = new Uint8Array(2 * 3 * 3);
    expectCode(() => addon.imageAugment('flip', img, 2, 3, 2, []), 'ERR_SHAPE', /imageAugment\(flip\): the image has 18 bytes, expected \[2, 3, 2\]/);
    expectCode(() => addon.imageAugment('flip', img, 0, 3, 3, []), 'ERR_ARG', /imageAugment\(flip\): height and width/);
    expectCode(() => addon.imageAugment('flip', new Uint8Array(10), 1, 2, 5, []), 'ERR_ARG', /channels must be 1 to 4, got 5/);
    expectCode(() => addon.imageAugment('color', new Uint8Array(8), 2, 2, 2, [1]), 'ERR_ARG', /imageAugment\(color\): channels must be 1 or 3/);
    expectCode(() => addon.imageAugment('affine', img, 2, 3, 3, [1, 0, 0, 1]), 'ERR_ARG', /'params' must hold 6 values, got 4/);
    expectCode(() => addon.imageAugment('affine', img, 2, 3, 3, [1, 0, 0, 1, NaN, 0]), 'ERR_ARG', /'params'\[4\] must be finite/);
    expectCode(() => addon.imageAugment('lut', img, 2, 3, 3, new Array(256).fill(300)), 'ERR_ARG', /'params'\[0\] must be an integer 0..255/);
    expectCode(() => addon.imageAugment('blur' as 'flip', img, 2, 3, 3, []), 'ERR_ARG', /'op' must be one of flip, lut, affine/);
    expectCode(() => addon.imageAugment('flip', [1, 2] as unknown as Uint8Array, 1, 2, 1, []), 'ERR_ARG', /'data' must be a Uint8Array/);
    expectCode(() => addon.imageAugment('flip', img, 2, 3, 3, 'x' as unknown as number[]), 'ERR_ARG', /'params' must be/);
  });

  it('imageToUnit: byte / 255 rounded once to f32 (the values of Float32Array.from(v / 255)), at an offset', () => {
    const all = Uint8Array.from({ length: 256 }, (_, v) => v);
    const dst = new Float32Array(300).fill(-1);
    addon.imageToUnit(all, dst, 7);
    assert.deepEqual(dst.subarray(7, 263), Float32Array.from(all, (v) => v / 255));
    assert.ok(dst.subarray(0, 7).every((v) => v === -1) && dst.subarray(263).every((v) => v === -1), 'wrote outside its range');
    assert.deepEqual(unitFloats(Uint8Array.from([255, 0, 128])), Float32Array.from([1, 0, 128 / 255]));
  });

  it('imageToUnit: bad input is an AdvpropError naming the op and the sizes', () => {
    const src = new Uint8Array(10);
    expectCode(() => addon.imageToUnit(src, new Float32Array(12), 3), 'ERR_ARG', /imageToUnit: 10 bytes at offset 3 do not fit a Float32Array of 12/);
    expectCode(() => addon.imageToUnit(src, new Float32Array(12), -1), 'ERR_ARG', /imageToUnit/);
    expectCode(() => addon.imageToUnit(src, new Float64Array(12) as unknown as Float32Array, 0), 'ERR_ARG', /'dst' must be a Float32Array/);
    expectCode(() => addon.imageToUnit([1] as unknown as Uint8Array, new Float32Array(12), 0), 'ERR_ARG', /'src' must be a Uint8Array/);
  });
});

// AutoAugment on the JS kernels, for the test above.
function autoJs(img: data.Image, rng: data.Rng): data.Image {
  return autoAugment(img, rng, JS_KERNELS);
}
