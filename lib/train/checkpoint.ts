// Checkpoints: one safetensors file holding the model (every BN domain), the optimizer state,
// the EMA and, in its metadata, the step, the place in the data and the random-number state.
// saveSafetensors writes a temp file and renames it, so a crash leaves the previous checkpoint.
import { existsSync } from 'node:fs';
import { AdvpropError } from '../errors.js';
import { readSafetensors, saveSafetensors } from '../io/safetensors.js';
import { getRngState, setRngState } from '../random.js';
import { tensor, type Tensor } from '../tensor.js';
import { Trainer } from './trainer.js';
import { describeValue } from '../device.js';
import { intArg, objectArg, pathArg } from '../args.js';

export const CHECKPOINT_VERSION = 1;

export interface CheckpointMeta {
  version: number;
  /** Optimizer steps done. */
  step: number;
  /** Epoch and batch to continue from. */
  epoch: number;
  batch: number;
  rng: { seed: string; offset: string };
  /** Free-form: the run's configuration, for `advprop eval` and reports. */
  config: Record<string, unknown>;
}

function checkArgs(op: string, file: unknown, trainer: unknown): void {
  pathArg(file, op, 'file');
  if (!(trainer instanceof Trainer)) throw new AdvpropError('ERR_ARG', `${op}: 'trainer' must be a train.Trainer, got ${describeValue(trainer)}`);
}

function prefixed(prefix: string, sd: Record<string, Tensor>, into: Record<string, Tensor>): void {
  for (const [k, v] of Object.entries(sd)) into[`${prefix}${k}`] = v;
}

function section(all: Record<string, Tensor>, prefix: string): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(all)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

export function saveCheckpoint(file: string, trainer: Trainer, at: { epoch: number; batch: number }, config: Record<string, unknown> = {}): void {
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
  const tensors: Record<string, Tensor> = {};
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
    };
    saveSafetensors(file, tensors, { metadata: { advprop: JSON.stringify(meta) } });
  } finally {
    for (const t of owned) t.dispose();
  }
}

/** Reads only the metadata (for `eval`, and to rebuild the model before loading). */
export function readCheckpointMeta(file: string): CheckpointMeta {
  pathArg(file, 'readCheckpointMeta', 'file');
  if (!existsSync(file)) throw new AdvpropError('ERR_IO', `checkpoint ${file} does not exist`);
  const raw = readSafetensors(file).metadata.advprop;
  if (!raw) throw new AdvpropError('ERR_FORMAT', `${file}: not an advprop checkpoint (no 'advprop' metadata)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw) as CheckpointMeta;
  } catch (e) {
    throw new AdvpropError('ERR_FORMAT', `${file}: corrupt checkpoint metadata (${(e as Error).message})`);
  }
  if (meta.version !== CHECKPOINT_VERSION) throw new AdvpropError('ERR_FORMAT', `${file}: checkpoint version ${meta.version}, this build reads ${CHECKPOINT_VERSION}`);
  return meta;
}

/** Restores model, optimizer, EMA and RNG state into `trainer`; returns where to continue. */
export function loadCheckpoint(file: string, trainer: Trainer): CheckpointMeta {
  checkArgs('loadCheckpoint', file, trainer);
  const meta = readCheckpointMeta(file);
  const { tensors } = readSafetensors(file);
  const device = trainer.model.parameters()[0]?.device;
  const all: Record<string, Tensor> = {};
  try {
    for (const [name, t] of tensors) all[name] = tensor(t.data, t.shape, { dtype: t.dtype, device });
    trainer.model.loadStateDict(section(all, 'model.'));
    trainer.rebuildState(); // loadStateDict replaced the model's tensors
    trainer.optimizerState.loadStateDict(section(all, 'optim.'));
    if (trainer.ema) trainer.ema.loadStateDict(section(all, 'ema.'));
  } finally {
    for (const t of Object.values(all)) t.dispose();
  }
  trainer.stepCount = meta.step;
  setRngState({ seed: BigInt(meta.rng.seed), offset: BigInt(meta.rng.offset) });
  return meta;
}
