// Element access by dtype for host tensors in the native tests.
#pragma once
#include <cmath>
#include <cstdint>

#include "advprop/ops.h"
#include "advprop/tensor.h"

namespace advprop {
namespace test {

inline double get(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::f32: return t.data_as<float>()[i];
    case DType::f64: return t.data_as<double>()[i];
    case DType::i32: return t.data_as<int32_t>()[i];
    default: return std::nan("");
  }
}

inline void set(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::f32: t.data_as<float>()[i] = static_cast<float>(v); break;
    case DType::f64: t.data_as<double>()[i] = v; break;
    case DType::i32: t.data_as<int32_t>()[i] = static_cast<int32_t>(v); break;
    default: break;
  }
}

// Host <-> cuda-sim copies for comparing a simulated kernel with the cpu one.
inline Tensor to_sim(const Tensor& t) { return ops::to_device(t, Device{DeviceType::cuda_sim, 0}); }
inline Tensor to_cpu(const Tensor& t) { return ops::to_device(t, Device{}); }

}  // namespace test
}  // namespace advprop
