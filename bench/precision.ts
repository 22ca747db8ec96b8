// Mixed-precision evidence that needs no GPU (issue 15, item 6):
//   (a) EfficientNet-B0 at 224 in bf16 (and f16) against fp32 on 64 random images: the relative
//       error of the logits (‖bf16 − fp32‖ / ‖fp32‖ over the whole batch, and the largest per-image
//       value) and the top-1 agreement;
//   (c) the peak device memory of one AdvProp step (ε = 1), B0 at 224, batch 8, per precision,
//       from ap.memory().devices[d].peakBytesInUse after ap.resetPeakMemory(d), and its ratio to fp32.
//   npx tsx bench/precision.ts [--device cpu|cuda-sim|cuda] [--images 64] [--batch 8] [--size 224] [--skip a|c]
// Weights: the seeded initialisation (seed 0) shared by both precisions. Forward (a) runs in eval
// mode with BN statistics first gathered by one train-mode pass in fp32 over the same images, so
// every layer sees normalised activations (the random-init running statistics would not be).
import { parseArgs } from 'node:util';
import * as ap from '../lib/index.js';
import { canonicalDevice } from '../lib/device.js';
import { Trainer } from '../lib/train/trainer.js';
import type { Precision } from '../lib/precision.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    images: { type: 'string', default: '64' },
    batch: { type: 'string', default: '8' },
    size: { type: 'string', default: '224' },
    skip: { type: 'string', default: '' },
  },
});
const device = canonicalDevice(values.device!);
const images = Number(values.images), batch = Number(values.batch), size = Number(values.size);
const skip = new Set(values.skip!.split(',').filter(Boolean));
console.log(`device ${device}, ${ap.buildInfo().threads} threads, B0 at ${size}`);

function logitsOf(model: ap.models.EfficientNet, x: ap.Tensor, p: Precision): Float32Array {
  return ap.tidy(() => ap.autocast(p, () => Float32Array.from(model.forward(x).cast('f32').toArray() as Float32Array)));
}

if (!skip.has('a')) {
  const model = ap.models.efficientnet('b0', { device, seed: 0 });
  const x = ap.rand([images, size, size, 3], { device, seed: 1 });
  // One train-mode pass: running statistics from these images (momentum 0 would be cleaner, but
  // the layer's momentum is a construction option; a few passes converge it).
  model.train();
  for (let i = 0; i < 3; i++) ap.tidy(() => ap.noGrad(() => { model.forward(x); }));
  model.eval();
  const t0 = Date.now();
  const ref = ap.noGrad(() => logitsOf(model, x, 'fp32'));
  console.log(`(a) fp32 forward of ${images} images: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const classes = ref.length / images;
  const argmax = (v: Float32Array, i: number): number => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (v[i * classes + c] > v[i * classes + best]) best = c;
    return best;
  };
  for (const p of ['bf16', 'fp16'] as const) {
    const t1 = Date.now();
    const got = ap.noGrad(() => logitsOf(model, x, p));
    let num = 0, den = 0, worst = 0, agree = 0;
    for (let i = 0; i < images; i++) {
      let n = 0, d = 0;
      for (let c = 0; c < classes; c++) {
        const e = got[i * classes + c] - ref[i * classes + c];
        n += e * e;
        d += ref[i * classes + c] ** 2;
      }
      num += n;
      den += d;
      worst = Math.max(worst, Math.sqrt(n / d));
      if (argmax(got, i) === argmax(ref, i)) agree++;
    }
    console.log(`(a) ${p}: logits relative error ${Math.sqrt(num / den).toExponential(2)} (worst image ${worst.toExponential(2)}), ` +
      `top-1 agreement ${agree}/${images} = ${((100 * agree) / images).toFixed(1)}% (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
  }
  x.dispose();
}

if (!skip.has('c')) {
  const peaks: Record<string, number> = {};
  for (const p of ['fp32', 'bf16', 'fp16'] as const) {
    const model = ap.models.efficientnet('b0', { device, seed: 0, domains: 2 });
    const trainer = new Trainer(model, { method: 'advprop', epsilon: 1, precision: p, ema: false });
    const x = ap.rand([batch, size, size, 3], { device, seed: 2 });
    const y = Int32Array.from({ length: batch }, (_, i) => (i * 37) % 1000);
    trainer.step({ x, y }); // allocations that persist (optimizer state) happen in the first step
    ap.resetPeakMemory(device);
    const before = ap.memory().devices[device]!.bytesInUse;
    const t0 = Date.now();
    trainer.step({ x, y });
    const peak = ap.memory().devices[device]!.peakBytesInUse;
    peaks[p] = peak;
    const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
    console.log(`(c) ${p}: AdvProp step peak ${mb(peak)} MiB (in use before the step ${mb(before)} MiB; step ${((Date.now() - t0) / 1000).toFixed(1)} s)` +
      (p === 'fp32' ? '' : `, ${(peak / peaks.fp32).toFixed(3)}× fp32`));
    x.dispose();
    trainer.dispose();
    model.dispose();
  }
}
