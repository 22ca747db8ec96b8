// Byte batches through pinned memory and a copy stream (lib/train/upload.ts, advprop/staging.h):
// every upload, prefetched or not, gives the values of the blocking path (imageBatchTensor) bit
// for bit, whatever the order of prefetches, uploads and shape changes; the trainer's `next`
// changes no bit of a run; bad arguments are refused with a code naming the op and the argument.
import assert from 'node:assert/strict';
import * as ap from '../../lib/index.js';
import { addon } from '../../lib/native.js';
import { deviceOf, forEachBackend } from '../../lib/testing/backends.js';
import { BatchUploader } from '../../lib/train/upload.js';
import { imageBatchTensor } from '../../lib/train/images.js';
import { Trainer } from '../../lib/train/trainer.js';
import { expectCode } from '../helpers.js';

function bytes(n: number, seed: number): Uint8Array {
  let s = (seed * 2654435761 + 1) >>> 0 || 1;
  return Uint8Array.from({ length: n }, () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s & 255; });
}
const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const hostRandomish = (n: number, seed: number): number[] => Array.from(bytes(n, seed), (b, i) => b / 7 - i);

forEachBackend('BatchUploader', (device) => {
  const want = (x: Uint8Array, shape: number[]): Float32Array => ap.tidy(() => imageBatchTensor(x, shape, device).toArray() as Float32Array);

  it('uploads give the blocking path\'s values, with and without a prefetch, across shape changes', () => {
    const shapes = [[2, 5, 7, 3], [2, 5, 7, 3], [3, 4, 4, 1], [3, 4, 4, 1], [2, 5, 7, 3], [1, 9, 3, 3]];
    const batches = shapes.map((s, i) => ({ x: bytes(numel(s), i + 1), shape: s }));
    const u = new BatchUploader(device);
    try {
      const outs: ap.Tensor[] = [];
      // Step i's output is read only after step i+1's prefetch was queued, as the trainer does.
      batches.forEach((b, i) => {
        outs.push(u.upload(b.x, b.shape));
        const n = batches[i + 1];
        if (n && i % 3 !== 2) u.prefetch(n.x, n.shape);
      });
      outs.forEach((o, i) => {
        assert.deepEqual([...o.shape], batches[i]!.shape);
        assert.deepEqual(o.toArray(), want(batches[i]!.x, batches[i]!.shape), `batch ${i}`);
        o.dispose();
      });
    } finally {
      u.dispose();
    }
  });

  it('a prefetch of another array (or shape) is not mistaken for the batch uploaded', () => {
    const shape = [2, 3, 3, 3];
    const a = bytes(54, 7), b = bytes(54, 8), c = bytes(54, 9);
    const u = new BatchUploader(device);
    try {
      u.prefetch(a, shape);
      u.prefetch(b, shape);  // two prefetches in flight: both slots hold a batch
      ap.tidy(() => {
        assert.deepEqual(u.upload(c, shape).toArray(), want(c, shape));
        assert.deepEqual(u.upload(b, shape).toArray(), want(b, shape));
        u.prefetch(a, shape);
        assert.deepEqual(u.upload(a, [2, 3, 9, 1]).toArray(), want(a, [2, 3, 9, 1]));
      });
    } finally {
      u.dispose();
    }
  });

  it('refuses a wrong byte count and a disposed uploader', () => {
    const u = new BatchUploader(device);
    expectCode(() => u.upload(new Uint8Array(10), [1, 2, 2, 3]), 'ERR_SHAPE', /BatchUploader.upload: 10 bytes for a batch of shape \[1, 2, 2, 3\]/);
    u.dispose();
    u.dispose();
    expectCode(() => u.upload(new Uint8Array(12), [1, 2, 2, 3]), 'ERR_DISPOSED', /BatchUploader.upload: the uploader is disposed/);
    expectCode(() => u.prefetch(new Uint8Array(12), [1, 2, 2, 3]), 'ERR_DISPOSED', /BatchUploader.prefetch/);
  });

  it('the native stager checks its arguments', () => {
    const s = addon.stagerCreate(device, 2);
    const h = (t: ap.Tensor): any => t._handle('test');
    ap.tidy(() => {
      const dst = ap.tensor(new Uint8Array(6), [6], { dtype: 'u8', device });
      expectCode(() => addon.stagerUpload(s, 2, new Uint8Array(6), h(dst)), 'ERR_ARG', /stagerUpload: .*'slot'/);
      expectCode(() => addon.stagerUpload(s, 0, new Float32Array(6) as any, h(dst)), 'ERR_ARG', /stagerUpload: argument 'bytes' must be a Uint8Array/);
      expectCode(() => addon.stagerUpload(s, 0, new Uint8Array(5), h(dst)), 'ERR_SHAPE', /Stager.upload: argument 'host' has 5 bytes but 'dst' \[6\] holds 6/);
      const f = ap.zeros([6], { device });
      expectCode(() => addon.stagerUpload(s, 0, new Uint8Array(6), h(f)), 'ERR_DTYPE', /Stager.upload: argument 'dst'/);
      expectCode(() => addon.stagerRelease(s, -1), 'ERR_ARG', /stagerRelease: .*'slot'/);
      addon.stagerUpload(s, 1, Uint8Array.of(1, 2, 3, 4, 5, 255), h(dst));
      addon.stagerRelease(s, 1);
      assert.deepEqual([...dst.toArray()], [1, 2, 3, 4, 5, 255]);
      const other = device === 'cpu' ? deviceOf('cuda-sim') : 'cpu';
      if (other) {
        const o = ap.tensor(new Uint8Array(6), [6], { dtype: 'u8', device: other });
        expectCode(() => addon.stagerUpload(s, 0, new Uint8Array(6), h(o)), 'ERR_DEVICE', /Stager.upload: argument 'dst' \[6\] is on/);
      }
    });
    addon.stagerDispose(s);
    addon.stagerDispose(s);
    expectCode(() => addon.stagerRelease(s, 0), 'ERR_DISPOSED', /stagerRelease: the stager is disposed/);
    expectCode(() => addon.stagerCreate(device, 0), 'ERR_ARG', /stagerCreate: .*'slots'/);
    expectCode(() => addon.stagerRelease({} as any, 0), 'ERR_ARG', /stagerRelease: argument 'stager' must be a stager/);
  });

  // cuda/cuda-sim: copies up to 256 KiB go through a ring of 16 pinned segments of 256 KiB
  // (native/cuda/staging.cu): 60 tensors of 150 KiB take a segment each and wrap the ring three
  // times, between them odd sizes share segments; every tensor must keep the values it was made
  // with, and a copy over 256 KiB (the synchronising path) too.
  it('tensors made from host arrays keep their values while the upload ring wraps', () => {
    ap.tidy(() => {
      const made: { t: ap.Tensor; want: Float32Array }[] = [];
      for (let i = 0; i < 60; i++) {
        for (const n of [i % 2 === 0 ? 38400 : 38401, 1 + i, 3]) {
          const want = Float32Array.from(hostRandomish(n, i * 7 + n));
          made.push({ t: ap.tensor(want, [n], { device }), want: Float32Array.from(want) });
          want.fill(-1);  // the caller may reuse its buffer as soon as tensor() returns
        }
      }
      const big = Float32Array.from(hostRandomish(70000, 3));
      made.push({ t: ap.tensor(big, [70000], { device }), want: Float32Array.from(big) });
      made.forEach(({ t, want }, k) => assert.deepEqual(t.toArray(), want, `tensor ${k}`));
    });
  });

  it('Trainer.step with `next` (the following batch staged during the step) changes no bit of a run', () => {
    const STAGES: ap.models.StageArgs[] = [{ repeats: 1, kernel: 3, stride: 2, expand: 2, inFilters: 8, outFilters: 8, seRatio: 0.25 }];
    const shape = [4, 10, 10, 3];
    const data = [0, 1, 2, 3].map((i) => ({ x: bytes(numel(shape), 20 + i), shape, y: Int32Array.from([0, 1, 2, i % 3]) }));
    const run = (staged: boolean): number[] => {
      ap.manualSeed(3);
      const model = ap.models.efficientnet('b0', {
        width: 1, depth: 1, stages: STAGES, stemFilters: 8, headFilters: 16, numClasses: 3, domains: 2, dropout: 0.2, dropConnect: 0.2, seed: 4, device,
      });
      const t = new Trainer(model, { lr: 0.05, epsilon: 4, ema: 0.9 });
      const out: number[] = [];
      data.forEach((b, i) => out.push(t.step(b, staged ? { next: data[i + 1] } : undefined).loss));
      for (const p of model.parameters()) out.push(...p.toArray());
      t.dispose();
      return out;
    };
    assert.deepEqual(run(true), run(false));
  });

  it('a `next` the uploader refuses leaves the step done, and the step that gets it reports it', () => {
    const STAGES: ap.models.StageArgs[] = [{ repeats: 1, kernel: 3, stride: 1, expand: 1, inFilters: 8, outFilters: 8, seRatio: 0.25 }];
    const model = ap.models.efficientnet('b0', { width: 1, depth: 1, stages: STAGES, stemFilters: 8, headFilters: 16, numClasses: 3, domains: 2, seed: 4, device });
    const t = new Trainer(model, { lr: 0.05, method: 'vanilla' });
    try {
      const good = { x: bytes(2 * 8 * 8 * 3, 1), shape: [2, 8, 8, 3], y: Int32Array.of(0, 1) };
      const bad = { x: bytes(384, 2), shape: [-2, -8, 8, 3], y: Int32Array.of(0, 1) };  // 384 bytes, a negative shape
      assert.equal(t.step(good, { next: bad }).step, 1);
      expectCode(() => t.step(bad), 'ERR_ARG', /Trainer.step|shape/);
      expectCode(() => t.step(good, 5 as any), 'ERR_ARG', /Trainer.step/);
      assert.equal(t.step(good).step, 2);
    } finally {
      t.dispose();
    }
  });
});
