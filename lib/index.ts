// Public entry: import * as ap from 'advprop'.
export { AdvpropError, type ErrorCode } from './errors.js';
export { Tensor, isTensor, DTYPES, type DType } from './tensor.js';
export { tensor, full, zeros, ones, zerosLike, onesLike, rand, randn, type CreateOptions, type RandomOptions, type TensorLike } from './creation.js';
export { tidy, keep, dispose, memory, resetPeakMemory, type MemoryInfo } from './memory.js';
export { devices, defaultDevice, setDefaultDevice } from './device.js';
export { manualSeed, getRngState, setRngState, withSampleMap, type RandomKey, type SampleMap } from './random.js';
export { grad, valueAndGrad, type BackwardOptions, type GradOptions } from './autograd/engine.js';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled } from './autograd/mode.js';
export { autocast, currentPrecision, defaultPrecision, PRECISIONS, type Precision } from './precision.js';
export * as autograd from './autograd/index.js';
export * as kernels from './kernels.js';
export * as optim from './optim/index.js';
export { add, sub, mul, div } from './ops/arithmetic.js';
export * from './ops/unary.js';  // every unary op, so a new one needs no line here
export { sum, mean } from './ops/reduce.js';
export { reshape, slice0, concat0 } from './ops/shape.js';
export { cast, to, clone } from './ops/cast.js';
export { copyInto } from './ops/copy_into.js';
export { linear } from './ops/linear.js';
export { conv2d, type Conv2dArgs } from './ops/conv2d.js';
export { globalAvgPool, channelScale } from './ops/pool.js';
export { squeezeExcite } from './ops/squeeze_excite.js';
export { crossEntropy, accuracy, type Labels, type CrossEntropyOptions } from './ops/cross_entropy.js';
export { pgdStep, pgdRandomStart, type PgdStepOptions, type RandomStartOptions, type AttackNorm } from './ops/attack.js';
export { dropout, dropConnect, dropConnectAdd, type DropOptions } from './ops/dropout.js';
export {
  multiBatchNorm, type BatchNormMode, type BatchNormAct, type Segments, type MultiBatchNormParams, type MultiBatchNormOptions,
} from './ops/multi_batch_norm.js';
export type { DeviceEntry, NativeMemoryStats, BuildInfo } from './native.js';

import { canonicalDevice } from './device.js';
import { addon, type BuildInfo } from './native.js';

export function buildInfo(): BuildInfo {
  return addon.buildInfo();
}

/** Waits for all queued work on a device. */
export function synchronize(device: string): void {
  addon.synchronize(canonicalDevice(device, 'synchronize'));
}

/** Returns a device's cached blocks to the driver / system. */
export function emptyCache(device: string): void {
  addon.emptyCache(canonicalDevice(device, 'emptyCache'));
}
export * as data from './data/index.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';
export * as io from './io/index.js';
export * as report from './report/index.js';
export * as evaluation from './eval/index.js';
export * as train from './train/index.js';
export * as attack from './attack/index.js';
export * as dist from './distributed/index.js';
export * as cudaGraph from './cuda_graph.js';
