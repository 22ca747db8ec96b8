// The loader's file decoder (sharp): every format and colour space the loader accepts comes out
// as the generated pattern, corrupt files are ERR_FORMAT naming the file, and a random-resized
// crop done inside the decoder matches the same crop done in memory.
import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as data from '../../lib/data/index.js';
import { decodeFile, headerSize } from '../../lib/data/sharp_decode.js';
import { EXT, encode, greyOf, pattern, type Kind } from './images.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'advprop-decode-'));

function diffs(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i]! - b[i]!); max = Math.max(max, d); sum += d; }
  return { max, mean: sum / a.length };
}

// Tolerances against the pattern. Lossless formats are exact; JPEG at quality 95 with 4:4:4 is
// within 6 per channel on this smooth pattern; CMYK goes through libvips' CMYK profile both ways
// (the generator's sRGB → CMYK, the decoder's CMYK → sRGB), whose gamut mapping moves the
// saturated corners of the pattern most.
const TOLERANCE: Record<Kind, { max: number; mean: number }> = {
  png: { max: 0, mean: 0 }, webp: { max: 0, mean: 0 }, rgba: { max: 0, mean: 0 }, png16: { max: 0, mean: 0 },
  jpeg: { max: 6, mean: 1.5 }, grey: { max: 6, mean: 1.5 }, cmyk: { max: 64, mean: 10 },
};

describe('data: sharp decoding', () => {
  const dir = tmp();
  const W = 48, H = 32;

  for (const kind of Object.keys(TOLERANCE) as Kind[]) {
    it(`decodes ${kind} to 3-channel sRGB matching the pattern (max ${TOLERANCE[kind].max}, mean ${TOLERANCE[kind].mean})`, async () => {
      const file = join(dir, `${kind}.${EXT[kind]}`);
      writeFileSync(file, await encode(kind, W, H));
      const { image, consumed } = await decodeFile(file, 3);
      assert.equal(consumed, 0);
      assert.deepEqual([image.height, image.width, image.channels], [H, W, 3]);
      const want = kind === 'grey' ? Uint8Array.from(Array.from(greyOf(pattern(W, H))).flatMap((g) => [g, g, g])) : pattern(W, H);
      const d = diffs(image.data, want);
      assert.ok(d.max <= TOLERANCE[kind].max && d.mean <= TOLERANCE[kind].mean, `${kind}: max ${d.max}, mean ${d.mean.toFixed(2)}`);
      if (kind === 'grey') for (let p = 0; p < W * H; p++) assert.ok(image.data[3 * p] === image.data[3 * p + 1] && image.data[3 * p] === image.data[3 * p + 2]);
    });
  }

  it('decodes to one grey channel for grey datasets', async () => {
    const file = join(dir, 'grey1.png');
    writeFileSync(file, await encode('png', W, H));
    const { image } = await decodeFile(file, 1);
    assert.deepEqual([image.height, image.width, image.channels], [H, W, 1]);
    assert.deepEqual(image.data, greyOf(pattern(W, H)));
    const g = join(dir, 'grey1.jpg');
    writeFileSync(g, await encode('grey', W, H));
    const d = diffs((await decodeFile(g, 1)).image.data, greyOf(pattern(W, H)));
    assert.ok(d.max <= TOLERANCE.grey.max, `grey jpeg max ${d.max}`);
  });

  it('reads JPEG and PNG sizes from the header as sharp does (WebP is left to sharp)', async () => {
    for (const kind of Object.keys(TOLERANCE) as Kind[]) {
      const buf = await encode(kind, 45, 31);
      assert.deepEqual(headerSize(buf), kind === 'webp' ? null : { width: 45, height: 31 }, kind);
    }
    const progressive = await sharp(Buffer.from(pattern(70, 50)), { raw: { width: 70, height: 50, channels: 3 } }).jpeg({ progressive: true }).withMetadata().toBuffer();
    assert.deepEqual(headerSize(progressive), { width: 70, height: 50 });
    assert.equal(headerSize(Buffer.from('not an image at all')), null);
    assert.equal(headerSize(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00])), null);
  });

  it('a corrupt or truncated file is ERR_FORMAT naming the file; a missing one ERR_IO', async () => {
    const garbage = join(dir, 'garbage.jpg');
    writeFileSync(garbage, Buffer.from('not an image at all'));
    await assert.rejects(decodeFile(garbage, 3), (e: any) => e.code === 'ERR_FORMAT' && e.message.includes(garbage));
    const jpg = await encode('jpeg', W, H);
    const cut = join(dir, 'cut.jpg');
    writeFileSync(cut, jpg.subarray(0, jpg.length >> 1));
    await assert.rejects(decodeFile(cut, 3), (e: any) => e.code === 'ERR_FORMAT' && e.message.includes(cut));
    const rrc: data.TransformSpec = { name: 'randomResizedCrop', size: 16 };
    await assert.rejects(decodeFile(cut, 3, rrc, new data.Rng(1)), (e: any) => e.code === 'ERR_FORMAT' && e.message.includes(cut));
    await assert.rejects(decodeFile(join(dir, 'none.jpg'), 3), (e: any) => e.code === 'ERR_IO');
  });

  it('a random-resized crop in the decoder draws the in-memory transform\'s box and matches its pixels', async () => {
    // Small crops of a large image take the shrink-on-load path (box at least twice the output),
    // large ones the exact crop-then-resize path; both against the crop done on the full decode.
    // The in-memory resize is bilinear without antialiasing and libvips' reduce averages, so
    // they agree on ramps (where an average is a point sample) and not on finer detail.
    for (const [w, h, size] of [[64, 48, 24], [900, 600, 48]] as const) {
      const file = join(dir, `big${w}.jpg`);
      const ramps = Uint8Array.from({ length: w * h * 3 }, (_, i) => {
        const p = Math.floor(i / 3), x = p % w, y = Math.floor(p / w);
        return [Math.round(20 + (210 * x) / (w - 1)), Math.round(30 + (200 * y) / (h - 1)), Math.round(40 + (100 * (x + y)) / (w + h))][i % 3]!;
      });
      writeFileSync(file, await sharp(Buffer.from(ramps), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer());
      const full = (await decodeFile(file, 3)).image;
      const spec: data.TransformSpec = { name: 'randomResizedCrop', size };
      let worst = 0;
      for (let key = 0; key < 12; key++) {
        const fused = await decodeFile(file, 3, spec, new data.Rng(7, key));
        assert.equal(fused.consumed, 1);
        const inMemory = data.applyTransforms(full, [spec], new data.Rng(7, key));
        assert.deepEqual([fused.image.height, fused.image.width], [size, size]);
        worst = Math.max(worst, diffs(fused.image.data, inMemory.data).mean);
      }
      // A box misplaced by one output pixel would cost 210 / 48 ≈ 4 levels on the red ramp of a
      // whole-image crop, more on smaller boxes. Boxes smaller than the output (upsampling) differ
      // by up to 1.5 on average: libvips places upsampled pixels a fraction of a pixel apart.
      assert.ok(worst < 2, `${w}×${h}: mean difference ${worst.toFixed(2)} between the decoder's crop and the in-memory crop`);
    }
  });
});
