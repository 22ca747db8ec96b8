// Checkpoints: one safetensors file holding the model (every BN domain), the optimizer state,
// the EMA and, in its metadata, the step, the place in the data and the random-number state.
// saveSafetensors writes a temp file and renames it, so a crash leaves the previous checkpoint.
// A checkpoint is trusted with days of training, so reading one checks everything before any of
// it is used: the checksums (a checkpoint without them is refused), the metadata against its
// schema, and every tensor's name, dtype and shape against the trainer it is loaded into. Every
// problem is ERR_FORMAT naming the file and the field or tensor.
import { existsSync } from 'node:fs';
import { AdvpropError } from '../errors.js';
import { fileTensor, readSafetensors, record, saveSafetensors, type SafetensorsFile } from '../io/safetensors.js';
import { getRngState, setRngState } from '../random.js';
import type { DType, Tensor } from '../tensor.js';
import { Trainer } from './trainer.js';
import { GradScaler, type GradScalerState } from './grad_scaler.js';
import { describeValue } from '../device.js';
import { intArg, objectArg, pathArg } from '../args.js';
import { world } from '../distributed/world.js';

/** 2: checksums and a validated schema (version 1 files had neither). */
export const CHECKPOINT_VERSION = 2;

export interface CheckpointMeta {
  version: number;
  /** Optimizer steps done. */
  step: number;
  /** Epoch and batch to continue from. */
  epoch: number;
  batch: number;
  rng: { seed: string; offset: string };
  /** Data parallel: every rank's random-number state, by rank (rng is rank 0's); each rank of a
   * resumed job of the same size continues from its own. */
  rankRng?: { seed: string; offset: string }[];
  /** The run's configuration (for resume checks, `advprop eval` and reports); its `epochs` and
   * `stepsPerEpoch`, when present, bound `epoch` and `batch`. */
  config: Record<string, unknown>;
  /** fp16 runs: the loss scaler's state, so a resumed run continues with the scale it had. */
  lossScaler?: GradScalerState;
}

function checkArgs(op: string, file: unknown, trainer: unknown): void {
  pathArg(file, op, 'file');
  if (!(trainer instanceof Trainer)) throw new AdvpropError('ERR_ARG', `${op}: 'trainer' must be a train.Trainer, got ${describeValue(trainer)}`);
}

function bad(file: string, problem: string): never {
  throw new AdvpropError('ERR_FORMAT', `checkpoint ${file}: ${problem}`);
}

function prefixed(prefix: string, sd: Record<string, Tensor>, into: Record<string, Tensor>): void {
  for (const [k, v] of Object.entries(sd)) into[`${prefix}${k}`] = v;
}

