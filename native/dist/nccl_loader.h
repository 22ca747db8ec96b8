// NCCL loaded with dlopen (never linked), for collectives on cuda tensors: the prebuilt addon
// loads on machines without NCCL, and a process that never reduces a cuda tensor never opens it.
// Our own declarations of the few functions used, from nccl.h's C ABI (stable since NCCL 2.0):
// ncclComm_t is a pointer, ncclUniqueId 128 bytes, ncclResult_t / ncclDataType_t / ncclRedOp_t
// ints with the values below.
#pragma once
#include <cstdint>
#include <string>

namespace advprop::dist {

struct NcclUniqueId {
  char internal[128];
};
using NcclComm = void*;

// ncclResult_t, ncclDataType_t and ncclRedOp_t values used here (nccl.h).
constexpr int kNcclSuccess = 0, kNcclInProgress = 7;
constexpr int kNcclFloat16 = 6, kNcclFloat32 = 7, kNcclFloat64 = 8, kNcclBfloat16 = 9;
constexpr int kNcclSum = 0, kNcclAvg = 4;  // ncclAvg: NCCL >= 2.10

struct Nccl {
  bool loaded = false;
  std::string path, version, reason;
  int version_code = 0;
  int (*GetVersion)(int*) = nullptr;
  int (*GetUniqueId)(NcclUniqueId*) = nullptr;
  int (*CommInitRank)(NcclComm*, int, NcclUniqueId, int) = nullptr;
  int (*CommDestroy)(NcclComm) = nullptr;
  int (*CommAbort)(NcclComm) = nullptr;
  int (*CommGetAsyncError)(NcclComm, int*) = nullptr;
  const char* (*GetErrorString)(int) = nullptr;
  int (*GroupStart)() = nullptr;
  int (*GroupEnd)() = nullptr;
  int (*AllReduce)(const void*, void*, size_t, int, int, NcclComm, void*) = nullptr;
  int (*Broadcast)(const void*, void*, size_t, int, int, NcclComm, void*) = nullptr;
};

// The library, loaded once (ADVPROP_NCCL_LIB, else libnccl.so.2, libnccl.so). Never throws:
// `loaded` false with `reason` when none can be used (missing, lacking a symbol, or older than
// 2.10, which has no ncclAvg).
const Nccl& nccl_library();

}  // namespace advprop::dist
