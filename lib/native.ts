// Loads the addon with node-gyp-build and describes its whole surface: `Addon` lists every entry
// of binding/entries.h with its TypeScript signature, and `addon` is the one object lib/ calls.
// Everything here is raw: no autograd, no tidy tracking. lib/tensor.ts wraps handles in Tensors.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { guardNative } from './errors.js';

/**
 * The dtypes with data (native DType list order is f32, f64, i32, f16, bf16, u8). u8 holds image
 * batches on their way to normalizeImage: made from a Uint8Array, copied and read back, no arithmetic.
 */
export type DTypeName = 'f32' | 'f64' | 'i32' | 'bf16' | 'f16' | 'u8';
export type DeviceTypeName = 'cpu' | 'cuda' | 'cuda-sim';
export type BinaryOpName = 'add' | 'sub' | 'mul' | 'div';
/** The addon's unary ops in its order (ADVPROP_UNARY_OPS); test/native.test.ts compares the two. */
export const UNARY_OP_NAMES = ['scale', 'addScalar', 'silu', 'sigmoid', 'relu', 'exp', 'log', 'square', 'neg'] as const;
export type UnaryOpName = (typeof UNARY_OP_NAMES)[number];
export type ConvPadding = 'same' | 'valid' | [number, number, number, number];
export type BatchNormMode = 'train' | 'train-frozen' | 'eval';
export type BatchNormAct = 'none' | 'silu' | 'relu';
export type AttackNorm = 'linf' | 'l2';
/** The input pipeline's host kernels (ADVPROP_AUGMENT_OPS). */
export type AugmentOpName = 'flip' | 'lut' | 'affine' | 'color' | 'contrast' | 'sharpness' | 'equalize' | 'autoContrast';
export type HostArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** An opaque native tensor handle. Its metadata is fixed at creation. */
/** A native Stager (an External); only the addon's stager* functions read it. */
export type NativeStager = { readonly __stager: unique symbol };

export interface NativeTensor {
  readonly shape: readonly number[];
  readonly dtype: DTypeName;
  /** "cpu", "cuda:0", "cuda-sim:0" */
  readonly device: string;
  /** Bytes of the view (numel × element size). */
  readonly nbytes: number;
}

export interface DeviceEntry {
  device: string;
  type: DeviceTypeName;
  index: number;
  available: boolean;
  /** Why the device is unavailable; empty when available. */
  reason: string;
  name?: string;
  totalMemory?: number;
  computeCapability?: string;
  multiprocessors?: number;
  maxThreadsPerBlock?: number;
  sharedMemPerBlock?: number;
  warpSize?: number;
  driverVersion?: number;
  runtimeVersion?: number;
}

export interface NativeMemoryStats {
  liveTensors: number;
  bytesInUse: number;
  /** The most bytesInUse has been since resetPeakMemory(device) (or since the process started). */
  peakBytesInUse: number;
  bytesCached: number;
  bytesReserved: number;
  allocCalls: number;
  systemAllocs: number;
}

export interface BuildInfo {
  version: string;
  cuda: boolean;
  cudaArchs: string;
  sim: boolean;
  compiler: string;
  napiVersion: number;
  threads: number;
  /** "nvcc 13.0.88"; empty without CUDA. */
  cudaCompiler: string;
  /** Flags every CUDA source was compiled with (besides the -gencode ones from cudaArchs). */
  cudaFlags: string;
  /** CUDART_VERSION the kernels were compiled against, e.g. 13000; 0 without CUDA. */
  cudaRuntimeBuilt: number;
  /** CUDA version the installed driver supports (e.g. 12040), 0 when there is no driver. */
  driverVersion: number;
  /** Version of the statically linked CUDA runtime, 0 without CUDA. */
  runtimeVersion: number;
}

export interface SimSelfTestResult { name: string; passed: boolean; detail: string }

/** The mma shapes of tensorCoreCheck (TcMma, native/include/advprop/tensor_core_check.h). */
export type TcMmaShape = 'm16n8k16_bf16' | 'm16n8k16_f16' | 'm16n8k8_tf32';

export type Seed = number | bigint;

/**
 * The names each enumerated argument accepts, read from the addon's own lists (the X-macro lists
 * in native/include/advprop/*.h), so the TypeScript side never keeps a copy that could drift;
 * test/native.test.ts checks the union types above against them.
 */
