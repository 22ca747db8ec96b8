// ap.nn: modules and layers.
export { Module, Sequential, StateDictError, auxKey, type ForwardOptions, type StateSlot, type StateDictOptions, type LoadStateDictOptions, type LoadReport } from './module.js';
export { Conv2d, Linear, DualBatchNorm2d, Dropout, resolveSegments, type Conv2dLayerOptions, type DualBatchNormOptions, type LayerInit } from './layers.js';
export { SqueezeExcite, MBConvBlock, DropConnect, type MBConvOptions } from './blocks.js';
export { Initializer, convInit, denseInit, type InitOptions } from './init.js';
