// The loader's fast JPEG path: libjpeg-turbo through the addon (advprop/jpeg.h), the crop decoded
// at the smallest DCT scale that covers it and resampled as PIL's bilinear with a box. It takes
// 8-bit greyscale and YCbCr/RGB files that libjpeg reads without a warning; everything else
// (CMYK, 12-bit, truncated or corrupt, no libjpeg on the machine) returns null and goes to sharp.
// ADVPROP_JPEG=sharp sends every file to sharp (for comparisons).
import { addon } from '../native.js';
import type { Image } from './transforms.js';

export interface JpegDecoder {
  /** 'libjpeg' when the fast path is on, else 'sharp'. */
  name: 'libjpeg' | 'sharp';
  /** The library loaded, or why none is used. */
  detail: string;
}

export function jpegDecoder(): JpegDecoder {
  if (process.env.ADVPROP_JPEG === 'sharp') return { name: 'sharp', detail: 'ADVPROP_JPEG=sharp' };
  const lib = addon.jpegLibrary();
  return lib.available ? { name: 'libjpeg', detail: lib.path } : { name: 'sharp', detail: lib.reason };
}

let enabled: boolean | undefined;
let enabledFor: string | undefined;

function fastPath(): boolean {
  const env = process.env.ADVPROP_JPEG;
  if (enabled === undefined || env !== enabledFor) {
    enabled = jpegDecoder().name === 'libjpeg';
    enabledFor = env;
  }
  return enabled;
}

export const isJpeg = (buf: Uint8Array): boolean => buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;

export interface Box { top: number; left: number; h: number; w: number }

/** The box of a JPEG resampled to outH × outW × channels, or null when the caller's other decoder
 * must take the file (sharp; jpeg-js for the synchronous decodeImage). */
export function decodeJpegBox(buf: Uint8Array, box: Box, outH: number, outW: number, channels: number): Image | null {
  if (!fastPath() || !isJpeg(buf)) return null;
  const data = addon.jpegDecode(buf, box.top, box.left, box.h, box.w, outH, outW, channels);
  return data && { data, height: outH, width: outW, channels };
}
