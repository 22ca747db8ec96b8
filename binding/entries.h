// Every function exported by the addon; addon.cc registers them under these names.
#pragma once
#include <napi.h>

namespace advprop_binding {
#define ADVPROP_BINDING_ENTRIES(X) \
  X(buildInfo, BuildInfo)          \
  X(devices, Devices)              \
  X(memoryStats, MemoryStats)      \
  X(resetPeakMemory, ResetPeakMemory) \
  X(setGemmTf32, SetGemmTf32)      \
  X(handleStats, HandleStatsEntry) \
  X(emptyCache, EmptyCache)        \
  X(synchronize, Synchronize)      \
  X(cudaGraphBegin, CudaGraphBegin) \
  X(cudaGraphEnd, CudaGraphEnd)    \
  X(cudaGraphAbort, CudaGraphAbort) \
  X(cudaGraphReplay, CudaGraphReplay) \
  X(cudaGraphDestroy, CudaGraphDestroy) \
  X(copyInto, CopyInto)            \
  X(simSelfTest, SimSelfTest)      \
  X(tensorCoreCheck, TensorCoreCheck) \
  X(opNames, OpNames)              \
  X(fromArray, FromArray)          \
  X(toArray, ToArray)              \
  X(toArrayAsync, ToArrayAsync)    \
  X(dispose, Dispose)              \
  X(isDisposed, IsDisposed)        \
  X(share, Share)                  \
  X(toDevice, ToDevice)            \
  X(clone, Clone)                  \
  X(cast, Cast)                    \
  X(full, Full)                    \
  X(uniform, Uniform)              \
  X(normal, Normal)                \
  X(binary, Binary)                \
  X(unary, Unary)                  \
  X(unaryBackward, UnaryBackward)  \
  X(sum, Sum)                      \
  X(sumToShape, SumToShape)        \
  X(sumBackward, SumBackward)      \
  X(rmspropUpdate, RmspropUpdate)  \
  X(sgdUpdate, SgdUpdate)          \
  X(emaUpdate, EmaUpdate)          \
  X(linear, Linear)                \
  X(linearBackwardInput, LinearBackwardInput) \
  X(linearBackwardWeight, LinearBackwardWeight) \
  X(seGate, SeGate)                \
  X(conv2d, Conv2d)                \
  X(conv2dBackwardInput, Conv2dBackwardInput) \
  X(conv2dBackwardWeight, Conv2dBackwardWeight) \
  X(conv2dBnEval, Conv2dBnEval)    \
  X(reshape, Reshape)              \
  X(slice0, Slice0)                \
  X(concat0, Concat0)              \
  X(slice0Backward, Slice0Backward) \
  X(globalAvgPool, GlobalAvgPool)  \
  X(globalAvgPoolBackward, GlobalAvgPoolBackward) \
  X(channelScale, ChannelScale)    \
  X(channelScaleBackward, ChannelScaleBackward) \
  X(channelScaleAdd, ChannelScaleAdd) \
  X(crossEntropy, CrossEntropy)    \
  X(crossEntropyBackward, CrossEntropyBackward) \
  X(argmaxRows, ArgmaxRows)       \
  X(pgdStep, PgdStep)              \
  X(pgdRandomStart, PgdRandomStart) \
  X(dropout, Dropout)              \
  X(dropConnectAdd, DropConnectAdd) \
  X(normalizeImage, NormalizeImage) \
  X(imageAugment, ImageAugment)    \
  X(imageToUnit, ImageToUnit)      \
  X(jpegLibrary, JpegLibrary)      \
  X(jpegDecode, JpegDecode)        \
  X(stagerCreate, StagerCreate)    \
  X(stagerUpload, StagerUpload)    \
  X(stagerRelease, StagerRelease)  \
  X(stagerDispose, StagerDispose)  \
  X(multiBatchNorm, MultiBatchNorm) \
  X(multiBatchNormBackward, MultiBatchNormBackward) \
  X(distProbe, DistProbe)          \
  X(distProbeNccl, DistProbeNccl)  \
  X(distInit, DistInit)            \
  X(distWorld, DistWorld)          \
  X(distAllreduce, DistAllreduce)  \
  X(distAllreduceHost, DistAllreduceHost) \
  X(distAllreduceStart, DistAllreduceStart) \
  X(distAllreduceWait, DistAllreduceWait) \
  X(distBroadcast, DistBroadcast)  \
  X(distBarrier, DistBarrier)      \
  X(distAbort, DistAbort)          \
  X(distFinalize, DistFinalize)

#define ADVPROP_DECLARE_ENTRY(js, cc) Napi::Value cc(const Napi::CallbackInfo& info);
ADVPROP_BINDING_ENTRIES(ADVPROP_DECLARE_ENTRY)
#undef ADVPROP_DECLARE_ENTRY
}  // namespace advprop_binding