function section(all: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  const out = record<Tensor>();
  for (const [k, v] of Object.entries(all)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

/** `rankRng`: every rank's random-number state (lib/distributed/rng.ts), for a data-parallel run. */
export function saveCheckpoint(file: string, trainer: Trainer, at: { epoch: number; batch: number }, config: Record<string, unknown> = {},
  rankRng?: readonly { seed: bigint; offset: bigint }[]): void {
  checkArgs('saveCheckpoint', file, trainer);
  objectArg(at, 'saveCheckpoint', 'at', '{ epoch, batch }');
  intArg(at.epoch, 'saveCheckpoint', 'at.epoch', 0, Number.MAX_SAFE_INTEGER);
  intArg(at.batch, 'saveCheckpoint', 'at.batch', 0, Number.MAX_SAFE_INTEGER);
  objectArg(config, 'saveCheckpoint', 'config');
  try {
    JSON.stringify(config);
  } catch (e) {
    throw new AdvpropError('ERR_ARG', `saveCheckpoint: config must be JSON-serialisable (${(e as Error).message})`);
  }
  const tensors = record<Tensor>();
  // The model's state dict is made of copies; the optimizer's and the EMA's hold their live
  // state, of which only the EMA's update counter is a fresh tensor.
  const owned: Tensor[] = [];
  try {
    const model = trainer.model.stateDict();
    owned.push(...Object.values(model));
    prefixed('model.', model, tensors);
    prefixed('optim.', trainer.optimizerState.stateDict(), tensors);
    if (trainer.ema) {
      const ema = trainer.ema.stateDict();
      const live = new Set(trainer.ema.tensors());
      owned.push(...Object.values(ema).filter((t) => !live.has(t)));
      prefixed('ema.', ema, tensors);
    }
    const rng = getRngState();
    const meta: CheckpointMeta = {
      version: CHECKPOINT_VERSION, step: trainer.stepCount, epoch: at.epoch, batch: at.batch,
      rng: { seed: rng.seed.toString(), offset: rng.offset.toString() }, config,
      ...(rankRng ? { rankRng: rankRng.map((r) => ({ seed: String(r.seed), offset: String(r.offset) })) } : {}),
      ...(trainer.scaler ? { lossScaler: trainer.scaler.state() } : {}),
    };
    try {
      checkMeta(meta, file); // never write a checkpoint that could not be read back
    } catch (e) {
      throw new AdvpropError('ERR_ARG', `saveCheckpoint: ${(e as Error).message}`);
    }
    saveSafetensors(file, tensors, { metadata: { advprop: JSON.stringify(meta) } });
  } finally {
    for (const t of owned) t.dispose();
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const U64_MAX = (1n << 64n) - 1n;

/** Checks parsed metadata against the schema; returns it typed. */
export function checkMeta(m: unknown, file: string): CheckpointMeta {
  if (!isObject(m)) bad(file, 'the advprop metadata is not a JSON object');
  const field = (name: string, problem: string, v: unknown): never => bad(file, `metadata field '${name}' ${problem}, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
  if (m.version !== CHECKPOINT_VERSION)
    field('version', `must be ${CHECKPOINT_VERSION} (this build reads version ${CHECKPOINT_VERSION}; version 1 had no checksums)`, m.version);
  const count = (name: string, v: unknown): number => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : field(name, 'must be an integer >= 0', v));
  const step = count('step', m.step), epoch = count('epoch', m.epoch), batch = count('batch', m.batch);
  if (!isObject(m.rng)) field('rng', 'must be an object {seed, offset}', m.rng);
  const rng = m.rng as Record<string, unknown>;
  const u64 = (name: string, v: unknown): void => {
    if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(v) || BigInt(v) > U64_MAX)
      field(name, 'must be an unsigned 64-bit integer written as a decimal string', v);
  };
  for (const k of ['seed', 'offset']) u64(`rng.${k}`, rng[k]);
  if (m.rankRng !== undefined) {
    if (!Array.isArray(m.rankRng) || m.rankRng.length === 0) field('rankRng', 'must be a non-empty array of {seed, offset}', m.rankRng);
    (m.rankRng as unknown[]).forEach((r, i) => {
      if (!isObject(r)) field(`rankRng[${i}]`, 'must be an object {seed, offset}', r);
      for (const k of ['seed', 'offset']) u64(`rankRng[${i}].${k}`, (r as Record<string, unknown>)[k]);
    });
  }
  if (!isObject(m.config)) field('config', 'must be an object', m.config);
  const config = m.config as Record<string, unknown>;
  for (const k of ['epochs', 'stepsPerEpoch'])
    if (config[k] !== undefined && !(Number.isSafeInteger(config[k]) && (config[k] as number) >= 1)) field(`config.${k}`, 'must be an integer >= 1', config[k]);
  // The place in the data must lie inside the run the checkpoint recorded.
  const epochs = config.epochs as number | undefined, spe = config.stepsPerEpoch as number | undefined;
  if (epochs !== undefined && epoch > epochs) field('epoch', `is beyond the run's ${epochs} epochs`, epoch);
  if (spe !== undefined && batch >= spe) field('batch', `must be below the ${spe} steps of an epoch`, batch);
  if (epochs !== undefined && epoch === epochs && batch !== 0) field('batch', `must be 0 at the end of the run (epoch ${epochs})`, batch);
  let lossScaler: GradScalerState | undefined;
  if (m.lossScaler !== undefined) {
    const probe = new GradScaler();
    try {
      probe.loadState(m.lossScaler);
    } catch {
      field('lossScaler', 'must be { scale in [2^-24, 2^64], growthTracker: an integer >= 0 }', m.lossScaler);
    }
    lossScaler = probe.state();
  }
  return {
    version: CHECKPOINT_VERSION, step, epoch, batch, rng: { seed: rng.seed as string, offset: rng.offset as string }, config,
    ...(m.rankRng ? { rankRng: (m.rankRng as { seed: string; offset: string }[]).map((r) => ({ seed: r.seed, offset: r.offset })) } : {}),
    ...(lossScaler ? { lossScaler } : {}),
  };
}

/** Reads, verifies and schema-checks a checkpoint file. */
export function readCheckpoint(file: string): { meta: CheckpointMeta; contents: SafetensorsFile } {
  pathArg(file, 'readCheckpoint', 'file');
  if (!existsSync(file)) throw new AdvpropError('ERR_IO', `checkpoint ${file} does not exist`);
  const contents = readSafetensors(file);
  const raw = contents.metadata.advprop;
  if (raw === undefined) bad(file, "not an advprop checkpoint (no 'advprop' metadata)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    bad(file, `corrupt checkpoint metadata (${(e as Error).message})`);
  }
  if (!contents.checksummed) {
    if ((parsed as { version?: unknown } | null)?.version === 1)
      bad(file, `is a version 1 checkpoint, written before checkpoints carried checksums; this build reads version ${CHECKPOINT_VERSION}`);
    bad(file, 'has no checksums (advprop writes them into every checkpoint), so it cannot be verified');
  }
  return { meta: checkMeta(parsed, file), contents };
}

/** Reads only the metadata (for `eval`, and to rebuild the model before loading). */
export function readCheckpointMeta(file: string): CheckpointMeta {
  pathArg(file, 'readCheckpointMeta', 'file');
  return readCheckpoint(file).meta;
}

const FILE_DTYPE: Record<DType, string> = { f32: 'F32', f64: 'F64', i32: 'I32', bf16: 'BF16', f16: 'F16', u8: 'U8' };
const desc = (dtype: string, shape: readonly number[]): string => `${dtype} [${shape.join(', ')}]`;

/** Name → dtype and shape of everything `trainer` saves, as saveCheckpoint names it. */
function expectedTensors(trainer: Trainer): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of trainer.model.stateSlots()) out.set(`model.${s.key}`, desc(FILE_DTYPE[s.dtype], s.shape));
  for (const [k, t] of Object.entries(trainer.optimizerState.stateDict())) out.set(`optim.${k}`, desc(FILE_DTYPE[t.dtype], t.shape));
  if (trainer.ema) {
    const live = new Set(trainer.ema.tensors());
    for (const [k, t] of Object.entries(trainer.ema.stateDict())) {
      out.set(`ema.${k}`, desc(FILE_DTYPE[t.dtype], t.shape));
      if (!live.has(t)) t.dispose();
    }
  }
  return out;
}

function checkTensors(file: string, contents: SafetensorsFile, trainer: Trainer): void {
  const want = expectedTensors(trainer);
  const problems: string[] = [];
  for (const [name, d] of want) {
    const t = contents.tensors.get(name);
    if (!t) problems.push(`tensor '${name}' (${d}) is missing`);
    else if (desc(t.fileDtype, t.shape) !== d) problems.push(`tensor '${name}' is ${desc(t.fileDtype, t.shape)}, the trainer's is ${d}`);
  }
  for (const name of contents.tensors.keys()) if (!want.has(name)) problems.push(`unexpected tensor '${name}'`);
  const counter = contents.tensors.get('ema.numUpdates');
  if (counter && counter.data.length === 1 && !(counter.data[0]! >= 0)) problems.push(`tensor 'ema.numUpdates' holds ${counter.data[0]}, not a count`);
  if (problems.length) {
    const shown = problems.slice(0, 20).join('; ') + (problems.length > 20 ? `; ... (${problems.length - 20} more)` : '');
    bad(file, `does not fit this trainer (${problems.length} problem(s)): ${shown}`);
  }
}

/** Restores model, optimizer, EMA and RNG state into `trainer`; returns where to continue.
 * Everything is checked first, so a refused file leaves the trainer as it was. */
export function loadCheckpoint(file: string, trainer: Trainer): CheckpointMeta {
  checkArgs('loadCheckpoint', file, trainer);
  const { meta, contents } = readCheckpoint(file);
  restoreCheckpoint(file, meta, contents, trainer);
  return meta;
}

/** loadCheckpoint with the file already read by readCheckpoint. */
export function restoreCheckpoint(file: string, meta: CheckpointMeta, contents: SafetensorsFile, trainer: Trainer): void {
  checkTensors(file, contents, trainer);
  const device = trainer.model.parameters()[0]?.device;
  const all = record<Tensor>();
  try {
    for (const [name, t] of contents.tensors) all[name] = fileTensor(file, name, t.data, t.shape, { dtype: t.dtype, device });
    trainer.model.loadStateDict(section(all, 'model.'));
    trainer.rebuildState(); // loadStateDict replaced the model's tensors
    trainer.optimizerState.loadStateDict(section(all, 'optim.'));
    if (trainer.ema) trainer.ema.loadStateDict(section(all, 'ema.'));
  } catch (e) {
    // checkTensors should have caught it; if not, it is still this file that does not fit.
    if (e instanceof AdvpropError && ['ERR_SHAPE', 'ERR_ARG', 'ERR_DTYPE'].includes(e.code)) bad(file, e.message);
    throw e;
  } finally {
    for (const t of Object.values(all)) t.dispose();
  }
  trainer.stepCount = meta.step;
  // A checkpoint from another precision has no scaler state: an fp16 run then starts from the default scale.
  if (trainer.scaler && meta.lossScaler) trainer.scaler.loadState(meta.lossScaler, `checkpoint ${file}`);
  // Each rank of a job as large as the one that wrote it continues from its own state; otherwise
  // (a world of one, or --allow-config-change across sizes) from rank 0's.
  const w = world();
  const mine = meta.rankRng?.length === w.size ? meta.rankRng[w.rank]! : meta.rng;
  setRngState({ seed: BigInt(mine.seed), offset: BigInt(mine.offset) });
}
