// Philox fills (contract: advprop/random.h, numbering in advprop/philox.h). Each thread computes
// one Philox block and writes its four elements, using the same expressions as
// philox_uniform_element / philox_normal_element and the CPU's affine map, one correctly rounded
// fma in double (native/cpu/random.cc), so the values equal the CPU's bit for bit.
#include "common.cuh"

#include <cstdint>
#include <string>

#include "advprop/philox.h"
#include "advprop/random.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

template <typename T>
__global__ void uniform_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span) {
  const int64_t nblk = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < nblk; j += stride) {
    const uint64_t i0 = static_cast<uint64_t>(j) * 4;
    const Philox4 b = philox_block(seed, offset, i0);
    for (int k = 0; k < 4; ++k) {
      if (static_cast<int64_t>(i0) + k >= n) break;
      const double u = static_cast<double>(philox_uniform01(b.v[k]));
      out[i0 + k] = static_cast<T>(fma(span, u, lo));
    }
  }
}

template <typename T>
__global__ void normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev) {
  const int64_t nblk = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < nblk; j += stride) {
    const uint64_t i0 = static_cast<uint64_t>(j) * 4;
    const Philox4 b = philox_block(seed, offset, i0);
    for (int pair = 0; pair < 4; pair += 2) {
      if (static_cast<int64_t>(i0) + pair >= n) break;
      double z0, z1;
      philox_normal_pair(b.v[pair], b.v[pair + 1], &z0, &z1);  // the shared definition, philox.h
      out[i0 + pair] = static_cast<T>(fma(stddev, z0, mean));
      if (static_cast<int64_t>(i0) + pair + 1 < n) out[i0 + pair + 1] = static_cast<T>(fma(stddev, z1, mean));
    }
  }
}

}  // namespace

void uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  const int64_t n = out.numel();
  dispatch_dtype(out.dtype(), "uniform", [&](auto tag) {
    using T = decltype(tag);
    if (n == 0) return;
    ADVPROP_LAUNCH(uniform_kernel<T>, grid_for((n + 3) / 4, kThreads), kThreads, 0, stream_of(out))(
        out.data_as<T>(), n, seed, offset, lo, hi - lo);
  });
}

void normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double stddev) {
  const int64_t n = out.numel();
  dispatch_dtype(out.dtype(), "normal", [&](auto tag) {
    using T = decltype(tag);
    if (n == 0) return;
    ADVPROP_LAUNCH(normal_kernel<T>, grid_for((n + 3) / 4, kThreads), kThreads, 0, stream_of(out))(
        out.data_as<T>(), n, seed, offset, mean, stddev);
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
