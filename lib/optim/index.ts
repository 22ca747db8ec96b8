// ap.optim: optimizers that update a list of parameters in place with one fused kernel call a
// step (lib/kernels/optim.ts), and the exponential moving average of weights and BN statistics.
export { RMSProp, type RMSPropOptions } from './rmsprop.js';
export { SGD, type SGDOptions } from './sgd.js';
export { ExponentialMovingAverage, type EMAOptions } from './ema.js';
export type { DecayMask } from './common.js';
