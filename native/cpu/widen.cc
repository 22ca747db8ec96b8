// Conversions of the cpu's widened path (widen.h), in parallel chunks of a fixed size.
#include "widen.h"

#include <cstdint>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/parallel.h"

namespace advprop {
namespace cpu {
namespace {
constexpr int64_t kGrain = int64_t(1) << 16;
}  // namespace

namespace {
void widen_into(const Tensor& t, int64_t first, int64_t count, float* d) {
  ADVPROP_ASSERT(t.defined() && t.is_contiguous() && is_half(t.dtype()) && t.device().type == DeviceType::cpu &&
                 first >= 0 && count >= 0 && first + count <= t.numel());
  dispatch_dtype<HalfTypes>(t.dtype(), "widen_to_f32", [&](auto tag) {
    using T = decltype(tag);
    const T* s = t.data_as<const T>() + first;
    parallel_for(0, count, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) d[i] = to_accum(s[i]);
    });
  });
}
}  // namespace

Tensor widen_to_f32(const Tensor& t) {
  Tensor out = f32_like(t);
  widen_into(t, 0, t.numel(), out.data_as<float>());
  return out;
}

Tensor widen_to_f32(const Tensor& t, int64_t first, int64_t count) {
  Tensor out = Tensor::empty({count}, DType::f32, Device{});
  widen_into(t, first, count, out.data_as<float>());
  return out;
}

Tensor f32_like(const Tensor& t) { return Tensor::empty(t.shape(), DType::f32, Device{}); }

void narrow_from_f32(const Tensor& src, Tensor& dst) {
  ADVPROP_ASSERT(src.defined() && dst.defined() && src.numel() == dst.numel());
  narrow_from_f32(src, dst, 0);
}

void narrow_from_f32(const Tensor& src, Tensor& dst, int64_t offset) {
  ADVPROP_ASSERT(src.defined() && dst.defined() && src.dtype() == DType::f32 && is_half(dst.dtype()) && offset >= 0 &&
                 offset + src.numel() <= dst.numel() && src.is_contiguous() && dst.is_contiguous());
  const float* s = src.data_as<const float>();
  dispatch_dtype<HalfTypes>(dst.dtype(), "narrow_from_f32", [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data_as<T>() + offset;
    parallel_for(0, src.numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) d[i] = from_accum<T>(s[i]);
    });
  });
}

}  // namespace cpu
}  // namespace advprop
