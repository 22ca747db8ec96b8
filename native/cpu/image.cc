// CPU normalize_image: the reference for advprop/image.h. Pixels are split over the pool; each
// element is the header's normalize_pixel, so the bits do not depend on the split.
// fp-contract=off: u * scale + shift must round twice, as the model's mul then add does.
#pragma GCC optimize("fp-contract=off")

#include <cstdint>

#include "advprop/dtype_dispatch.h"
#include "advprop/image.h"
#include "advprop/parallel.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

template <typename T>
void typed(const Tensor& xt, const ImageNorm& p, Tensor& outt) {
  const uint8_t* x = xt.data_as<uint8_t>();
  T* out = outt.data_as<T>();
  const int64_t c = p.channels, pixels = outt.numel() / c;
  parallel_for(0, pixels, kGrainCheap, [&](int64_t lo, int64_t hi) {
    for (int64_t px = lo; px < hi; ++px)
      for (int64_t k = 0; k < c; ++k) out[px * c + k] = normalize_pixel<T>(x[px * c + k], p.scale[k], p.shift[k]);
  });
}

}  // namespace

void normalize_image(const Tensor& x, const ImageNorm& p, Tensor& out) {
  assert_image_norm(x, p, out);
  dispatch_dtype<TypeList<float, bf16, f16>>(out.dtype(), "normalizeImage", [&](auto t) { typed<decltype(t)>(x, p, out); });
}

}  // namespace cpu
}  // namespace advprop
