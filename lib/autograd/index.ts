// ap.autograd: the engine's controls and counters.
export { backward, grad, valueAndGrad, type BackwardOptions, type GradOptions } from './engine.js';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled } from './mode.js';
export { stats, resetStats, type AutogradStats } from './stats.js';
export { recordCustom as record, recordingNeeds, Node, type GradientRule, type Edge } from './node.js';
