// CPU im2col / col2im (conv.h). Both are pure data movement plus, for col2im, a fixed-order sum,
// so results do not depend on the thread count.
//
// im2col: one parallel chunk of output rows (n, oh, ow); each row is KH*KW runs of Cg contiguous
// channels, copied with memcpy from the NHWC input or zeroed where the tap falls in the padding.
// col2im: one parallel chunk of input pixels (n, ih, iw); each pixel's Cg channels of the group
// are the sum, in ascending (ky, kx) order starting from zero, of the cols runs that read it: a
// gather, so every element of the group's slice of dx is written exactly once and no two threads
// touch the same element. The cuda/cuda-sim kernels sum in the same order and match bit for bit.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "advprop/conv.h"
#include "advprop/error.h"
#include "advprop/parallel.h"

namespace advprop {
namespace cpu {
namespace {

template <typename T>
void im2col_typed(const Conv2dParams& p, const T* x, int64_t group, T* cols) {
  const int64_t cg = p.c_in / p.groups;
  const int64_t rows = p.n * p.out_h * p.out_w;
  const int64_t row_len = p.kh * p.kw * cg;
  if (rows == 0 || row_len == 0) return;
  const int64_t grain = std::max<int64_t>(1, 16384 / row_len);
  parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t ow = r % p.out_w;
      const int64_t oh = (r / p.out_w) % p.out_h;
      const int64_t n = r / (p.out_w * p.out_h);
      T* dst = cols + r * row_len;
      const T* xn = x + n * p.h * p.w * p.c_in + group * cg;
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
        const bool row_ok = ih >= 0 && ih < p.h;
        for (int64_t kx = 0; kx < p.kw; ++kx, dst += cg) {
          const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
          if (row_ok && iw >= 0 && iw < p.w)
            std::memcpy(dst, xn + (ih * p.w + iw) * p.c_in, static_cast<size_t>(cg) * sizeof(T));
          else
            std::fill(dst, dst + cg, T(0));
        }
      }
    }
  });
}

// The output positions o in [0, out) with o*stride - pad + k*dil == i, for k ascending: o exists
// when t = i + pad - k*dil is >= 0, divisible by stride, and t/stride < out.
template <typename T>
void col2im_typed(const Conv2dParams& p, const T* cols, int64_t group, T* dx) {
  const int64_t cg = p.c_in / p.groups;
  const int64_t pixels = p.n * p.h * p.w;
  const int64_t row_len = p.kh * p.kw * cg;
  if (pixels == 0 || cg == 0) return;
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, row_len));
  parallel_for(0, pixels, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t px = lo; px < hi; ++px) {
      const int64_t iw = px % p.w;
      const int64_t ih = (px / p.w) % p.h;
      const int64_t n = px / (p.w * p.h);
      T* out = dx + px * p.c_in + group * cg;
      for (int64_t c = 0; c < cg; ++c) out[c] = T(0);
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        const int64_t th = ih + p.pad_top - ky * p.dil_h;
        if (th < 0 || th % p.stride_h != 0) continue;
        const int64_t oh = th / p.stride_h;
        if (oh >= p.out_h) continue;
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          const int64_t tw = iw + p.pad_left - kx * p.dil_w;
          if (tw < 0 || tw % p.stride_w != 0) continue;
          const int64_t ow = tw / p.stride_w;
          if (ow >= p.out_w) continue;
          const T* src = cols + ((n * p.out_h + oh) * p.out_w + ow) * row_len + (ky * p.kw + kx) * cg;
          for (int64_t c = 0; c < cg; ++c) out[c] += src[c];
        }
      }
    }
  });
}

}  // namespace

void im2col(const Conv2dParams& p, const Tensor& x, int64_t group, Tensor& cols) {
  check_im2col_args("im2col", p, x, cols, group, DeviceType::cpu);
  if (x.dtype() == DType::f32) im2col_typed<float>(p, x.data_as<const float>(), group, cols.data_as<float>());
  else im2col_typed<double>(p, x.data_as<const double>(), group, cols.data_as<double>());
}

void col2im(const Conv2dParams& p, const Tensor& cols, int64_t group, Tensor& dx) {
  check_im2col_args("col2im", p, dx, cols, group, DeviceType::cpu);
  if (dx.numel() > 0 && cols.numel() > 0) {
    const char* a = static_cast<const char*>(dx.data());
    const char* b = static_cast<const char*>(cols.data());
    if (a < b + cols.nbytes() && b < a + dx.nbytes()) fail(ErrorCode::Arg, "col2im: dx must not overlap cols");
  }
  if (dx.dtype() == DType::f32) col2im_typed<float>(p, cols.data_as<const float>(), group, dx.data_as<float>());
  else col2im_typed<double>(p, cols.data_as<const double>(), group, dx.data_as<double>());
}

}  // namespace cpu
}  // namespace advprop
