// kernels.normalizeImage (native/{cpu,cuda}/image.*): u8 NHWC bytes to the model's float input on
// each backend, bit for bit against the JavaScript arithmetic it replaces (the loader's byte / 255,
// the model's x · (1/std) + (−mean/std)), in bf16 and f16 as that f32 value rounded once, and bad
// arguments refused with a code and a message naming the op, the argument and the shapes.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { forEachBackend } from '../../lib/testing/backends.js';
import { prepareBatch } from '../../lib/data/batch.js';
import { assertSame, expectCode, numel } from '../helpers.js';
import { roundHalfArray } from '../half_ref.js';

/** Seeded bytes with every value 0..255 among the first 256. */
function bytes(n: number, seed: number): Uint8Array {
  let s = (seed * 2654435761 + 7) >>> 0 || 1;
  return Uint8Array.from({ length: n }, (_, i) => {
    if (i < 256) return (i * 97 + seed) & 255;
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s & 255;
  });
}

/** The JavaScript path, step by step in f32: Float32Array(v / 255), then mul by f32(1/std), add f32(−mean/std). */
function reference(x: Uint8Array, c: number, mean: number[], std: number[]): Float32Array {
  const u = Float32Array.from(x, (v) => v / 255);
  const scale = Float32Array.from(std, (s) => 1 / s), shift = Float32Array.from(mean, (m, i) => -m / std[i]!);
  return Float32Array.from(u, (v, i) => Math.fround(Math.fround(v * scale[i % c]!) + shift[i % c]!));
}

// Batch 1, odd and prime sizes, 1, 3 and 4 channels, a batch the cpu's chunks and the GPU's grid
// both cut through the middle of a pixel.
const SHAPES = [[1, 1, 1, 3], [2, 5, 7, 3], [3, 11, 13, 1], [1, 17, 19, 4], [4, 37, 41, 3]];
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

