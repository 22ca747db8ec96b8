// Synchronous JPEG and PNG decoding to HWC bytes with 1 (grey) or 3 (RGB) channels, for callers
// that cannot await (predict, evaluation of a file dataset, prepareBatch): JPEGs through the
// addon's libjpeg-turbo path when it takes them (jpeg_decode.ts, 20–30× faster than jpeg-js), else
// the pure-JavaScript decoders (jpeg-js, pngjs), which need no native image library.
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { AdvpropError } from '../errors.js';
import { describeValue } from '../device.js';
import { pathArg } from '../args.js';
import { decodeJpegBox } from './jpeg_decode.js';
import { headerSize } from './sharp_decode.js';

export interface DecodedImage { data: Uint8Array; height: number; width: number; channels: number }

function fromRgba(rgba: Uint8Array, width: number, height: number, channels: number): DecodedImage {
  const n = width * height;
  const out = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i]!, g = rgba[4 * i + 1]!, b = rgba[4 * i + 2]!;
    if (channels === 1) out[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else { out[3 * i] = r; out[3 * i + 1] = g; out[3 * i + 2] = b; }
  }
  return { data: out, height, width, channels };
}

export function decodeImage(path: string, channels: number): DecodedImage {
  pathArg(path, 'decodeImage', 'path');
  if (channels !== 1 && channels !== 3) throw new AdvpropError('ERR_ARG', `decodeImage: channels must be 1 or 3, got ${describeValue(channels)}`);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new AdvpropError('ERR_IO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return decodeBytes(buf, path, channels);
}

/** decodeImage on bytes already read (a tar shard's member); `path` names them in errors. */
export function decodeBytes(buf: Buffer, path: string, channels: number): DecodedImage {
  try {
    if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) {
      const png = PNG.sync.read(buf);
      return fromRgba(png.data, png.width, png.height, channels);
    }
    if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
      const size = headerSize(buf);
      const fast = size && size.width > 0 && size.height > 0
        ? decodeJpegBox(buf, { top: 0, left: 0, h: size.height, w: size.width }, size.height, size.width, channels) : null;
      if (fast) return fast;
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return fromRgba(img.data, img.width, img.height, channels);
    }
  } catch (e) {
    throw new AdvpropError('ERR_FORMAT', `${path}: cannot decode image (${(e as Error).message})`, { cause: e });
  }
  throw new AdvpropError('ERR_FORMAT', `${path}: neither PNG nor JPEG`);
}
