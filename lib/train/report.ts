// report.md (the final table) and the loss / accuracy plots of a run folder.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { plotLines } from '../report/plot.js';
import type { EvalResult } from './evaluate.js';
import { defaultSteps } from '../attack/pgd.js';

const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${(100 * v).toFixed(2)}%`);

interface MetricLine { type: string; step: number; loss?: number; cleanLoss?: number | null; advLoss?: number | null; cleanAcc?: number | null; advAcc?: number | null; clean?: number }

export function readMetrics(file: string): MetricLine[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as MetricLine);
}

export function writePlots(dir: string, metricsFile: string): string[] {
  const m = readMetrics(metricsFile);
  const steps = m.filter((l) => l.type === 'step');
  const series = (key: keyof MetricLine, name: string, rows = steps) => ({
    name, points: rows.filter((l) => typeof l[key] === 'number').map((l) => [l.step, l[key] as number] as [number, number]),
  });
  const files = [join(dir, 'loss.png'), join(dir, 'accuracy.png')];
  plotLines(files[0]!, {
    title: 'Training loss', xLabel: 'step', yLabel: 'loss',
    series: [series('loss', 'total'), series('cleanLoss', 'clean'), series('advLoss', 'adversarial')].filter((s) => s.points.length),
  });
  plotLines(files[1]!, {
    title: 'Accuracy', xLabel: 'step', yLabel: 'top-1',
    series: [series('cleanAcc', 'train clean (batch)'), series('advAcc', 'train adversarial (batch)'),
      series('clean', 'test clean', m.filter((l) => l.type === 'eval'))].filter((s) => s.points.length),
  });
  return files;
}

export function reportMarkdown(config: Record<string, unknown>, final: { raw: EvalResult; ema: EvalResult | null }): string {
  const { raw, ema } = final;
  const rows: string[][] = [['clean', pct(raw.clean), pct(ema?.clean)]];
  for (const e of Object.keys(raw.pgd)) rows.push([`PGD ε=${e}/255 (${defaultSteps(Number(e))} steps)`, pct(raw.pgd[e]), pct(ema?.pgd[e])]);
  if (raw.corruptionMean !== null) rows.push(['corruptions, mean of 9 × 5 severities', pct(raw.corruptionMean), pct(ema?.corruptionMean)]);
  const lines = [
    `# ${String(config.name)}`, '',
    `Method \`${String(config.method)}\`, model \`${String(config.model)}\` (width ${String(config.width)}, depth ${String(config.depth)}, ${String(config.parameters)} parameters), ε = ${String(config.epsilon)}/255,`,
    `${String(config.epochs)} epoch(s) of ${String(config.stepsPerEpoch)} steps, batch ${String(config.batchSize)}, on ${String(config.device)}; data ${String(config.data)} (${String(config.trainImages)} training images); evaluated on ${raw.count} test images.`, '',
    '| top-1 | raw weights | EMA weights |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`), '',
  ];
  if (Object.keys(raw.corruptions).length) {
    lines.push('Per corruption (raw weights), severities 1–5:', '', '| corruption | 1 | 2 | 3 | 4 | 5 |', '|---|---|---|---|---|---|');
    for (const [k, v] of Object.entries(raw.corruptions)) lines.push(`| ${k} | ${v.map(pct).join(' | ')} |`);
    lines.push('');
  }
  lines.push('![loss](loss.png)', '', '![accuracy](accuracy.png)', '');
  return lines.join('\n');
}

export function writeReport(dir: string, config: Record<string, unknown>, final: { raw: EvalResult; ema: EvalResult | null }, metricsFile: string): void {
  writePlots(dir, metricsFile);
  writeFileSync(join(dir, 'report.md'), reportMarkdown(config, final));
}
