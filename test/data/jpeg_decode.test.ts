// The loader's libjpeg-turbo path (advprop/jpeg.h through lib/data/jpeg_decode.ts): a crop decoded
// from its own rows and columns, at a DCT scale, is the whole decode resampled (PIL's bilinear
// with a box, written here in double); grey and RGB in either channel count; and every file it
// does not read cleanly is sent back to sharp. The resample's own checks against PIL's formula and
// hand-worked values are native (native/tests/resample_test.cc).
import { strict as assert } from 'node:assert';
import sharp, { type JpegOptions } from 'sharp';
import { addon } from '../../lib/native.js';
import { decodeJpegBox, jpegDecoder, type Box } from '../../lib/data/jpeg_decode.js';
import { expectCode } from '../helpers.js';
import { greyOf, pattern } from './images.js';

const lib = addon.jpegLibrary();

interface Img { data: Uint8Array; height: number; width: number; channels: number }

// PIL's ImagingResample, bilinear (triangle) filter, box in source pixels, in double.
function taps(b0: number, b1: number, size: number, out: number, i: number): { lo: number; w: number[] } {
  const scale = (b1 - b0) / out, fs = Math.max(scale, 1), centre = b0 + (i + 0.5) * scale;
  const lo = Math.max(Math.trunc(centre - fs + 0.5), 0), hi = Math.min(Math.trunc(centre + fs + 0.5), size);
  const w: number[] = [];
  for (let j = lo; j < hi; j++) w.push(Math.max(0, 1 - Math.abs((j - centre + 0.5) / fs)));
  const sum = w.reduce((a, b) => a + b, 0);
  return { lo, w: w.map((v) => v / sum) };
}

function resampleRef(img: Img, box: { x0: number; y0: number; x1: number; y1: number }, oh: number, ow: number): Uint8Array {
  const c = img.channels, out = new Uint8Array(oh * ow * c);
  const tx = Array.from({ length: ow }, (_, x) => taps(box.x0, box.x1, img.width, ow, x));
  for (let y = 0; y < oh; y++) {
    const ty = taps(box.y0, box.y1, img.height, oh, y);
    for (let x = 0; x < ow; x++)
      for (let k = 0; k < c; k++) {
        let v = 0;
        ty.w.forEach((wy, i) => tx[x]!.w.forEach((wx, j) => { v += wy * wx * img.data[((ty.lo + i) * img.width + tx[x]!.lo + j) * c + k]!; }));
        out[(y * ow + x) * c + k] = Math.min(255, Math.max(0, Math.floor(v + 0.5)));
      }
  }
  return out;
}

function compare(got: Uint8Array, want: Uint8Array, label: string): void {
  assert.equal(got.length, want.length, label);
  let off = 0, max = 0;
  for (let i = 0; i < got.length; i++) { const d = Math.abs(got[i]! - want[i]!); max = Math.max(max, d); off += d ? 1 : 0; }
  // float passes against double: a value within float rounding of a half rounds either way.
  assert.ok(max <= 1 && off <= got.length / 100, `${label}: max difference ${max}, ${off} of ${got.length} values differ`);
}

// The pattern with grain, so a crop misplaced by one pixel changes many values.
function grainy(width: number, height: number): Buffer {
  const p = pattern(width, height, 3);
  let s = 12345;
  for (let i = 0; i < p.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; p[i] = Math.max(0, Math.min(255, p[i]! + ((s >>> 24) % 41) - 20)); }
  return Buffer.from(p);
}

const jpeg = (px: Buffer, width: number, height: number, channels: 1 | 3, opts: JpegOptions = {}): Promise<Buffer> =>
  sharp(px, { raw: { width, height, channels } }).jpeg({ quality: 92, ...opts }).toBuffer();

const decode = (buf: Buffer, box: Box, oh: number, ow: number, channels = 3): Img => {
  const img = decodeJpegBox(buf, box, oh, ow, channels);
  assert.ok(img, 'sent back to sharp');
  return img;
};

