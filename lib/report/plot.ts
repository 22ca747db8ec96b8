// Line plots written as PNG (training curves: loss, clean and adversarial accuracy per epoch),
// drawn by our own small rasteriser so that reports need no plotting library or browser.
import { randomBytes } from 'node:crypto';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { AdvpropError } from '../errors.js';
import { describeValue, showValue } from '../device.js';
import { boolArg, intArg, numArg, objectArg, pathArg } from '../args.js';
import { Canvas, GLYPH_H, textWidth, type Rect, type Rgb } from './canvas.js';

export interface Series { name: string; points: ReadonlyArray<readonly [number, number]> }
export interface PlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  series: readonly Series[];
  width?: number;
  height?: number;
  /** Fixed axis ranges (e.g. [0, 1] for accuracy); by default they cover the data, rounded out to ticks. */
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
}
export interface PlotLayout {
  width: number;
  height: number;
  /** The data area, in pixels, inclusive. */
  plot: Rect;
  legend: Rect;
  title: Rect | null;
  xRange: [number, number];
  yRange: [number, number];
  xTicks: number[];
  yTicks: number[];
  colors: Rgb[];
}

/** Matplotlib's "tab10": distinct, and readable by most colour-blind viewers. */
export const PALETTE: readonly Rgb[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];
const BLACK: Rgb = [0, 0, 0], GRID: Rgb = [225, 225, 225], TEXT: Rgb = [40, 40, 40];
const MAX_NAME = 28;

/** 1, 2 or 5 × 10^k closest to `x` (rounded) or at least `x` (not rounded): Heckbert's nice numbers. */
function niceNum(x: number, round: boolean): number {
  const e = Math.floor(Math.log10(x)), f = x / 10 ** e;
  const nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
  return nf * 10 ** e;
}

/** Round ticks covering [lo, hi]; returns the widened range and the tick values. */
export function niceTicks(lo: number, hi: number, target = 6, fixed = false): { range: [number, number]; ticks: number[]; step: number } {
  // The tick count bounds the loop below: a huge target would make it run for ever.
  numArg(lo, 'niceTicks', 'lo');
  numArg(hi, 'niceTicks', 'hi');
  intArg(target, 'niceTicks', 'target', 2, 1000);
  boolArg(fixed, 'niceTicks', 'fixed');
  if (!(hi > lo)) { const d = lo === 0 ? 1 : Math.abs(lo) * 0.1; lo -= d; hi += d; }
  const step = niceNum((hi - lo) / Math.max(1, target - 1), true);
  // toPrecision(12) drops the float noise of k·step (0.30000000000000004 → 0.3).
  const clean = (v: number): number => Number(v.toPrecision(12));
  const a = fixed ? lo : clean(Math.floor(lo / step + 1e-9) * step), b = fixed ? hi : clean(Math.ceil(hi / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let k = Math.ceil(a / step - 1e-9); k * step <= b + step * 1e-9; k++) ticks.push(clean(k * step));
  return { range: [a, b], ticks, step };
}

export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e6 || step < 1e-4) return v.toExponential(Math.max(0, Math.min(4, Math.ceil(Math.log10(Math.abs(v) / step)))));
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

const clipName = (s: string): string => (s.length > MAX_NAME ? `${s.slice(0, MAX_NAME - 1)}~` : s);