export interface OpNames {
  binary: BinaryOpName[];
  unary: UnaryOpName[];
  batchNormMode: BatchNormMode[];
  batchNormAct: BatchNormAct[];
  attackNorm: AttackNorm[];
}

/** The constructor whose prototype every handle has; it makes no handle when called from JS. */
export interface NativeTensorConstructor extends Function {
  readonly prototype: NativeTensor;
}

/**
 * Every entry of the addon (binding/entries.h), grouped as binding/*.cc defines them. The binding
 * checks argument counts and JS types; the native front-ends check shapes, dtypes and devices.
 */
export interface Addon {
  /** binding/handle.cc */
  NativeTensor: NativeTensorConstructor;

  // ---- binding/system.cc
  buildInfo(): BuildInfo;
  devices(): DeviceEntry[];
  memoryStats(device: string): NativeMemoryStats;
  /** Sets the device's peakBytesInUse to its bytesInUse now. */
  resetPeakMemory(device: string): void;
  /** Lets the conv/linear GEMMs multiply f32 in tf32 (lib/precision.ts); returns the previous setting. */
  setGemmTf32(allowed: boolean): boolean;
  /** Tensor handles alive in the addon, and the size of its handle table (its high-water mark). */
  handleStats(): { live: number; slots: number };
  emptyCache(device: string): void;
  synchronize(device: string): void;
  // ---- binding/graph.cc: CUDA graphs of a device's stream, and the in-place copy feeding them
  cudaGraphBegin(device: string): void;
  cudaGraphEnd(device: string): number;
  cudaGraphAbort(device: string): void;
  /** offsetShift: added to the Philox offset of every random kernel in the graph (u64). */
  cudaGraphReplay(device: string, id: number, offsetShift: bigint): void;
  cudaGraphDestroy(device: string, id: number): void;
  copyInto(dst: NativeTensor, src: NativeTensor): void;
  /** cuda-sim's own tests (barriers, shuffles, launch checks); empty without the simulator. */
  simSelfTest(): SimSelfTestResult[];
  /** The names each enumerated argument accepts (see OpNames). */
  opNames(): OpNames;

  // ---- binding/tensor_core.cc: the tensor-core checks (native/include/advprop/tensor_core_check.h
  // says what each computes) on a device; on 'cpu' the twins that define the expected results.
  // For tests only: lib/ does not call it. Matrices are row-major.
  /** Whether the device can run the PTX wrappers (false for a device this build or machine lacks). */
  tensorCoreCheck(device: string, check: 'usable'): boolean;
  /** D (16 x 8) = A B + C; a and b hold 16-bit patterns (bf16, f16) or f32 patterns (tf32). */
  tensorCoreCheck(device: string, check: 'mma', shape: TcMmaShape, a: Uint32Array, b: Uint32Array, c: Float32Array): Float32Array;
  /** ldmatrix .x{num} (1, 2, 4), .trans if trans; lane l points at element rowOffsets[l]; [lane * num + j]. */
  tensorCoreCheck(device: string, check: 'ldmatrix', num: number, trans: boolean, image: Uint16Array, rowOffsets: Int32Array): Uint32Array;
  /** A (16 x 16) and B (16 x 8) bf16 patterns through ldmatrix into the bf16 mma: D = A B + C. */
  tensorCoreCheck(device: string, check: 'ldmatrixMma', a: Uint16Array, b: Uint16Array, c: Float32Array): Float32Array;
  /** The cp.async groups (kCpAsyncSrcWords = 704 source words). */
  tensorCoreCheck(device: string, check: 'cpAsync', src: Uint32Array): Uint32Array;
  /** Per pair of x: f32_to_tf32 of both, pack_bf16x2, pack_f16x2 (x of even length). */
  tensorCoreCheck(device: string, check: 'conversions', x: Float32Array): Uint32Array;

