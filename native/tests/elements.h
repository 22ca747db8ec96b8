// Element access by dtype for host tensors in the native tests.
#pragma once
#include <cmath>
#include <cstdint>

#include "advprop/half.h"
#include "advprop/ops.h"
#include "advprop/random.h"
#include "advprop/tensor.h"

namespace advprop {
namespace test {

inline double get(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::f32: return t.data_as<float>()[i];
    case DType::f64: return t.data_as<double>()[i];
    case DType::i32: return t.data_as<int32_t>()[i];
    case DType::bf16: return to_f32(t.data_as<bf16>()[i]);
    case DType::f16: return to_f32(t.data_as<f16>()[i]);
    default: return std::nan("");
  }
}

inline void set(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::f32: t.data_as<float>()[i] = static_cast<float>(v); break;
    case DType::f64: t.data_as<double>()[i] = v; break;
    case DType::i32: t.data_as<int32_t>()[i] = static_cast<int32_t>(v); break;
    case DType::bf16: t.data_as<bf16>()[i] = to_bf16(v); break;  // rounded once, to nearest even
    case DType::f16: t.data_as<f16>()[i] = to_f16(v); break;
    default: break;
  }
}

// A host f32 or f64 tensor of uniform values in [lo, hi) (cpu::uniform: Philox, seed, offset 0).
inline Tensor random_cpu(const Shape& shape, DType dt, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::empty(shape, dt, Device{});
  if (t.numel() > 0) cpu::uniform(t, seed, 0, lo, hi);
  return t;
}

// Host <-> cuda-sim copies for comparing a simulated kernel with the cpu one.
inline Tensor to_sim(const Tensor& t) { return ops::to_device(t, Device{DeviceType::cuda_sim, 0}); }
inline Tensor to_cpu(const Tensor& t) { return ops::to_device(t, Device{}); }

}  // namespace test
}  // namespace advprop
