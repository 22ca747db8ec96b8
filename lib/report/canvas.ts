// A minimal RGBA raster for the plots: filled rectangles, anti-aliased thick lines and bitmap text.
import { ADVANCE, GLYPH_H, GLYPH_W, glyph, textWidth } from './font.js';

export type Rgb = readonly [number, number, number];
export interface Rect { x0: number; y0: number; x1: number; y1: number }

export class Canvas {
  readonly data: Buffer;

  constructor(readonly width: number, readonly height: number, background: Rgb = [255, 255, 255]) {
    this.data = Buffer.alloc(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  /** Blends `rgb` over pixel (x, y) with coverage `alpha` in [0, 1]; outside the canvas or `clip` it does nothing. */
  blend(x: number, y: number, rgb: Rgb, alpha = 1, clip?: Rect): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || alpha <= 0) return;
    if (clip && (x < clip.x0 || x > clip.x1 || y < clip.y0 || y > clip.y1)) return;
    const o = (y * this.width + x) * 4, a = Math.min(1, alpha);
    for (let k = 0; k < 3; k++) this.data[o + k] = Math.round(this.data[o + k]! * (1 - a) + rgb[k]! * a);
    this.data[o + 3] = 255;
  }

  pixel(x: number, y: number): Rgb {
    const o = (y * this.width + x) * 4;
    return [this.data[o]!, this.data[o + 1]!, this.data[o + 2]!];
  }

  fillRect(x: number, y: number, w: number, h: number, rgb: Rgb): void {
    for (let yy = Math.max(0, y); yy < Math.min(this.height, y + h); yy++)
      for (let xx = Math.max(0, x); xx < Math.min(this.width, x + w); xx++) this.blend(xx, yy, rgb);
  }

  /**
   * A line of the given width from (x0, y0) to (x1, y1) in pixel-centre coordinates. Coverage falls
   * off linearly over one pixel at the edge, which anti-aliases without a supersampled buffer.
   */
  line(x0: number, y0: number, x1: number, y1: number, rgb: Rgb, width = 2, clip?: Rect): void {
    const half = width / 2, pad = half + 1;
    const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    const xa = Math.floor(Math.min(x0, x1) - pad), xb = Math.ceil(Math.max(x0, x1) + pad);
    const ya = Math.floor(Math.min(y0, y1) - pad), yb = Math.ceil(Math.max(y0, y1) + pad);
    for (let y = Math.max(0, ya); y <= Math.min(this.height - 1, yb); y++)
      for (let x = Math.max(0, xa); x <= Math.min(this.width - 1, xb); x++) {
        const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / len2));
        const d = Math.hypot(x - (x0 + t * dx), y - (y0 + t * dy));
        this.blend(x, y, rgb, half + 0.5 - d, clip);
      }
  }

  /**
   * Text with its top-left corner at (x, y), `scale` pixels per font pixel. `vertical` draws it
   * rotated a quarter turn anticlockwise, reading bottom to top, with (x, y) its bottom-left corner.
   */
  text(s: string, x: number, y: number, rgb: Rgb, scale = 1, vertical = false): void {
    for (let i = 0; i < s.length; i++) {
      const rows = glyph(s[i]!);
      for (let r = 0; r < GLYPH_H; r++)
        for (let col = 0; col < GLYPH_W; col++) {
          if (!((rows[r]! >> (GLYPH_W - 1 - col)) & 1)) continue;
          const u = (i * ADVANCE + col) * scale, v = r * scale;
          if (vertical) this.fillRect(x + v, y - u - scale, scale, scale, rgb);
          else this.fillRect(x + u, y + v, scale, scale, rgb);
        }
    }
  }
}

export { textWidth, GLYPH_H };
