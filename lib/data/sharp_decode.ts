// Image files decoded for the loader: JPEGs by libjpeg-turbo through the addon where it takes them
// (jpeg_decode.ts), everything else by sharp (libvips with libjpeg-turbo, libpng, libwebp). Every
// input becomes 8-bit sRGB with 3 channels (or Rec. 601 grey with 1), whatever its colour space (greyscale,
// CMYK through libvips' CMYK profile, 16-bit, palette, alpha dropped as PIL's convert('RGB') does).
// A random-resized crop is done by the decoder itself, so a JPEG whose crop box is at least twice
// the output size is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling).
import { readFileSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import { AdvpropError } from '../errors.js';
import type { Rng } from './rng.js';
import { hw, randomResizedBox, type Image, type TransformSpec } from './transforms.js';
import { decodeJpegBox, isJpeg } from './jpeg_decode.js';

let configured = false;

// One libvips thread per call: the loader's parallelism is its workers (each with its current
// image and decodeAhead more in flight). The operation cache only holds memory for images never
// seen again.
function configure(): void {
  if (configured) return;
  sharp.cache(false);
  sharp.concurrency(1);
  configured = true;
}

export interface FileDecode {
  image: Image;
  /** How many of the leading transforms the decode applied (0, or 1 for a randomResizedCrop). */
  consumed: number;
}

function formatError(path: string, e: unknown): AdvpropError {
  return new AdvpropError('ERR_FORMAT', `${path}: cannot decode image (${(e as Error).message ?? String(e)})`, { cause: e });
}

async function toImage(p: Sharp, path: string, channels: number): Promise<Image> {
  const { data, info } = await p.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new AdvpropError('ERR_FORMAT', `${path}: decoded to ${info.channels} channels, expected 3`);
  const rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (channels === 3) return { data: rgb, height: info.height, width: info.width, channels };
  // Rec. 601 luma of the bytes, as PIL's convert('L') and the synchronous decoder (libvips' b-w
  // is the luminance of linear light, up to 30 levels away); a grey file's bands are equal, so
  // it comes back exactly.
  const n = info.width * info.height, grey = new Uint8Array(n);
  for (let i = 0; i < n; i++) grey[i] = Math.round(0.299 * rgb[3 * i]! + 0.587 * rgb[3 * i + 1]! + 0.114 * rgb[3 * i + 2]!);
  return { data: grey, height: info.height, width: info.width, channels: 1 };
}

/** Width and height from a JPEG's frame header or a PNG's IHDR, read here rather than by a
 * metadata call through the thread pool; null for anything else (sharp reads it then). */
export function headerSize(buf: Buffer): { width: number; height: number } | null {
  if (buf.length >= 24 && buf.readUInt32BE(0) === 0x89504e47 && buf.toString('latin1', 12, 16) === 'IHDR')
    return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) return null;
    const m = buf[i + 1]!;
    if (m === 0xff) { i++; continue; } // fill byte
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; } // no length
    // SOF0..SOF15 but DHT (c4), JPG (c8) and DAC (cc): precision, height, width.
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    if (m === 0xda || m === 0xd9) return null; // scan data before a frame header
    i += 2 + buf.readUInt16BE(i + 2);
  }
  return null;
}

/**
 * Decodes `path` to `channels` (1 or 3). When `first` is a randomResizedCrop, its box is drawn
 * from `rng` (the same draws as the in-memory transform) from the file's header and the crop is
 * resized by libvips (bilinear, antialiased when shrinking, as PIL). A file that cannot be read is
 * ERR_IO; one that is not a decodable PNG, JPEG or WebP is ERR_FORMAT naming the file.
 */
export async function decodeFile(path: string, channels: number, first?: TransformSpec, rng?: Rng): Promise<FileDecode> {
  let buf: Buffer;
  try {
    // Synchronous: the worker has nothing else to do meanwhile, and a thread-pool round trip
    // costs more than reading ~100 kB.
    buf = readFileSync(path);
  } catch (e) {
    throw new AdvpropError('ERR_IO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return decodeBuffer(buf, path, channels, first, rng);
}

/** decodeFile on bytes already read (a tar shard's member); `path` names them in errors. */
export async function decodeBuffer(buf: Buffer, path: string, channels: number, first?: TransformSpec, rng?: Rng): Promise<FileDecode> {
  configure();
  // failOn 'error' rejects truncated and broken files but not libjpeg's warnings (extraneous
  // bytes before a marker), which a handful of ImageNet's JPEGs have and PIL accepts.
  const open = (): Sharp => sharp(buf, { failOn: 'error' });
  try {
    const header = headerSize(buf);
    if (first?.name !== 'randomResizedCrop' || rng === undefined) {
      const fast = header && header.width > 0 && header.height > 0 && isJpeg(buf)
        ? decodeJpegBox(buf, { top: 0, left: 0, h: header.height, w: header.width }, header.height, header.width, channels) : null;
      return { image: fast ?? await toImage(open(), path, channels), consumed: 0 };
    }
    const size = header && header.width > 0 && header.height > 0 ? header : await open().metadata();
    const width = size.width, height = size.height;
    if (!width || !height) throw new Error('no image size in the header');
    const box = randomResizedBox({ height, width }, rng, first.scale ?? [0.08, 1], first.ratio ?? [3 / 4, 4 / 3]);
    const [oh, ow] = hw(first.size);
    const fast = decodeJpegBox(buf, box, oh, ow, channels);
    if (fast) return { image: fast, consumed: 1 };
    const opts = { fit: 'fill' as const, kernel: 'linear' as const };
    let p: Sharp;
    if (Math.min(box.w / ow, box.h / oh) >= 2) {
      // sharp turns shrink-on-load off after a pre-resize extract, so scale the whole image by the
      // box's factors (the decoder then reads the JPEG at the largest power-of-two reduction that
      // still covers the crop) and take the box afterwards; libvips computes only that region.
      const sx = ow / box.w, sy = oh / box.h;
      const rw = Math.max(ow, Math.round(width * sx)), rh = Math.max(oh, Math.round(height * sy));
      const left = Math.max(0, Math.min(Math.round(box.left * sx), rw - ow)), top = Math.max(0, Math.min(Math.round(box.top * sy), rh - oh));
      p = open().resize(rw, rh, opts).extract({ left, top, width: ow, height: oh });
    } else {
      p = open().extract({ left: box.left, top: box.top, width: box.w, height: box.h }).resize(ow, oh, opts);
    }
    return { image: await toImage(p, path, channels), consumed: 1 };
  } catch (e) {
    throw e instanceof AdvpropError ? e : formatError(path, e);
  }
}
