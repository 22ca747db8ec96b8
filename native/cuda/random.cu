// Philox fills (contract: advprop/random.h, numbering in advprop/philox.h). Each thread computes
// one Philox block and writes its four elements, using the same expressions as
// philox_uniform_element / philox_normal_element and the CPU's affine map, one correctly rounded
// fma in double (native/cpu/random.cc), so the values equal the CPU's bit for bit.
#include "capture.cuh"

#include <cstdint>

#include "advprop/dtype_dispatch.h"
#include "advprop/philox.h"
#include "advprop/pointwise.h"
#include "advprop/random.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

// The affine maps of the two fills, applied to the `count` (1 to 4) elements of one Philox block.
template <typename T>
struct UniformMap {
  double lo, span;
  ADVPROP_HD void operator()(const Philox4& b, T* out, int count) const {
    for (int k = 0; k < count; ++k) out[k] = convert<T>(fma(span, static_cast<double>(philox_uniform01(b.v[k])), lo));
  }
};
template <typename T>
struct NormalMap {
  double mean, stddev;
  ADVPROP_HD void operator()(const Philox4& b, T* out, int count) const {
    for (int pair = 0; pair < count; pair += 2) {
      double z0, z1;
      philox_normal_pair(b.v[pair], b.v[pair + 1], &z0, &z1);  // the shared definition, philox.h
      out[pair] = convert<T>(fma(stddev, z0, mean));
      if (pair + 1 < count) out[pair + 1] = convert<T>(fma(stddev, z1, mean));
    }
  }
};

template <typename T, typename Map>
__global__ void philox_fill_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, const uint64_t* offset_add,
                                   Map map) {
  offset = shifted_offset(offset, offset_add);
  const int64_t nblk = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < nblk; j += stride) {
    const int64_t i0 = j * 4;
    map(philox_block(seed, offset, static_cast<uint64_t>(i0)), out + i0, static_cast<int>(n - i0 < 4 ? n - i0 : 4));
  }
}

template <typename T, typename Map>
void launch_fill(Tensor& out, uint64_t seed, uint64_t offset, Map map) {
  const int64_t n = out.numel();
  if (n == 0) return;
  ADVPROP_LAUNCH((philox_fill_kernel<T, Map>), grid_for((n + 3) / 4, kThreads), kThreads, 0, stream_of(out))(
      out.data_as<T>(), n, seed, offset, capture_offset_word(out.device().index), map);
}

}  // namespace

void uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  dispatch_dtype<MixedFloatTypes>(out.dtype(), "uniform", [&](auto tag) {
    using T = decltype(tag);
    launch_fill<T>(out, seed, offset, UniformMap<T>{lo, hi - lo});
  });
}

void normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double stddev) {
  dispatch_dtype<MixedFloatTypes>(out.dtype(), "normal", [&](auto tag) {
    using T = decltype(tag);
    launch_fill<T>(out, seed, offset, NormalMap<T>{mean, stddev});
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
