// Calls the kernel `fn` of the backend that owns `device`. Backends this build lacks were
// already refused by require_device, so their branches only exist to keep the switch total.
#pragma once
#include "advprop/device.h"
#include "advprop/error.h"

#if ADVPROP_WITH_CUDA
#define ADVPROP_CALL_CUDA(fn, ...) ::advprop::cuda::fn(__VA_ARGS__)
#else
#define ADVPROP_CALL_CUDA(fn, ...) ::advprop::fail(::advprop::ErrorCode::Device, "built without CUDA")
#endif
#if ADVPROP_WITH_SIM
#define ADVPROP_CALL_SIM(fn, ...) ::advprop::cudasim::fn(__VA_ARGS__)
#else
#define ADVPROP_CALL_SIM(fn, ...) ::advprop::fail(::advprop::ErrorCode::Device, "built without cuda-sim")
#endif

#define ADVPROP_DISPATCH(device, fn, ...)                                         \
  do {                                                                            \
    switch ((device).type) {                                                      \
      case ::advprop::DeviceType::cpu: ::advprop::cpu::fn(__VA_ARGS__); break;     \
      case ::advprop::DeviceType::cuda: ADVPROP_CALL_CUDA(fn, __VA_ARGS__); break; \
      case ::advprop::DeviceType::cuda_sim: ADVPROP_CALL_SIM(fn, __VA_ARGS__); break; \
    }                                                                             \
  } while (0)