/** Draws the plot in memory; plotLines() writes it. */
export function renderPlot(opts: PlotOptions): { canvas: Canvas; layout: PlotLayout } {
  objectArg(opts, 'plot', 'options', '{ series, ... }');
  checkSeries(opts.series);
  for (const k of ['title', 'xLabel', 'yLabel'] as const)
    if (opts[k] !== undefined && typeof opts[k] !== 'string') throw new AdvpropError('ERR_ARG', `plot: ${k} must be a string, got ${describeValue(opts[k])}`);
  const width = opts.width ?? 800, height = opts.height ?? 500;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 200 || height < 150 || width * height > 1e8)
    throw new AdvpropError('ERR_ARG', `plot: width and height must be integers, at least 200×150, got ${showValue(width)}×${showValue(height)}`);
  if (!Array.isArray(opts.series)) throw new AdvpropError('ERR_ARG', 'plot: series must be an array');
  for (const [k, r] of [['xRange', opts.xRange], ['yRange', opts.yRange]] as const)
    if (r !== undefined && !(Array.isArray(r) && r.length === 2 && Number.isFinite(r[0]) && Number.isFinite(r[1]) && r[0] < r[1]))
      throw new AdvpropError('ERR_ARG', `plot: ${k} must be two finite numbers, low < high, got ${describeValue(r)}`);
  const c = new Canvas(width, height);

  // Ranges over finite points only: NaN/Infinity mark missing values (e.g. an epoch without evaluation).
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  for (const s of opts.series)
    for (const [x, y] of s.points)
      if (Number.isFinite(x) && Number.isFinite(y)) {
        xmin = Math.min(xmin, x); xmax = Math.max(xmax, x); ymin = Math.min(ymin, y); ymax = Math.max(ymax, y);
      }
  if (xmin > xmax) { xmin = 0; xmax = 1; ymin = 0; ymax = 1; }
  const yt = opts.yRange ? niceTicks(opts.yRange[0], opts.yRange[1], 6, true) : niceTicks(ymin, ymax, 6);
  const yLabels = yt.ticks.map((v) => formatTick(v, yt.step));

  const pad = 10, tick = 5, titleScale = 2;
  const names = opts.series.map((s) => clipName(String(s.name)));
  const legendW = names.length ? 20 + 6 + Math.max(...names.map((n) => textWidth(n))) + 2 * 6 : 0;
  // Fewer x ticks on narrow plots, so that their labels never run into each other.
  const roughW = width - 3 * pad - legendW - 60;
  let xt = niceTicks(0, 1), xLabels: string[] = [];
  for (let target = 8; target >= 2; target--) {
    xt = opts.xRange ? niceTicks(opts.xRange[0], opts.xRange[1], target, true) : niceTicks(xmin, xmax, target);
    xLabels = xt.ticks.map((v) => formatTick(v, xt.step));
    if (xt.ticks.length * (Math.max(...xLabels.map((l) => textWidth(l))) + 12) <= roughW) break;
  }
  const titleH = opts.title ? GLYPH_H * titleScale + pad : 0;
  const plot: Rect = {
    x0: pad + (opts.yLabel ? GLYPH_H + pad : 0) + Math.max(...yLabels.map((l) => textWidth(l))) + tick + 4,
    y0: pad + titleH + 4,
    x1: width - 1 - pad - (legendW ? legendW + pad : 0) - Math.ceil(textWidth(xLabels[xLabels.length - 1]!) / 2),
    y1: height - 1 - pad - (opts.xLabel ? GLYPH_H + pad : 0) - GLYPH_H - tick - 4,
  };
  if (plot.x1 - plot.x0 < 50 || plot.y1 - plot.y0 < 50)
    throw new AdvpropError('ERR_ARG', `plot: ${width}×${height} leaves no room for the data with these labels`);
  const [xa, xb] = xt.range, [ya, yb] = yt.range;
  const px = (x: number): number => plot.x0 + ((x - xa) / (xb - xa)) * (plot.x1 - plot.x0);
  const py = (y: number): number => plot.y1 - ((y - ya) / (yb - ya)) * (plot.y1 - plot.y0);

  // Grid and tick labels.
  xt.ticks.forEach((v, i) => {
    const x = Math.round(px(v));
    for (let y = plot.y0; y <= plot.y1; y++) c.blend(x, y, GRID);
    for (let y = plot.y1; y <= plot.y1 + tick; y++) c.blend(x, y, BLACK);
    c.text(xLabels[i]!, Math.round(x - textWidth(xLabels[i]!) / 2), plot.y1 + tick + 4, TEXT);
  });
  yt.ticks.forEach((v, i) => {
    const y = Math.round(py(v));
    for (let x = plot.x0; x <= plot.x1; x++) c.blend(x, y, GRID);
    for (let x = plot.x0 - tick; x <= plot.x0; x++) c.blend(x, y, BLACK);
    c.text(yLabels[i]!, plot.x0 - tick - 4 - textWidth(yLabels[i]!), y - (GLYPH_H >> 1), TEXT);
  });

  // Series: consecutive finite points are joined; a missing point breaks the line.
  const colors = opts.series.map((_, i) => PALETTE[i % PALETTE.length]!);
  opts.series.forEach((s, i) => {
    let prev: [number, number] | null = null, run = 0;
    const pts = s.points;
    for (let k = 0; k <= pts.length; k++) {
      const p = pts[k];
      const ok = p !== undefined && Number.isFinite(p[0]) && Number.isFinite(p[1]);
      if (ok) {
        const q: [number, number] = [px(p[0]), py(p[1])];
        if (prev) c.line(prev[0], prev[1], q[0], q[1], colors[i]!, 2, plot);
        prev = q; run++;
      } else {
        // An isolated point would otherwise be invisible.
        if (prev && run === 1) c.line(prev[0], prev[1], prev[0], prev[1], colors[i]!, 4, plot);
        prev = null; run = 0;
      }
    }
  });

  // Axes on top of the data.
  for (let y = plot.y0; y <= plot.y1; y++) c.blend(plot.x0, y, BLACK);
  for (let x = plot.x0; x <= plot.x1; x++) c.blend(x, plot.y1, BLACK);

  let title: Rect | null = null;
  if (opts.title) {
    const w = textWidth(opts.title, titleScale), x = Math.max(0, Math.round((width - w) / 2));
    c.text(opts.title, x, pad, BLACK, titleScale);
    title = { x0: x, y0: pad, x1: x + w - 1, y1: pad + GLYPH_H * titleScale - 1 };
  }
  if (opts.xLabel) c.text(opts.xLabel, Math.round((plot.x0 + plot.x1 - textWidth(opts.xLabel)) / 2), height - pad - GLYPH_H, TEXT);
  if (opts.yLabel) c.text(opts.yLabel, pad, Math.round((plot.y0 + plot.y1 + textWidth(opts.yLabel)) / 2), TEXT, 1, true);

  // Legend to the right of the data, so it never hides a curve.
  const rowH = GLYPH_H + 8;
  const legend: Rect = { x0: width - pad - legendW, y0: plot.y0, x1: width - pad - 1, y1: plot.y0 + names.length * rowH + 8 };
  if (names.length) {
    for (let x = legend.x0; x <= legend.x1; x++) { c.blend(x, legend.y0, GRID); c.blend(x, legend.y1, GRID); }
    for (let y = legend.y0; y <= legend.y1; y++) { c.blend(legend.x0, y, GRID); c.blend(legend.x1, y, GRID); }
    names.forEach((n, i) => {
      const y = legend.y0 + 8 + i * rowH;
      c.line(legend.x0 + 6, y + 3, legend.x0 + 26, y + 3, colors[i]!, 3);
      c.text(n, legend.x0 + 32, y, TEXT);
    });
  }
  return {
    canvas: c,
    layout: { width, height, plot, legend, title, xRange: [xa, xb], yRange: [ya, yb], xTicks: xt.ticks, yTicks: yt.ticks, colors },
  };
}

