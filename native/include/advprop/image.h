// normalize_image: a batch of 8-bit NHWC images, uploaded as it came from the loader's workers,
// turned into the model's float input on its device (DESIGN.md, "Input pipeline"). Not
// differentiable: its input is data.
//
// Per element, with c the channel (the last axis):
//   u   = f32(v) / 255                        one f32 division, correctly rounded
//   out = T((u * scale[c]) + shift[c])        product and sum each rounded to f32 (no FMA),
//                                             then one rounding to T (bf16/f16; none for f32)
// with scale[c] = f32(1 / std[c]) and shift[c] = f32(-mean[c] / std[c]) formed in double on the
// host. This is the arithmetic of the JavaScript path it replaces, bit for bit in f32: the
// loader's byte / 255 (a double quotient rounded to f32, which equals the f32 quotient: double
// rounding is innocuous for a division of f32 values) followed by the model's x · (1/std) +
// (−mean/std) as mul then add (lib/models/efficientnet.ts). mean 0 and std 1 give u itself
// (u · 1 + −0 = u), the [0, 1] images the model and the attacks take.
#pragma once
#include <cstdint>
#include <vector>

#include "advprop/error.h"
#include "advprop/half.h"
#include "advprop/hostdevice.h"
#include "advprop/round_ops.h"
#include "advprop/tensor.h"

namespace advprop {

// Channels an image may have: the per-channel constants travel by value in the launch, so no
// upload (and no wait for one) precedes the kernel. Images have 1, 3 or 4.
constexpr int kMaxImageChannels = 64;

struct ImageNorm {
  int channels = 0;
  float scale[kMaxImageChannels] = {};
  float shift[kMaxImageChannels] = {};
};

template <typename T>
ADVPROP_HD T normalize_pixel(uint8_t v, float scale, float shift) {
  const float u = div_rn(static_cast<float>(v), 255.0f);
  return from_accum<T>(add_rn(mul_rn(u, scale), shift));
}

// What every backend indexes by: u8 in, a float out of the same element count, whole pixels.
inline void assert_image_norm(const Tensor& x, const ImageNorm& p, const Tensor& out) {
  ADVPROP_ASSERT(x.dtype() == DType::u8 && x.numel() == out.numel() && p.channels >= 1 &&
                 p.channels <= kMaxImageChannels && out.numel() % p.channels == 0);
}

#define ADVPROP_IMAGE_KERNELS void normalize_image(const Tensor& x, const ImageNorm& p, Tensor& out);

namespace cpu { ADVPROP_IMAGE_KERNELS }
namespace cuda { ADVPROP_IMAGE_KERNELS }
namespace cudasim { ADVPROP_IMAGE_KERNELS }

namespace ops {
// Checked front-end ("normalizeImage"): x u8, contiguous, NHWC [N, H, W, C] on a usable device;
// mean and std C finite values each, std non-zero; dtype f32, bf16 or f16. A new tensor of x's
// shape in `dtype` on x's device.
Tensor normalize_image(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std, DType dtype);
}  // namespace ops

}  // namespace advprop
