// The `advprop` subcommands, called as the CLI's main calls them, with generated option lists:
// valid ones that run (tiny data, one step), and ones with a bad value, an unknown flag, a missing
// value or a stray positional. The CLI answers a bad option with a UsageError (exit code 2).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { runTrain } from '../../../lib/cli/train.js';
import { runAttack, runEval, runExport } from '../../../lib/cli/evaluate.js';
import { runInfo } from '../../../lib/cli/info.js';
import { runPredict } from '../../../lib/cli/predict.js';
import { entry, type Entry } from '../entry.js';
import type { Gen } from '../gen.js';

const BAD_VALUES = ['abc', '', '-1', '0', '1.5', 'NaN', 'Infinity', '-Infinity', '1e9', '2147483648', '1e400', '0x10', ' 2', 'null', 'bogus', '/nonexistent', '\u00e9', '--help'];

/** Flag/value pairs; a mutation replaces a value, adds a flag, or drops a value. */
function argv(g: Gen, pairs: [string, string | null][], flags: readonly string[]): string[] {
  const list = pairs.map(([f, v]) => [f, v] as [string, string | null]);
  const n = g.pMut === 0 ? 0 : 1 + g.r.int(2);
  for (let i = 0; i < n; i++) {
    g.mutations++;
    switch (g.r.int(5)) {
      case 0: case 1: {
        const withValue = list.filter(([, v]) => v !== null);
        if (withValue.length) withValue[g.r.int(withValue.length)]![1] = g.r.pick(BAD_VALUES);
        break;
      }
      case 2: list.push([g.r.pick(flags), g.r.chance(0.7) ? g.r.pick(BAD_VALUES) : null]); break;
      case 3: list.push([g.r.pick(['--bogus', '-x', 'stray', '--model=b9', '--epochs=']), null]); break;
      default: { const p = list.find(([, v]) => v !== null); if (p) p[1] = null; }
    }
  }
  return list.flatMap(([f, v]) => (v === null ? [f] : [f, v]));
}

export const cliEntries: Entry[] = [
  entry('cli.train', (g) => {
    const pairs: [string, string | null][] = [
      ['--data', g.ctx.dataDir], ['--limit', '8'], ['--batch-size', '4'], ['--epochs', '1'], ['--max-steps', '1'], ['--eval-limit', '4'],
      ['--eval-epsilons', '1'], ['--no-progress', null], ['--out', join(g.ctx.tmp, `cli-run-${g.r.u32()}`)], ['--width', '0.1'], ['--depth', '0.1'],
      ['--workers', '0'], ['--device', g.device], ['--method', g.r.pick(['advprop', 'vanilla', 'madry'])], ['--optimizer', g.r.pick(['sgd', 'rmsprop'])],
    ];
    const flags = ['--epsilon', '--attack-steps', '--lr', '--schedule', '--warmup-epochs', '--weight-decay', '--label-smoothing', '--ema', '--seed',
      '--log-every', '--checkpoint-every', '--bn-momentum', '--model', '--name', '--resume', '--strip-aux', '--no-augment', '--eval-epsilons'];
    const args = argv(g, pairs, flags);
    return () => runTrain(args);
  }, { weight: 1, timeoutMs: 60_000 }),
  entry('cli.eval', (g) => {
    const args = argv(g, [['--run', g.ctx.runDir], ['--data', g.ctx.dataDir], ['--limit', '4'], ['--epsilons', '1'], ['--no-corruptions', null], ['--device', g.device]],
      ['--checkpoint', '--limit', '--epsilons', '--device', '--run']);
    return () => runEval(args);
  }, { timeoutMs: 30_000 }),
  entry('cli.attack', (g) => {
    const args = argv(g, [['--run', g.ctx.runDir], ['--data', g.ctx.dataDir], ['--limit', '4'], ['--epsilon', '2'], ['--steps', '1'], ['--device', g.device]],
      ['--checkpoint', '--epsilon', '--steps', '--limit']);
    return () => runAttack(args);
  }, { timeoutMs: 30_000 }),
  entry('cli.export', (g) => {
    const pairs: [string, string | null][] = [['--run', g.ctx.runDir], ['--out', join(g.ctx.tmp, `export-${g.r.u32()}.safetensors`)], ['--layout', g.r.pick(['ohwi', 'oihw'])]];
    if (g.r.chance(0.5)) pairs.push(['--ema', null]);
    if (g.r.chance(0.5)) pairs.push(['--strip-aux', null]);
    const args = argv(g, pairs, ['--checkpoint', '--layout', '--out']);
    return () => runExport(args);
  }),
  entry('cli.predict', (g) => {
    const img = join(g.ctx.tmp, `predict-${g.r.u32()}.png`);
    const png = new PNG({ width: 9, height: 7 });
    png.data.forEach((_, i) => { png.data[i] = (i * 29) % 256; });
    writeFileSync(img, PNG.sync.write(png));
    const pairs: [string, string | null][] = [['--model', g.r.pick([g.ctx.runDir, g.ctx.runDir, g.ctx.stFile, g.ctx.junkFile])], ['--images', g.r.pick([img, g.ctx.tmp, g.ctx.junkFile])],
      ['--top', '3'], ['--device', g.device]];
    if (g.r.chance(0.5)) pairs.push(['--json', null]);
    const args = argv(g, pairs, ['--arch', '--width', '--depth', '--resolution', '--crop-padding', '--classes', '--batch-size', '--top', '--ema', '--strict']);
    return () => runPredict(args);
  }, { timeoutMs: 30_000 }),
  entry('cli.info', (g) => { const json = g.r.chance(0.5); return () => runInfo({ json, selftest: false }); }, { weight: 0.2 }),
];