  // ---- binding/tensors.cc
  /**
   * Copies the array into a new tensor; dtype follows the array type. With dtype 'bf16' or 'f16',
   * a Float32Array or Float64Array is rounded once to it (nearest, ties to even) on the host and a
   * Uint16Array is taken as its bit patterns.
   */
  fromArray(data: HostArray | Uint16Array, shape: readonly number[], device: string, dtype?: DTypeName): NativeTensor;
  /**
   * Synchronous read-back into a new typed array; bf16 and f16 come back as a Float32Array of
   * their exactly widened values, or with `bits` as a Uint16Array of their bit patterns.
   */
  toArray(t: NativeTensor): HostArray;
  toArray(t: NativeTensor, bits: true): HostArray | Uint16Array;
  /** Read-back on a worker thread. */
  toArrayAsync(t: NativeTensor): Promise<HostArray>;
  /** Frees the handle's reference to its storage; later use throws ERR_DISPOSED. Idempotent. */
  dispose(t: NativeTensor): void;
  isDisposed(t: NativeTensor): boolean;
  /** A new handle viewing the same storage (the tape saves these). */
  share(t: NativeTensor): NativeTensor;
  toDevice(t: NativeTensor, device: string): NativeTensor;
  clone(t: NativeTensor): NativeTensor;
  cast(t: NativeTensor, dtype: DTypeName): NativeTensor;

  // ---- binding/ops.cc
  full(shape: readonly number[], dtype: DTypeName, device: string, value: number): NativeTensor;
  uniform(shape: readonly number[], dtype: DTypeName, device: string, seed: Seed, offset: Seed, lo: number, hi: number): NativeTensor;
  normal(shape: readonly number[], dtype: DTypeName, device: string, seed: Seed, offset: Seed, mean: number, std: number): NativeTensor;

  binary(op: BinaryOpName, a: NativeTensor, b: NativeTensor): NativeTensor;
  unary(op: UnaryOpName, x: NativeTensor, alpha: number): NativeTensor;
  unaryBackward(op: UnaryOpName, x: NativeTensor, dy: NativeTensor, alpha: number): NativeTensor;
  /** axes: [] means all axes. */
  sum(x: NativeTensor, axes: readonly number[], keepdims: boolean, mean: boolean): NativeTensor;
  sumToShape(grad: NativeTensor, shape: readonly number[]): NativeTensor;
  /** The gradient of sum/mean: dy spread back over xShape. axes: [] means all axes. */
  sumBackward(dy: NativeTensor, xShape: readonly number[], axes: readonly number[], mean: boolean): NativeTensor;

  /** y = x · wᵀ (+ b); b may be null. */
  linear(x: NativeTensor, w: NativeTensor, b: NativeTensor | null): NativeTensor;
  /** sigmoid(linear(silu(linear(pooled, w1, b1)), w2, b2)): squeeze-excite's gate for inference, four ops in one call. */
  seGate(pooled: NativeTensor, w1: NativeTensor, b1: NativeTensor, w2: NativeTensor, b2: NativeTensor): NativeTensor;
  linearBackwardInput(dy: NativeTensor, w: NativeTensor): NativeTensor;
  linearBackwardWeight(dy: NativeTensor, x: NativeTensor): NativeTensor;

  /** NHWC x, OHWI w; padding 'same' (TensorFlow), 'valid' or [top, bottom, left, right]. */
  conv2d(x: NativeTensor, w: NativeTensor, b: NativeTensor | null, stride: readonly number[], dilation: readonly number[], groups: number, padding: ConvPadding): NativeTensor;
  conv2dBackwardInput(dy: NativeTensor, w: NativeTensor, xShape: readonly number[], stride: readonly number[], dilation: readonly number[], groups: number, padding: ConvPadding): NativeTensor;
  conv2dBackwardWeight(dy: NativeTensor, x: NativeTensor, wShape: readonly number[], stride: readonly number[], dilation: readonly number[], groups: number, padding: ConvPadding): NativeTensor;
  conv2dBnEval(x: NativeTensor, w: NativeTensor, gamma: NativeTensor, beta: NativeTensor, runningMean: NativeTensor, runningVar: NativeTensor,
    domain: number, eps: number, act: BatchNormAct, residual: NativeTensor | null, stride: readonly number[], dilation: readonly number[], groups: number, padding: ConvPadding,
    xScale: NativeTensor | null, pool?: false, xAffine?: NativeTensor | null): NativeTensor;
  /** The same, and the global average pool of y (native/ops/conv_bn.cc). xAffine [2, Cin]: x read as x * row 0 + row 1. */
  conv2dBnEval(x: NativeTensor, w: NativeTensor, gamma: NativeTensor, beta: NativeTensor, runningMean: NativeTensor, runningVar: NativeTensor,
    domain: number, eps: number, act: BatchNormAct, residual: NativeTensor | null, stride: readonly number[], dilation: readonly number[], groups: number, padding: ConvPadding,
    xScale: NativeTensor | null, pool: boolean, xAffine?: NativeTensor | null): NativeTensor | [NativeTensor, NativeTensor];

