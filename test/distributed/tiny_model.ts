// The small EfficientNet (the train CLI's default architecture at 28×28, 1 channel, 10 classes,
// 2 BN domains) that the multi-rank workers train, with the same seed on every rank.
import * as ap from '../../lib/index.js';

export function tinyModel(drop: number): ap.models.EfficientNet {
  return ap.models.efficientnet('b0', {
    numClasses: 10, inChannels: 1, width: 0.25, depth: 0.25, resolution: 28, domains: 2, bnMomentum: 0.9,
    dropout: drop, dropConnect: drop, device: 'cpu', seed: 5,
  });
}
