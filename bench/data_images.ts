// The input-pipeline benchmarks' images: generated 500×375 JPEGs (quality 90, 4:2:0) of smooth
// random blobs plus grain, so they have ImageNet-like sizes (~55 kB); nothing is downloaded.
import sharp from 'sharp';

export async function makeImage(seed: number): Promise<Buffer> {
  const W = 500, H = 375, px = new Uint8Array(W * H * 3);
  let s = seed * 2654435761 >>> 0;
  const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const blobs = Array.from({ length: 12 }, () => [rnd() * W, rnd() * H, 20 + rnd() * 120, rnd() * 255, rnd() * 255, rnd() * 255]);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let r = 0, g = 0, b = 0, wsum = 1e-6;
      for (const [bx, by, rad, br, bg, bb] of blobs) {
        const w = Math.exp(-((x - bx!) ** 2 + (y - by!) ** 2) / (2 * rad! * rad!));
        r += w * br!; g += w * bg!; b += w * bb!; wsum += w;
      }
      const n = (rnd() - 0.5) * 24, i = (y * W + x) * 3;
      px[i] = Math.max(0, Math.min(255, r / wsum + n));
      px[i + 1] = Math.max(0, Math.min(255, g / wsum + n));
      px[i + 2] = Math.max(0, Math.min(255, b / wsum + n));
    }
  return sharp(Buffer.from(px), { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}