forEachBackend('kernels.normalizeImage', (device) => {
  SHAPES.forEach((shape, k) => {
    const c = shape[3]!;
    const x = bytes(numel(shape), 3 + k);
    it(`${JSON.stringify(shape)}: byte / 255 by default, the loader's f32 values bit for bit`, () => {
      ap.tidy(() => {
        const out = ap.kernels.normalizeImage(ap.tensor(x, shape, { dtype: 'u8', device }));
        assert.equal(out.dtype, 'f32');
        assert.equal(out.device, device);
        assert.deepEqual([...out.shape], shape);
        const got = out.toArray();
        assertSame(got, reference(x, c, new Array(c).fill(0), new Array(c).fill(1)), 'vs reference');
        // The batch the loader's 'float' output hands over, from the same bytes.
        const d: ap.data.ImageDataset = {
          name: 't', numClasses: 1, labels: new Int32Array(shape[0]!),
          source: { kind: 'array', images: x, height: shape[1]!, width: shape[2]!, channels: c },
        };
        const prepared = prepareBatch(d, [], 0, { epoch: 0, indices: Int32Array.from({ length: shape[0]! }, (_, i) => i) });
        assertSame(got, prepared.x, 'vs the loader\'s float batch');
      });
    });

    it(`${JSON.stringify(shape)}: per-channel mean and std as the model computes them, and in bf16 and f16`, () => {
      ap.tidy(() => {
        const mean = Array.from({ length: c }, (_, i) => (IMAGENET.mean[i % 3]! + i) / 2);
        const std = Array.from({ length: c }, (_, i) => IMAGENET.std[i % 3]! * (i + 1));
        const u = ap.tensor(x, shape, { dtype: 'u8', device });
        const want = reference(x, c, mean, std);
        const got = ap.kernels.normalizeImage(u, { mean, std });
        assertSame(got.toArray(), want, 'f32 vs reference');
        // The model's own arithmetic on the f32 batch: mul then add, per channel.
        const unit = ap.kernels.normalizeImage(u);
        const model = ap.add(ap.mul(unit, ap.tensor(std.map((s) => 1 / s), [c], { device })), ap.tensor(mean.map((m, i) => -m / std[i]!), [c], { device }));
        assertSame(got.toArray(), model.toArray(), 'f32 vs mul + add');
        for (const dtype of ['bf16', 'f16'] as const) {
          const h = ap.kernels.normalizeImage(u, { mean, std, dtype });
          assert.equal(h.dtype, dtype);
          assertSame(h.toArray(), Float32Array.from(roundHalfArray(want, dtype)), `${dtype}: the f32 value rounded once`);
        }
        // One number stands for every channel.
        assertSame(ap.kernels.normalizeImage(u, { mean: 0.5, std: 0.25 }).toArray(), reference(x, c, new Array(c).fill(0.5), new Array(c).fill(0.25)), 'scalar mean and std');
      });
    });
  });

  it('an empty batch gives an empty tensor; u8 tensors copy between devices and read back as bytes', () => {
    ap.tidy(() => {
      const e = ap.kernels.normalizeImage(ap.tensor(new Uint8Array(0), [0, 4, 4, 3], { dtype: 'u8', device }));
      assert.deepEqual([...e.shape], [0, 4, 4, 3]);
      const b = bytes(24, 9);
      const t = ap.tensor(b, [2, 2, 2, 3], { dtype: 'u8', device });
      assert.equal(t.dtype, 'u8');
      const back = t.toArray();
      assert.ok(back instanceof Uint8Array);
      assert.deepEqual(back, b);
      assert.deepEqual(t.to('cpu').toArray(), b);
      assert.deepEqual(t.clone().toArray(), b);
    });
  });

  it('bad input: ERR_DTYPE, ERR_SHAPE, ERR_ARG and ERR_DISPOSED naming the op, the argument and the shapes', () => {
    ap.tidy(() => {
      const x = ap.tensor(bytes(2 * 3 * 3 * 3, 1), [2, 3, 3, 3], { dtype: 'u8', device });
      expectCode(() => ap.kernels.normalizeImage(ap.zeros([2, 3, 3, 3], { device })), 'ERR_DTYPE', "normalizeImage: argument 'x' must be u8, got f32 [2, 3, 3, 3]");
      expectCode(() => ap.kernels.normalizeImage(ap.tensor(bytes(27, 1), [3, 3, 3], { dtype: 'u8', device })), 'ERR_SHAPE', "normalizeImage: 'x' must be NHWC [N, H, W, C], got [3, 3, 3]");
      expectCode(() => ap.kernels.normalizeImage(x, { mean: [0.5, 0.5], std: 1 }), 'ERR_SHAPE', "normalizeImage: 'mean' has 2 values but 'x' [2, 3, 3, 3] has C = 3 channels");
      expectCode(() => ap.kernels.normalizeImage(x, { mean: 0, std: [1, 1, 1, 1] }), 'ERR_SHAPE', "normalizeImage: 'std' has 4 values but 'x' [2, 3, 3, 3] has C = 3 channels");
      expectCode(() => ap.kernels.normalizeImage(x, { std: [1, 0, 1] }), 'ERR_ARG', "normalizeImage: 'std'[1] must be finite and non-zero");
      expectCode(() => ap.kernels.normalizeImage(x, { mean: [0, NaN, 0] }), 'ERR_ARG', "normalizeImage: 'mean'[1] must be finite");
      expectCode(() => ap.kernels.normalizeImage(x, { mean: ['a'] as unknown as number[] }), 'ERR_ARG', 'normalizeImage');
      expectCode(() => ap.kernels.normalizeImage(x, { dtype: 'f64' as 'f32' }), 'ERR_DTYPE', "normalizeImage: argument 'dtype' must be f32, bf16 or f16, got f64 (for 'x' [2, 3, 3, 3])");
      expectCode(() => ap.kernels.normalizeImage(x, { dtype: 'i32' as 'f32' }), 'ERR_DTYPE', 'normalizeImage');
      expectCode(() => ap.kernels.normalizeImage(x, 3 as unknown as object), 'ERR_ARG', 'normalizeImage: options must be an object');
      expectCode(() => ap.kernels.normalizeImage(null as unknown as ap.Tensor), 'ERR_ARG', 'normalizeImage');
      const gone = ap.tensor(bytes(12, 2), [1, 2, 2, 3], { dtype: 'u8', device });
      gone.dispose();
      expectCode(() => ap.kernels.normalizeImage(gone), 'ERR_DISPOSED', 'normalizeImage');
      // u8 tensors come only from a Uint8Array, and take no arithmetic.
      expectCode(() => ap.tensor([1, 2], [2], { dtype: 'u8', device }), 'ERR_DTYPE', 'tensor: dtype u8 takes its bytes from a Uint8Array');
      expectCode(() => ap.add(x, x), 'ERR_DTYPE', 'u8');
      expectCode(() => x.cast('f32'), 'ERR_DTYPE', 'u8');
      expectCode(() => { x.requiresGrad = true; }, 'ERR_DTYPE', 'u8');
    });
  });
});