describe('data: JPEG decoding through libjpeg-turbo', function () {
  before(function () {
    if (!lib.available) {
      console.log(`    - skipped: no libjpeg for the fast path: ${lib.reason}`);
      this.skip();
    }
  });

  const W = 512, H = 384;
  let buf: Buffer;
  let whole: Img;
  before(async () => {
    buf = await jpeg(grainy(W, H), W, H, 3);
    whole = decode(buf, { top: 0, left: 0, h: H, w: W }, H, W);
  });

  it('the whole image decodes as sharp decodes it (the same libjpeg-turbo IDCT and upsampling)', async () => {
    const { data } = await sharp(buf).raw().toBuffer({ resolveWithObject: true });
    compare(whole.data, new Uint8Array(data.buffer, data.byteOffset, data.length), 'whole');
    assert.deepEqual(jpegDecoder(), { name: 'libjpeg', detail: lib.path });
  });

  it('a crop decoded from its own rows and columns is the whole decode resampled, at every edge', () => {
    // Boxes under twice the output (no DCT scaling): corners, edges, odd offsets, enlarging.
    const boxes: Array<[Box, number, number]> = [
      [{ top: 0, left: 0, h: 100, w: 90 }, 64, 64], [{ top: H - 77, left: W - 131, h: 77, w: 131 }, 64, 96],
      [{ top: 13, left: 301, h: 200, w: 170 }, 128, 128], [{ top: 150, left: 7, h: 31, w: 45 }, 64, 64],
      [{ top: 0, left: 0, h: H, w: W }, 224, 300], [{ top: 101, left: 203, h: 1, w: 1 }, 4, 4],
    ];
    for (const [b, oh, ow] of boxes) {
      const got = decode(buf, b, oh, ow);
      compare(got.data, resampleRef(whole, { x0: b.left, y0: b.top, x1: b.left + b.w, y1: b.top + b.h }, oh, ow), JSON.stringify(b));
    }
  });

  it('a box at least 2, 4 or 8 times the output is decoded at that DCT scale, then resampled', () => {
    for (const d of [2, 4, 8]) {
      // The whole image at 1/d is exactly the scaled decode (its box is the scaled image).
      const scaled = decode(buf, { top: 0, left: 0, h: H, w: W }, H / d, W / d);
      const b: Box = { top: 37, left: 101, h: Math.min(H - 37, 33 * d + 5), w: Math.min(W - 101, 35 * d + 3) };
      const got = decode(buf, b, 32, 32);
      compare(got.data, resampleRef(scaled, { x0: b.left / d, y0: b.top / d, x1: (b.left + b.w) / d, y1: (b.top + b.h) / d }, 32, 32), `1/${d}`);
    }
  });

  it('grey and RGB files give 1 or 3 channels: grey repeated, RGB to Rec. 601 grey of its bytes', async () => {
    const greyPx = Buffer.from(greyOf(pattern(96, 64)));
    const g = await jpeg(greyPx, 96, 64, 1);
    const box: Box = { top: 5, left: 9, h: 50, w: 70 };
    const one = decode(g, box, 40, 40, 1), three = decode(g, box, 40, 40, 3);
    assert.deepEqual([one.channels, three.channels], [1, 3]);
    for (let p = 0; p < 1600; p++) assert.ok(three.data[3 * p] === one.data[p] && three.data[3 * p + 1] === one.data[p] && three.data[3 * p + 2] === one.data[p]);
    const rgb = decode(buf, box, 40, 40, 3), grey = decode(buf, box, 40, 40, 1);
    assert.deepEqual(grey.data, greyOf(rgb.data));
  });

  it('progressive and 4:4:4 files decode as sharp decodes them', async () => {
    for (const opts of [{ progressive: true }, { chromaSubsampling: '4:4:4' }] as JpegOptions[]) {
      const f = await jpeg(grainy(200, 120), 200, 120, 3, opts);
      const { data } = await sharp(f).raw().toBuffer({ resolveWithObject: true });
      compare(decode(f, { top: 0, left: 0, h: 120, w: 200 }, 120, 200).data, new Uint8Array(data.buffer, data.byteOffset, data.length), JSON.stringify(opts));
    }
  });

  it('files it does not read cleanly are sent back to sharp (null): CMYK, truncated, bytes after the end, not a JPEG', async () => {
    const box: Box = { top: 0, left: 0, h: 32, w: 32 };
    const cmyk = await sharp(grainy(64, 48), { raw: { width: 64, height: 48, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer();
    const png = await sharp(grainy(64, 48), { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
    const cut = buf.subarray(0, buf.length >> 1);
    const trailing = Buffer.concat([buf, Buffer.from('trailing bytes')]);
    for (const [name, b] of [['cmyk', cmyk], ['png', png], ['cut', cut], ['trailing', trailing]] as const)
      assert.equal(decodeJpegBox(b, box, 16, 16, 3), null, name);
    // Scan data lost in the middle, the end marker kept: libjpeg warns where the rows run out, so a
    // box over them goes to sharp; a box above them decodes, as sharp (failOn 'error') accepts the
    // file with its warning.
    const hollowed = Buffer.concat([buf.subarray(0, buf.length >> 1), buf.subarray(buf.length - 2)]);
    assert.equal(decodeJpegBox(hollowed, { top: 0, left: 0, h: H, w: W }, 64, 64, 3), null, 'hollowed, whole');
    assert.ok(decodeJpegBox(hollowed, { top: 0, left: 0, h: 16, w: 16 }, 16, 16, 3), 'hollowed, box above the damage');
    assert.ok(await sharp(hollowed, { failOn: 'error' }).raw().toBuffer());
  });

  it('ADVPROP_JPEG=sharp turns the fast path off', () => {
    const saved = process.env.ADVPROP_JPEG;
    try {
      process.env.ADVPROP_JPEG = 'sharp';
      assert.equal(decodeJpegBox(buf, { top: 0, left: 0, h: 32, w: 32 }, 16, 16, 3), null);
      assert.deepEqual(jpegDecoder(), { name: 'sharp', detail: 'ADVPROP_JPEG=sharp' });
    } finally {
      if (saved === undefined) delete process.env.ADVPROP_JPEG; else process.env.ADVPROP_JPEG = saved;
    }
    assert.ok(decodeJpegBox(buf, { top: 0, left: 0, h: 32, w: 32 }, 16, 16, 3));
  });

  it('jpegDecode: bad arguments are ERR_ARG naming the op and the sizes', () => {
    expectCode(() => addon.jpegDecode(buf, 0, 0, 8, 8, 16, 16, 2), 'ERR_ARG', /jpegDecode: box \[0, 0, 8, 8\] .* output \[16, 16, 2\]/);
    expectCode(() => addon.jpegDecode(buf, 0, 0, 0, 8, 16, 16, 3), 'ERR_ARG', /jpegDecode/);
    expectCode(() => addon.jpegDecode(buf, 0, 0, 8, 8, 16, 1 << 20, 3), 'ERR_ARG', /at most 65536/);
    expectCode(() => addon.jpegDecode([1, 2] as unknown as Uint8Array, 0, 0, 8, 8, 16, 16, 3), 'ERR_ARG', /'bytes' must be a Uint8Array/);
    expectCode(() => (addon.jpegDecode as (...a: unknown[]) => unknown)(buf, 0, 0, 8, 8, 16, 16), 'ERR_ARG', /jpegDecode/);
    // A box outside the image read from the header is left to sharp, which draws its own.
    assert.equal(addon.jpegDecode(buf, H - 4, 0, 8, 8, 16, 16, 3), null);
  });
});
