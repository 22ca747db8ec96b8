import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { AdvpropError } from '../../lib/errors.js';
import { glyph, GLYPH_W } from '../../lib/report/font.js';
import { formatTick, niceTicks, PALETTE, plotLines, type PlotLayout } from '../../lib/report/plot.js';

type Rgb = readonly [number, number, number];
const tmp = (): string => mkdtempSync(join(tmpdir(), 'advprop-plot-'));

function read(path: string): PNG {
  return PNG.sync.read(readFileSync(path));
}
const at = (png: PNG, x: number, y: number): Rgb => {
  const o = (y * png.width + x) * 4;
  return [png.data[o]!, png.data[o + 1]!, png.data[o + 2]!];
};
const close = (a: Rgb, b: Rgb, tol = 40): boolean => a.every((v, k) => Math.abs(v - b[k]!) <= tol);
const isWhite = (a: Rgb): boolean => a.every((v) => v === 255);

/** Whether some pixel within `r` of (x, y) has (about) the colour. */
function near(png: PNG, x: number, y: number, rgb: Rgb, r = 1): boolean {
  for (let dy = -r; dy <= r; dy++)
    for (let dx = -r; dx <= r; dx++)
      if (close(at(png, Math.round(x) + dx, Math.round(y) + dy), rgb)) return true;
  return false;
}
function countIn(png: PNG, rect: { x0: number; y0: number; x1: number; y1: number }, pred: (c: Rgb) => boolean): number {
  let n = 0;
  for (let y = Math.ceil(rect.y0); y <= rect.y1; y++) for (let x = Math.ceil(rect.x0); x <= rect.x1; x++) if (pred(at(png, x, y))) n++;
  return n;
}

