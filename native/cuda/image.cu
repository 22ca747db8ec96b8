// normalize_image (contract: advprop/image.h; reference: native/cpu/image.cc). A grid-stride
// pass, one element a thread: one byte read and one T written, so the copy from the host, not
// this kernel, bounds the time. The per-channel constants arrive by value with the launch.
#include "common.cuh"

#include <cstdint>

#include "advprop/image.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

template <typename T>
__global__ void normalize_kernel(const uint8_t* x, T* out, int64_t n, ImageNorm p) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int c = static_cast<int>(i % p.channels);
    out[i] = normalize_pixel<T>(x[i], p.scale[c], p.shift[c]);
  }
}

template <typename T>
void typed(const Tensor& xt, const ImageNorm& p, Tensor& outt) {
  const int64_t n = outt.numel();
  ADVPROP_LAUNCH(normalize_kernel<T>, grid_for(n, kThreads), kThreads, 0, stream_of(outt))(
      xt.data_as<uint8_t>(), outt.data_as<T>(), n, p);
}

}  // namespace

void normalize_image(const Tensor& x, const ImageNorm& p, Tensor& out) {
  assert_image_norm(x, p, out);
  dispatch_dtype<TypeList<float, bf16, f16>>(out.dtype(), "normalizeImage", [&](auto t) { typed<decltype(t)>(x, p, out); });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
