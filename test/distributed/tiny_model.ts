// The small EfficientNet (the train CLI's default architecture at 28×28, 1 channel, 10 classes,
// 2 BN domains) that the multi-rank workers train, with the same seed on every rank.
import * as ap from '../../lib/index.js';

export function tinyModel(drop: number): ap.models.EfficientNet {
  return ap.models.efficientnet('b0', {
    numClasses: 10, inChannels: 1, width: 0.25, depth: 0.25, resolution: 28, domains: 2, bnMomentum: 0.9,
    dropout: drop, dropConnect: drop, device: 'cpu', seed: 5,
  });
}

/** Every state tensor of the model and the trainer's EMA averages as plain numbers (rank 0 writes them for the tests to compare). */
export function trainedState(model: ap.models.EfficientNet, trainer: ap.train.Trainer): { state: Record<string, number[]>; ema: number[] } {
  const state: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(model.stateDict())) state[k] = Array.from(t.toArray() as Float32Array);
  const ema: number[] = [];
  for (const t of trainer.ema?.tensors() ?? []) ema.push(...Array.from(t.toArray() as Float32Array));
  return { state, ema };
}