  reshape(x: NativeTensor, shape: readonly number[]): NativeTensor;
  slice0(x: NativeTensor, start: number, len: number): NativeTensor;
  concat0(xs: NativeTensor[]): NativeTensor;
  slice0Backward(dy: NativeTensor, rows: number, start: number): NativeTensor;

  // ---- binding/optim.cc: fused multi-tensor updates, in place
  rmspropUpdate(params: NativeTensor[], grads: NativeTensor[], ms: NativeTensor[], mom: NativeTensor[], decay: readonly boolean[],
    lr: unknown, rho: unknown, momentum: unknown, eps: unknown, weightDecay: unknown, lrAt?: NativeTensor): void;
  sgdUpdate(params: NativeTensor[], grads: NativeTensor[], bufs: NativeTensor[], decay: readonly boolean[],
    lr: unknown, momentum: unknown, weightDecay: unknown, nesterov: unknown, lrAt?: NativeTensor): void;
  emaUpdate(emas: NativeTensor[], sources: NativeTensor[], decay: unknown): void;

  // ---- binding/pool.cc
  globalAvgPool(x: NativeTensor): NativeTensor;
  globalAvgPoolBackward(dy: NativeTensor, xShape: readonly number[]): NativeTensor;
  channelScale(x: NativeTensor, s: NativeTensor): NativeTensor;
  /** [dx, ds], each null unless asked for. */
  channelScaleBackward(x: NativeTensor, s: NativeTensor, dy: NativeTensor, needDx: boolean, needDs: boolean): [NativeTensor | null, NativeTensor | null];
  channelScaleAdd(x: NativeTensor, s: NativeTensor, b: NativeTensor): NativeTensor;

  // ---- binding/pool.cc: loss
  /** [per-sample loss, row log-sum-exp]. */
  crossEntropy(logits: NativeTensor, labels: NativeTensor, smoothing: number, validateLabels: boolean): [NativeTensor, NativeTensor];
  crossEntropyBackward(logits: NativeTensor, labels: NativeTensor, lse: NativeTensor, dy: NativeTensor, scale: number, smoothing: number): NativeTensor;
  argmaxRows(logits: NativeTensor): NativeTensor;

  // ---- binding/attack.cc: eps and alpha are numbers or per-sample [N] tensors
  pgdStep(xAdv: NativeTensor, grad: NativeTensor, x: NativeTensor, eps: number | NativeTensor, alpha: number | NativeTensor, min: number, max: number, norm: AttackNorm): NativeTensor;
  pgdRandomStart(x: NativeTensor, eps: number | NativeTensor, min: number, max: number, norm: AttackNorm, seed: Seed, offset: Seed, samples?: [number, number, number]): NativeTensor;

  // ---- binding/attack.cc: dropout and drop-connect (Philox keep mask of (seed, offset))
  dropout(x: NativeTensor, rate: number, perSample: boolean, seed: Seed, offset: Seed, samples?: [number, number, number]): NativeTensor;
  dropConnectAdd(h: NativeTensor, residual: NativeTensor, rate: number, seed: Seed, offset: Seed, samples?: [number, number, number]): NativeTensor;
  /** u8 NHWC images → (x / 255 · (1/std) + (−mean/std)) per channel in dtype (f32, bf16, f16). */
  normalizeImage(x: NativeTensor, mean: readonly number[], std: readonly number[], dtype: DTypeName): NativeTensor;
  /** One per-image kernel of the input pipeline (advprop/augment.h) on HWC bytes in host memory: new bytes. */
  imageAugment(op: AugmentOpName, data: Uint8Array, height: number, width: number, channels: number, params: readonly number[] | Uint8Array): Uint8Array;
  /** dst[offset + i] = src[i] / 255 in f32 (the loader's 'float' batches). */
  imageToUnit(src: Uint8Array, dst: Float32Array, offset: number): void;

