// `npm run experiment:fashion`: the five training methods × 3 seeds on the full Fashion-MNIST
// (falls back to the bundled subset), then docs/results-fashion-mnist.md with mean ± std of clean,
// PGD and corruption accuracy, the wall time, and a plot of test accuracy over training.
//   node --import tsx scripts/experiment-fashion.ts [--epochs 2] [--epsilon 2] [--seeds 3] [--out runs/fashion]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import * as ap from '../lib/index.js';
import { readMetrics } from '../lib/train/report.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '2' }, epsilon: { type: 'string', default: '2' }, seeds: { type: 'string', default: '3' },
    out: { type: 'string', default: 'runs/fashion' }, doc: { type: 'string', default: 'docs/results-fashion-mnist.md' },
    limit: { type: 'string' }, 'eval-limit': { type: 'string', default: '2000' },
    replot: { type: 'boolean', default: false }, // rebuild the doc from the run folders, no training
  },
});
const epochs = Number(values.epochs), epsilon = Number(values.epsilon), seeds = Number(values.seeds);
const data = ap.data.defaultDataDir();
const methods = ap.train.METHODS;
type Row = { method: string; seed: number; seconds: number; raw: ap.train.EvalResult; ema: ap.train.EvalResult | null; dir: string };
const rows: Row[] = [];
const started = Date.now();
for (const seed of Array.from({ length: seeds }, (_, i) => i)) {
  for (const method of methods) {
    const dir = join(values.out!, `${method}-seed${seed}`);
    if (values.replot) {
      // The run's own record: its final evaluation and its first and last timestamps.
      const lines = readMetrics(join(dir, 'metrics.jsonl')) as unknown as Array<{ type: string; time: number; raw?: ap.train.EvalResult; ema?: ap.train.EvalResult | null }>;
      const fin = lines.find((l) => l.type === 'final')!;
      rows.push({ method, seed, seconds: (fin.time - lines[0]!.time) / 1000, raw: fin.raw!, ema: fin.ema ?? null, dir });
      continue;
    }
    const t0 = Date.now();
    const r = await ap.train.trainRun({
      ...ap.train.TRAIN_DEFAULTS, method, epsilon, epochs, seed, data, progress: false, evalLimit: Number(values['eval-limit']),
      evalEpsilons: [1, 2, 4], out: dir, limit: values.limit ? Number(values.limit) : undefined,
    }, { log: () => undefined });
    const seconds = (Date.now() - t0) / 1000;
    rows.push({ method, seed, seconds, raw: r.final!.raw, ema: r.final!.ema, dir });
    console.log(`${method} seed ${seed}: clean ${(100 * r.final!.raw.clean).toFixed(2)}% (EMA ${(100 * (r.final!.ema?.clean ?? NaN)).toFixed(2)}%), ${seconds.toFixed(0)} s`);
  }
}
const wall = values.replot ? rows.reduce((a, r) => a + r.seconds, 0) : (Date.now() - started) / 1000;

const stat = (xs: number[]): string => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return `${(100 * m).toFixed(2)} ± ${(100 * sd).toFixed(2)}`;
};
const cols: [string, (e: ap.train.EvalResult) => number][] = [
  ['clean', (e) => e.clean], ['PGD ε=1', (e) => e.pgd['1']!], ['PGD ε=2', (e) => e.pgd['2']!], ['PGD ε=4', (e) => e.pgd['4']!],
  ['corruptions (mean)', (e) => e.corruptionMean!],
];
const table = (pick: (r: Row) => ap.train.EvalResult | null): string[] => [
  `| method | ${cols.map((c) => c[0]).join(' | ')} | time per run (s) |`, `|---|${cols.map(() => '---').join('|')}|---|`,
  ...methods.map((m) => {
    const rs = rows.filter((r) => r.method === m);
    return `| ${m} | ${cols.map(([, f]) => stat(rs.map((r) => f(pick(r)!)))).join(' | ')} | ${(rs.reduce((a, r) => a + r.seconds, 0) / rs.length).toFixed(0)} |`;
  }),
];

// Test accuracy after each epoch and at the end (the final evaluation), mean over seeds, one line
// per method; and the training loss (clean + adversarial where there is one) over steps.
const meanOver = (per: Array<Array<[number, number]>>): Array<[number, number]> =>
  per[0]!.map(([x], i) => [x, per.reduce((a, p) => a + (p[i]?.[1] ?? 0), 0) / per.length] as [number, number]);
const accSeries = methods.map((m) => ({
  name: m,
  points: meanOver(rows.filter((r) => r.method === m).map((r) => {
    const lines = readMetrics(join(r.dir, 'metrics.jsonl'));
    const evals = lines.filter((l) => l.type === 'eval').map((l) => [l.step, l.clean!] as [number, number]);
    const last = lines[lines.length - 1]!;
    return [...evals, [last.step, r.raw.clean] as [number, number]].filter((p, i, a) => i === 0 || p[0] !== a[i - 1]![0]);
  })),
}));
const lossSeries = methods.map((m) => ({
  name: m,
  points: meanOver(rows.filter((r) => r.method === m).map((r) =>
    readMetrics(join(r.dir, 'metrics.jsonl')).filter((l) => l.type === 'step').map((l) => [l.step, l.loss!] as [number, number]))),
}));
mkdirSync('docs', { recursive: true });
ap.report.plotLines('docs/results-fashion-mnist.png', { title: 'Fashion-MNIST: test top-1 (clean, raw weights; mean of seeds)', xLabel: 'step', yLabel: 'top-1', series: accSeries });
ap.report.plotLines('docs/results-fashion-mnist-loss.png', { title: 'Fashion-MNIST: training loss (mean of seeds)', xLabel: 'step', yLabel: 'loss', series: lossSeries });

const md = [
  '# Fashion-MNIST: AdvProp against its baselines', '',
  `Five methods × ${seeds} seeds, EfficientNet-B0 scaled to width ${ap.train.TRAIN_DEFAULTS.width} and depth ${ap.train.TRAIN_DEFAULTS.depth}`,
  `(${(readJsonParams(rows[0]!.dir))} parameters with two BN domains), ${epochs} epochs of batch ${ap.train.TRAIN_DEFAULTS.batchSize} on ${data},`,
  `training attack PGD L∞ ε = ${epsilon}/255 with ${ap.attack.defaultSteps(epsilon)} steps of 1/255 (through the auxiliary BN for advprop,`,
  'through the only BN for madry, mixed-single-bn and the first half of adv-finetune). Evaluation on the first',
  `${values['eval-limit']} test images through the clean BN with running statistics: PGD with ε+1 steps (1 for ε = 1) and 9 corruptions × 5 severities.`,
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, device cpu. Total wall time ${(wall / 60).toFixed(1)} min. Command: \`npm run experiment:fashion\`.`, '',
  'Top-1 in %, mean ± std over seeds, raw weights:', '', ...table((r) => r.raw), '',
  'EMA weights:', '', ...table((r) => r.ema), '',
  '![test accuracy](results-fashion-mnist.png)', '', '![training loss](results-fashion-mnist-loss.png)', '',
  'Per-run reports (`report.md`, plots, metrics) are written under `runs/fashion/` (not committed).', '',
];
writeFileSync(values.doc!, md.join('\n'));
console.log(`wrote ${values.doc} (${(wall / 60).toFixed(1)} min)`);

function readJsonParams(dir: string): string {
  return String((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { parameters: number }).parameters);
}
