// CPU Philox fills. Element i is a pure function of (seed, offset, i) (philox.h), so the result
// does not depend on how the range is split over threads, and the CUDA kernels reproduce it.
//
// The affine map is one fused multiply-add in double, then a single rounding to the element
// type: uniform = (T) fma(hi - lo, u, lo), normal = (T) fma(std, z, mean) (bf16 and f16 rounded
// from the double directly, by convert). An explicit fma rounds
// the same on every machine and in CUDA, where a plain a * b + c may or may not be contracted.
#include <cmath>
#include <cstdint>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/parallel.h"
#include "advprop/philox.h"
#include "advprop/pointwise.h"
#include "advprop/random.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

// One Philox block serves four consecutive elements; the chunk edges need not be aligned to 4.
template <typename T>
void uniform_span(T* out, int64_t lo, int64_t hi, uint64_t seed, uint64_t offset, double a, double span) {
  for (int64_t i = lo; i < hi;) {
    const Philox4 b = philox_block(seed, offset, static_cast<uint64_t>(i));
    for (int64_t lane = i & 3; lane < 4 && i < hi; ++lane, ++i)
      out[i] = convert<T>(std::fma(span, static_cast<double>(philox_uniform01(b.v[lane])), a));
  }
}

// A whole block at a time: one Philox evaluation and two log/sincos serve four elements,
// through the same shared definition the CUDA kernels use.
template <typename T>
void normal_span(T* out, int64_t lo, int64_t hi, uint64_t seed, uint64_t offset, double mean, double stddev) {
  for (int64_t i = lo; i < hi;) {
    double z[4];
    philox_normal_block(seed, offset, static_cast<uint64_t>(i), z);
    for (int64_t lane = i & 3; lane < 4 && i < hi; ++lane, ++i)
      out[i] = convert<T>(std::fma(stddev, z[lane], mean));
  }
}

}  // namespace

void uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_dtype<MixedFloatTypes>(out.dtype(), "uniform", [&](auto tag) {
    auto* o = out.data_as<decltype(tag)>();
    parallel_for(0, n, kGrainCostly, [&](int64_t a, int64_t b) { uniform_span(o, a, b, seed, offset, lo, hi - lo); });
  });
}

void normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double stddev) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_dtype<MixedFloatTypes>(out.dtype(), "normal", [&](auto tag) {
    auto* o = out.data_as<decltype(tag)>();
    parallel_for(0, n, kGrainCostly / 4, [&](int64_t a, int64_t b) { normal_span(o, a, b, seed, offset, mean, stddev); });
  });
}

}  // namespace cpu
}  // namespace advprop
