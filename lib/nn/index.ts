// ap.nn: modules and layers.
export { Module, Sequential, StateDictError, auxKey, type ForwardOptions, type StateSlot, type StateDictOptions, type LoadStateDictOptions, type LoadReport } from './module.js';
export {
  Conv2d, Linear, MultiBatchNorm2d, Dropout, resolveSegments, type Conv2dLayerOptions, type MultiBatchNorm2dOptions, type LayerInit,
  DualBatchNorm2d, type DualBatchNormOptions, // deprecated names of MultiBatchNorm2d and its options
} from './layers.js';
export { SqueezeExcite, MBConvBlock, DropConnect, type MBConvOptions } from './blocks.js';
export { Initializer, convInit, denseInit, type InitOptions } from './init.js';
