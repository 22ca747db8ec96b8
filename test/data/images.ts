// Generated test images: a known smooth pattern written by sharp as JPEG, PNG, WebP, greyscale
// and CMYK files, and small ImageFolders of them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

/** RGB pattern: red ramps along x, green along y, blue a slow wave; gentle enough for JPEG. */
export function pattern(width: number, height: number, seed = 0): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[i] = Math.round(40 + (170 * x) / Math.max(1, width - 1));
      out[i + 1] = Math.round(50 + (150 * y) / Math.max(1, height - 1));
      out[i + 2] = Math.round(128 + 60 * Math.sin((x + y + seed * 7) / 9));
    }
  return out;
}

export const greyOf = (rgb: Uint8Array): Uint8Array =>
  Uint8Array.from({ length: rgb.length / 3 }, (_, p) => Math.round(0.299 * rgb[3 * p]! + 0.587 * rgb[3 * p + 1]! + 0.114 * rgb[3 * p + 2]!));

const raw = (width: number, height: number, channels: 1 | 3 | 4) => ({ raw: { width, height, channels } });

export type Kind = 'jpeg' | 'png' | 'webp' | 'grey' | 'cmyk' | 'png16' | 'rgba';

/** The bytes of `kind` holding pattern(width, height, seed) (its grey for 'grey'). */
export async function encode(kind: Kind, width: number, height: number, seed = 0): Promise<Buffer> {
  const rgb = Buffer.from(pattern(width, height, seed));
  const s = () => sharp(rgb, raw(width, height, 3));
  switch (kind) {
    case 'jpeg': return s().jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
    case 'png': return s().png().toBuffer();
    case 'webp': return s().webp({ lossless: true }).toBuffer();
    case 'grey': return sharp(Buffer.from(greyOf(rgb)), raw(width, height, 1)).jpeg({ quality: 95 }).toBuffer();
    case 'cmyk': return s().toColourspace('cmyk').jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
    case 'png16': return s().toColourspace('rgb16').png().toBuffer();
    case 'rgba': return s().ensureAlpha(0.5).png().toBuffer();
  }
}

export const EXT: Record<Kind, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', grey: 'jpg', cmyk: 'jpg', png16: 'png', rgba: 'png' };

/** root/<split>/<class>/<i>.<ext>: `perClass` images per class of sizes around 40×30, kinds in turn. */
export async function writeImageFolder(root: string, split: string, classes: string[], perClass: number,
  kinds: Kind[] = ['jpeg', 'png', 'webp', 'grey', 'cmyk']): Promise<string[]> {
  const paths: string[] = [];
  for (const [c, cls] of classes.entries()) {
    mkdirSync(join(root, split, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const kind = kinds[(i + c) % kinds.length]!;
      const file = join(root, split, cls, `${String(i).padStart(3, '0')}.${EXT[kind]}`);
      writeFileSync(file, await encode(kind, 36 + 4 * ((i * 3 + c) % 5), 28 + 3 * (i % 4), i + 10 * c));
      paths.push(file);
    }
  }
  return paths;
}
