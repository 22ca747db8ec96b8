// Dropout / drop-connect (contract: advprop/dropout.h; reference: native/cpu/dropout.cc).
// Per element: one thread per Philox block of four elements. Per sample: a grid-stride pass that
// draws the sample's number (one Philox evaluation, cheap next to the loads), adding the residual
// in the same pass when there is one. bf16 and f16 compute in f32 and round to T after the
// product and after the add, as the cpu does (mul_store, mul_store_add).
#include "capture.cuh"

#include <cstdint>

#include "advprop/dropout.h"
#include "advprop/philox.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

template <typename T>
__global__ void element_kernel(const T* x, T* out, int64_t n, double keep, Accum<T> scale, uint64_t seed,
                               uint64_t offset, const uint64_t* offset_add) {
  offset = shifted_offset(offset, offset_add);
  const int64_t nblk = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < nblk; j += stride) {
    const int64_t i0 = j * 4;
    const Philox4 b = philox_block(seed, offset, static_cast<uint64_t>(i0));
    for (int k = 0; k < 4 && i0 + k < n; ++k)
      out[i0 + k] = double(philox_uniform01(b.v[k])) <= keep ? mul_store(x[i0 + k], scale) : T{};
  }
}

// Per element with a sample map (data-parallel ranks): one Philox evaluation per element.
template <typename T>
__global__ void mapped_element_kernel(const T* x, T* out, int64_t n, int64_t row, SampleMap map, double keep,
                                      Accum<T> scale, uint64_t seed, uint64_t offset, const uint64_t* offset_add) {
  offset = shifted_offset(offset, offset_add);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint64_t c = map.element(static_cast<uint64_t>(i), static_cast<uint64_t>(row));
    out[i] = philox_uniform_element(seed, offset, c) <= keep ? mul_store(x[i], scale) : T{};
  }
}

// r: the residual or null. A kept sample gives x * scale + r rounded twice (mul_store_add), as
// dropConnect then add; a dropped one 0 * scale + r, i.e. 0 + r (not r: -0 becomes +0, as in add).
template <typename T>
__global__ void sample_kernel(const T* x, const T* r, T* out, int64_t n, int64_t d, SampleMap map, double keep,
                              Accum<T> scale, uint64_t seed, uint64_t offset, const uint64_t* offset_add) {
  offset = shifted_offset(offset, offset_add);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const bool kept = philox_uniform_element(seed, offset, map.sample(static_cast<uint64_t>(i / d))) <= keep;
    if (r) out[i] = kept ? mul_store_add(x[i], scale, r[i]) : mul_store_add(T{}, scale, r[i]);
    else out[i] = kept ? mul_store(x[i], scale) : T{};
  }
}

template <typename T>
void typed(const Tensor& xt, const DropoutPlan& p, Tensor& outt) {
  const int64_t n = outt.numel();
  const Accum<T> scale = static_cast<Accum<T>>(1.0 / p.keep);
  cudaStream_t st = stream_of(outt);
  const uint64_t* add = capture_offset_word(outt.device().index);
  if (p.sample == 0 && !p.map.identity()) {
    ADVPROP_LAUNCH(mapped_element_kernel<T>, grid_for(n, kThreads), kThreads, 0, st)(
        xt.data_as<T>(), outt.data_as<T>(), n, p.row, p.map, p.keep, scale, p.seed, p.offset, add);
    return;
  }
  if (p.sample == 0) {
    ADVPROP_LAUNCH(element_kernel<T>, grid_for((n + 3) / 4, kThreads), kThreads, 0, st)(
        xt.data_as<T>(), outt.data_as<T>(), n, p.keep, scale, p.seed, p.offset, add);
    return;
  }
  ADVPROP_LAUNCH(sample_kernel<T>, grid_for(n, kThreads), kThreads, 0, st)(
      xt.data_as<T>(), p.residual ? p.residual->data_as<T>() : nullptr, outt.data_as<T>(), n, p.sample, p.map, p.keep,
      scale, p.seed, p.offset, add);
}

}  // namespace

void dropout(const Tensor& x, const DropoutPlan& p, Tensor& out) {
  assert_dropout_plan(x, p, out);
  dispatch_dtype<MixedFloatTypes>(out.dtype(), "dropout", [&](auto t) { typed<decltype(t)>(x, p, out); });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