/** Series: objects with a name and [x, y] number pairs (NaN and ±Infinity mark missing points). */
function checkSeries(series: unknown): void {
  if (!Array.isArray(series)) throw new AdvpropError('ERR_ARG', `plot: series must be an array, got ${describeValue(series)}`);
  series.forEach((s: Series, i) => {
    if (s === null || typeof s !== 'object' || !Array.isArray(s.points))
      throw new AdvpropError('ERR_ARG', `plot: series[${i}] must be { name, points: [x, y][] }, got ${describeValue(s)}`);
    if (typeof s.name !== 'string' && typeof s.name !== 'number') throw new AdvpropError('ERR_ARG', `plot: series[${i}].name must be a string, got ${describeValue(s.name)}`);
    s.points.forEach((p, j) => {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'number' || typeof p[1] !== 'number')
        throw new AdvpropError('ERR_ARG', `plot: series[${i}].points[${j}] must be [x, y] numbers, got ${describeValue(p)}`);
    });
  });
}

/** Writes a line plot to `path` as PNG; the file appears whole or not at all (temp file + rename). */
export function plotLines(path: string, opts: PlotOptions): PlotLayout {
  pathArg(path, 'plotLines', 'path');
  const { canvas, layout } = renderPlot(opts);
  const png = new PNG({ width: canvas.width, height: canvas.height });
  canvas.data.copy(png.data);
  const bytes = PNG.sync.write(png);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* it may never have been created */ }
    throw new AdvpropError('ERR_IO', `plot: cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
  return layout;
}