  // ---- binding/jpeg.cc: libjpeg-turbo loaded at run time (advprop/jpeg.h)
  /** Which libjpeg serves jpegDecode, or why none does. */
  jpegLibrary(): { available: boolean; path: string; reason: string };
  /** A JPEG's box (source pixels) decoded and resampled to outHeight × outWidth × channels; null
   * when the file is left to sharp (no library, CMYK, a warning or error from libjpeg). */
  jpegDecode(bytes: Uint8Array, top: number, left: number, height: number, width: number, outHeight: number, outWidth: number,
    channels: number): Uint8Array | null;
  /** A pinned-memory uploader with its own copy stream (advprop/staging.h); opaque. */
  stagerCreate(device: string, slots: number): NativeStager;
  stagerUpload(stager: NativeStager, slot: number, bytes: Uint8Array, dst: NativeTensor): void;
  stagerRelease(stager: NativeStager, slot: number): void;
  stagerDispose(stager: NativeStager): void;

  // ---- binding/batchnorm.cc: segments are [domain, count] pairs
  /** [y, mean, invstd]. */
  multiBatchNorm(x: NativeTensor, gamma: NativeTensor, beta: NativeTensor, runningMean: NativeTensor, runningVar: NativeTensor,
    segments: ReadonlyArray<readonly number[]>, mode: BatchNormMode, act: BatchNormAct, momentum: number, eps: number,
    trainingMath?: boolean): [NativeTensor, NativeTensor, NativeTensor];
  /** [dx, dgamma, dbeta]. */
  multiBatchNormBackward(dy: NativeTensor, x: NativeTensor, gamma: NativeTensor, beta: NativeTensor, mean: NativeTensor, invstd: NativeTensor,
    segments: ReadonlyArray<readonly number[]>, mode: BatchNormMode, act: BatchNormAct, eps: number): [NativeTensor, NativeTensor, NativeTensor];

  // ---- binding/dist.cc: the ranks of an mpirun/srun job (MPI loaded at run time)
  distProbe(): MpiProbe;
  distProbeNccl(): NcclProbe;
  distInit(): DistWorld;
  distWorld(): DistWorld;
  /** New tensors: the inputs summed (average: divided by the world size) over the ranks. */
  distAllreduce(tensors: NativeTensor[], average: boolean, bucketBytes: number): NativeTensor[];
  /** allreduce queued without waiting (the communication thread or stream): a handle for distAllreduceWait. */
  distAllreduceStart(tensors: NativeTensor[], average: boolean, bucketBytes: number): number;
  distAllreduceWait(handle: number): NativeTensor[];
  distAllreduceHost(values: Float64Array): void;
  distBroadcast(tensors: NativeTensor[], root: number): void;
  /** timeoutSeconds: < 0 or absent, ADVPROP_DIST_TIMEOUT; 0, no deadline. */
  distBarrier(timeoutSeconds?: number): void;
  distAbort(code: number): never;
  distFinalize(): void;
}

/** What loading MPI found (`advprop info`); nothing is initialised. */
export interface NcclProbe { found: boolean; path: string; version: string; reason: string }
export interface MpiProbe { found: boolean; path: string; flavor: string; version: string; reason: string; launcher: string }
/** This process's place in the job; a world of one (mpi false) when no launcher started it. */
export interface DistWorld {
  rank: number; size: number; localRank: number; localSize: number; mpi: boolean; launcher: string;
  /** MPI granted MPI_THREAD_SERIALIZED, so started all-reduces run on a communication thread. */
  commThread: boolean;
}

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('advprop: cannot find package.json above ' + dirname(fileURLToPath(import.meta.url)));
    dir = up;
  }
  return dir;
}

const require = createRequire(import.meta.url);
// node-gyp-build looks in prebuilds/<platform>-<arch>/ and then build/Release/.
const gypBuild = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
const loaded = gypBuild(packageRoot()) as Addon;

/** The path of the .node file that was loaded. */
export function addonFile(): string {
  return gypBuild.resolve(packageRoot());
}

/**
 * The addon, with every error it throws (or a promise rejects with) converted to AdvpropError.
 * All of lib/ calls the addon through this object.
 */
export const addon: Addon = { ...guardNative(loaded), NativeTensor: loaded.NativeTensor };

/**
 * The same entries without the conversion: errors come out as the binding made them (name
 * 'AdvpropError' and a code, but not lib's class). For tests of the binding itself and for
 * benchmarks of its bare cost; lib/ does not use it.
 */
export const rawAddon: Addon = loaded;

let opNamesRead: OpNames | undefined;
/** The addon's op-name lists (see OpNames), read once. */
export function opNames(): OpNames {
  return (opNamesRead ??= addon.opNames());
}