describe('report: PNG line plots', () => {
  it('writes a PNG of the requested size, white outside the drawing', () => {
    const dir = tmp(), path = join(dir, 'a.png');
    plotLines(path, { title: 'T', series: [{ name: 's', points: [[0, 0], [1, 1]] }], width: 640, height: 400 });
    const png = read(path);
    assert.equal(png.width, 640);
    assert.equal(png.height, 400);
    assert.ok(isWhite(at(png, 0, 0)) && isWhite(at(png, 639, 399)));
    assert.deepEqual(readdirSync(dir), ['a.png'], 'no temp file is left behind');
  });

  it('draws each series along its path in its own colour', () => {
    const path = join(tmp(), 'b.png');
    const layout: PlotLayout = plotLines(path, {
      title: 'diagonals', xLabel: 'epoch', yLabel: 'value',
      series: [{ name: 'up', points: [[0, 0], [10, 10]] }, { name: 'down', points: [[0, 10], [10, 0]] }],
    });
    const png = read(path), { plot } = layout;
    assert.deepEqual(layout.xRange, [0, 10]);
    assert.deepEqual(layout.yRange, [0, 10]);
    assert.notDeepEqual(layout.colors[0], layout.colors[1]);
    for (let t = 0.05; t < 0.96; t += 0.05) {
      if (Math.abs(t - 0.5) < 0.03) continue; // where the two lines cross
      const x = plot.x0 + t * (plot.x1 - plot.x0);
      assert.ok(near(png, x, plot.y1 - t * (plot.y1 - plot.y0), layout.colors[0]!), `'up' missing at t=${t}`);
      assert.ok(near(png, x, plot.y0 + t * (plot.y1 - plot.y0), layout.colors[1]!), `'down' missing at t=${t}`);
      // Away from the lines the plot area stays (nearly) background.
      assert.ok(!near(png, x, plot.y1 - t * (plot.y1 - plot.y0) + 25, layout.colors[0]!, 0));
    }
  });

  it('puts the title, tick labels and a legend entry per series where the layout says', () => {
    const path = join(tmp(), 'c.png');
    const layout = plotLines(path, {
      title: 'AdvProp on Fashion-MNIST', xLabel: 'epoch', yLabel: 'accuracy',
      series: ['clean', 'adversarial', 'loss'].map((name, i) => ({ name, points: [[1, i], [2, i + 0.5]] as [number, number][] })),
    });
    const png = read(path);
    assert.ok(layout.title && countIn(png, layout.title, (c) => !isWhite(c)) > 50, 'title pixels');
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(layout.colors[i], PALETTE[i]);
      assert.ok(countIn(png, layout.legend, (c) => close(c, layout.colors[i]!, 10)) >= 20, `legend swatch ${i}`);
    }
    assert.ok(countIn(png, layout.legend, (c) => close(c, [40, 40, 40], 10)) > 100, 'legend names');
    assert.ok(layout.legend.x0 > layout.plot.x1, 'the legend is beside the data');
    // Tick labels below the x axis and left of the y axis.
    const below = { x0: layout.plot.x0 - 10, y0: layout.plot.y1 + 6, x1: layout.plot.x1 + 10, y1: layout.plot.y1 + 20 };
    const left = { x0: 0, y0: layout.plot.y0, x1: layout.plot.x0 - 6, y1: layout.plot.y1 };
    assert.ok(countIn(png, below, (c) => !isWhite(c)) > 30 && countIn(png, left, (c) => !isWhite(c)) > 30);
    assert.ok(layout.xTicks.length >= 3 && layout.yTicks.length >= 3);
  });

  it('skips empty series and NaN/Infinity points, breaking the line there', () => {
    const path = join(tmp(), 'd.png');
    const layout = plotLines(path, {
      series: [
        { name: 'gappy', points: [[0, 0], [1, 1], [2, NaN], [3, 3], [4, 4], [Infinity, 2]] },
        { name: 'empty', points: [] },
      ],
    });
    const png = read(path), { plot } = layout;
    assert.deepEqual(layout.xRange, [0, 4]);
    const px = (x: number): number => plot.x0 + (x / 4) * (plot.x1 - plot.x0);
    const py = (y: number): number => plot.y1 - ((y - layout.yRange[0]) / (layout.yRange[1] - layout.yRange[0])) * (plot.y1 - plot.y0);
    assert.ok(near(png, px(0.5), py(0.5), layout.colors[0]!));
    assert.ok(near(png, px(3.5), py(3.5), layout.colors[0]!));
    assert.ok(!near(png, px(2), py(2), layout.colors[0]!, 2), 'no line across the missing point');
    // Nothing at all to draw still gives a valid plot.
    plotLines(path, { series: [] });
    plotLines(path, { series: [{ name: 'nan', points: [[NaN, NaN]] }], xRange: [0, 1], yRange: [0, 1] });
    assert.equal(read(path).width, 800);
  });

  it('reports a missing folder as ERR_IO and bad sizes as ERR_ARG', () => {
    const path = join(tmp(), 'no', 'such', 'dir', 'p.png');
    assert.throws(() => plotLines(path, { series: [] }), (e: unknown) => e instanceof AdvpropError && e.code === 'ERR_IO');
    assert.throws(() => plotLines(join(tmp(), 'x.png'), { series: [], width: 10 }),
      (e: unknown) => e instanceof AdvpropError && e.code === 'ERR_ARG');
    assert.throws(() => plotLines(join(tmp(), 'x.png'), { series: [], yRange: [1, 0] }),
      (e: unknown) => e instanceof AdvpropError && e.code === 'ERR_ARG');
  });

  it('uses fewer x ticks on a narrow plot so their labels do not collide', () => {
    const layout = plotLines(join(tmp(), 'n.png'), {
      width: 320, height: 220, yRange: [0, 1], series: [{ name: 'clean', points: [[0, 0.1], [2000, 0.85]] }],
    });
    const spacing = (layout.plot.x1 - layout.plot.x0) / (layout.xTicks.length - 1);
    assert.ok(spacing >= 6 * 4 + 6, `ticks ${layout.xTicks.join(' ')} only ${spacing} px apart`);
    assert.deepEqual(layout.yTicks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('chooses round ticks and formats them by their step', () => {
    assert.deepEqual(niceTicks(0, 0.93, 6).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(1, 30, 8).ticks, [0, 5, 10, 15, 20, 25, 30]);
    assert.deepEqual(niceTicks(0.2314, 0.2501, 6).ticks, [0.23, 0.235, 0.24, 0.245, 0.25, 0.255]);
    assert.deepEqual(niceTicks(5, 5).range, [4.4, 5.6]);
    assert.equal(formatTick(0.6000000001, 0.2), '0.6');
    assert.equal(formatTick(15, 5), '15');
    assert.equal(formatTick(0.235, 0.005), '0.235');
    assert.equal(formatTick(0, 0.5), '0');
  });

  it('has a glyph for every printable ASCII character', () => {
    const seen = new Set<string>();
    for (let code = 33; code < 127; code++) {
      const rows = glyph(String.fromCharCode(code));
      assert.equal(rows.length, 7);
      assert.ok(rows.some((r) => r !== 0) && rows.every((r) => r < 1 << GLYPH_W), String.fromCharCode(code));
      seen.add(rows.join(','));
    }
    assert.equal(seen.size, 94, 'all glyphs differ');
    assert.ok(glyph(' ').every((r) => r === 0));
  });
});
