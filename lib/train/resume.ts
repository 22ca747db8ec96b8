// Continuing a run from a checkpoint: which file and folder, which options may differ from the
// ones the checkpoint was trained with, where in the data to continue, and the metrics lines a
// killed run wrote after its last checkpoint.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AdvpropError } from '../errors.js';
import { writeFileAtomic } from '../io/safetensors.js';
import { readCheckpoint, restoreCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import type { Trainer } from './trainer.js';

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** The checkpoint a `--resume PATH` names: a run folder's last.safetensors, or a file. */
export function resumeFile(path: string): string {
  const file = isDir(path) ? join(path, 'last.safetensors') : path;
  if (!existsSync(file)) throw new AdvpropError('ERR_ARG', `--resume: ${file} does not exist`);
  return file;
}

/** Where a resumed run writes when `--out` is not given: the folder it continues. */
export function resumeDir(path: string): string {
  return isDir(path) ? path : dirname(path);
}

// What changes the numbers a run computes: its options, and what they are derived into (so a data
// folder whose contents changed under the same path is caught too). Device, workers, --max-steps,
// logging, checkpointing and evaluation options are not here: they leave the training math alone.
const MATH_KEYS: [key: string, label: string][] = [
  ['model', '--model'], ['width', '--width'], ['depth', '--depth'], ['bnMomentum', '--bn-momentum'], ['method', '--method'],
  ['epsilon', '--epsilon'], ['attackSteps', '--attack-steps'], ['epochs', '--epochs'], ['batchSize', '--batch-size'], ['lr', '--lr'],
  ['optimizer', '--optimizer'], ['schedule', '--schedule'], ['warmupEpochs', '--warmup-epochs'], ['weightDecay', '--weight-decay'],
  ['labelSmoothing', '--label-smoothing'], ['ema', '--ema'], ['seed', '--seed'], ['data', '--data'], ['limit', '--limit'],
  ['augment', '--no-augment / --augment'], ['randAugment', '--randaugment-n / --randaugment-m'], ['resolution', '--resolution'], ['numClasses', 'classes in the data'], ['inChannels', 'channels of the images'],
  ['trainImages', 'training images'], ['stepsPerEpoch', 'steps per epoch'], ['parameters', 'model parameters'],
  ['precision', '--precision'], ['worldSize', 'ranks (mpirun -np / --nproc)'], ['bnSync', '--bn-sync'],
];
// What a checkpoint written before an option existed ran with (and a config that leaves it unset).
const BEFORE_OPTION: Record<string, unknown> = { precision: 'fp32', worldSize: 1, bnSync: 'none' };

/** One line per math-changing value that differs between the checkpoint's config and this run's. */
export function configDifferences(saved: Record<string, unknown>, now: Record<string, unknown>): string[] {
  // Through JSON, as the checkpoint stored them: an unset option (undefined) is absent there.
  const show = (v: unknown): string => (v === undefined || v === null ? 'unset' : JSON.stringify(v));
  const out: string[] = [];
  for (const [key, label] of MATH_KEYS) {
    const a = saved[key] ?? BEFORE_OPTION[key], b = JSON.parse(JSON.stringify({ v: now[key] ?? BEFORE_OPTION[key] })).v as unknown;
    if (show(a) !== show(b)) out.push(`${label}: ${show(a)} in the checkpoint, ${show(b)} now`);
  }
  return out;
}

// A run killed after a metrics line but before the next checkpoint repeats those steps when it
// resumes: their lines go, as does a line the kill cut short and the end of a finished run.
function trimMetrics(file: string, step: number): void {
  if (!existsSync(file)) {
    writeFileSync(file, ''); // resumed into a new --out folder
    return;
  }
  const kept = readFileSync(file, 'utf8').split('\n').filter((l) => {
    try {
      const o = JSON.parse(l) as { type?: unknown; step?: unknown };
      return typeof o.step === 'number' && o.step <= step && o.type !== 'final';
    } catch {
      return false;
    }
  });
  writeFileAtomic(file, Buffer.from(kept.map((l) => `${l}\n`).join('')));
}

/**
 * Loads `file` into `trainer` for the run `c` (whose config record is `record`) writing into
 * `dir`; returns the epoch and batch to continue from. Refuses with ERR_ARG, before anything is
 * changed, when the math-changing options differ from the checkpoint's (unless
 * c.allowConfigChange) or the checkpoint lies beyond the run.
 */
export function resumeRun(file: string, c: TrainConfig, record: Record<string, unknown>, trainer: Trainer, dir: string,
  log: (l: string) => void, write = true): { epoch: number; batch: number } {
  const { meta, contents } = readCheckpoint(file);
  const diffs = configDifferences(meta.config, record);
  if (diffs.length && !c.allowConfigChange)
    throw new AdvpropError('ERR_ARG', `--resume ${file}: the options differ from the checkpoint's in ${diffs.length} place(s) that change the training (${diffs.join('; ')}); `
      + 'give the checkpoint\'s options, or --allow-config-change to continue anyway');
  if (meta.epoch > c.epochs || (meta.epoch === c.epochs && meta.batch > 0))
    throw new AdvpropError('ERR_ARG', `--epochs ${c.epochs}: the checkpoint ${file} is already past the end of the run (epoch ${meta.epoch}, batch ${meta.batch})`);
  restoreCheckpoint(file, meta, contents, trainer);
  if (diffs.length) log(`resuming with changed options: ${diffs.join('; ')}`);
  let at = { epoch: meta.epoch, batch: meta.batch };
  const spe = record.stepsPerEpoch as number;
  if (at.batch >= spe) {
    // Only with a changed batch size or data: the checkpoint's epoch is over in this run.
    log(`batch ${at.batch} is past the ${spe} steps of an epoch now: continuing at epoch ${at.epoch + 1}`);
    at = { epoch: at.epoch + 1, batch: 0 };
  }
  // Data parallel: rank 0 alone writes the run folder.
  if (write) {
    trimMetrics(join(dir, 'metrics.jsonl'), meta.step);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(record, null, 2) + '\n');
  }
  log(`resumed from ${file} at step ${meta.step} (epoch ${meta.epoch}, batch ${meta.batch})`);
  return at;
}
