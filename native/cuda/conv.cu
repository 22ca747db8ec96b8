// im2col / col2im and the implicit-GEMM forward for cuda and cuda-sim (contract: advprop/conv.h;
// reference: native/cpu/conv.cc).
// Both kernels are 1-D grid-stride loops with 64-bit indices over output elements, channel
// fastest, so neighbouring threads read and write neighbouring addresses. col2im is a gather:
// each thread owns one element of the group's slice of dx and sums the cols entries that read
// it in ascending (ky, kx) order starting from zero, the CPU's order, so the bits match the CPU
// and no atomics are needed. bf16 and f16: im2col copies the 16-bit values; col2im sums in f32
// (Accum<T>) in that order and rounds once, as the CPU does.
#include "common.cuh"

#include <cstdint>
#include <string>

#include "advprop/conv.h"
#include "advprop/elementwise.h"
#include "advprop/epilogue.h"
#include "advprop/error.h"
#include "advprop/gemm.h"
#include "advprop/invariants.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

// The geometry the kernels need, passed by value.
struct ConvGeom {
  int64_t n, h, w, c_in, cg, c_off;
  int64_t kh, kw, sh, sw, dh, dw, pt, pl, oh, ow;
};

template <typename T>
__global__ void im2col_kernel(const T* x, T* cols, ConvGeom g, int64_t total) {
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    int64_t n = i;
    const int64_t c = peel(n, g.cg), kx = peel(n, g.kw), ky = peel(n, g.kh), ow = peel(n, g.ow), oh = peel(n, g.oh);
    const int64_t ih = oh * g.sh - g.pt + ky * g.dh;
    const int64_t iw = ow * g.sw - g.pl + kx * g.dw;
    T v = T{};
    if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) v = x[((n * g.h + ih) * g.w + iw) * g.c_in + g.c_off + c];
    cols[i] = v;
  }
}

template <typename T, typename A = Accum<T>>
__global__ void col2im_kernel(const T* cols, T* dx, ConvGeom g, int64_t total) {
  const int64_t row_len = g.kh * g.kw * g.cg;
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    const int64_t c = i % g.cg;
    const int64_t px = i / g.cg;
    const int64_t iw = px % g.w;
    const int64_t ih = (px / g.w) % g.h;
    const int64_t n = px / (g.w * g.h);
    A acc = A(0);
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t th = ih + g.pt - ky * g.dh;
      if (th < 0 || th % g.sh != 0) continue;
      const int64_t oh = th / g.sh;
      if (oh >= g.oh) continue;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t tw = iw + g.pl - kx * g.dw;
        if (tw < 0 || tw % g.sw != 0) continue;
        const int64_t ow = tw / g.sw;
        if (ow >= g.ow) continue;
        acc += to_accum(cols[((n * g.oh + oh) * g.ow + ow) * row_len + (ky * g.kw + kx) * g.cg + c]);
      }
    }
    dx[px * g.c_in + g.c_off + c] = from_accum<T>(acc);
  }
}

ConvGeom geom(const Conv2dParams& p, int64_t group) {
  const int64_t cg = p.c_in / p.groups;
  return ConvGeom{p.n,        p.h,        p.w,     p.c_in,     cg,       group * cg, p.kh,    p.kw,
                  p.stride_h, p.stride_w, p.dil_h, p.dil_w,    p.pad_top, p.pad_left, p.out_h, p.out_w};
}

}  // namespace

void im2col(const Conv2dParams& p, const Tensor& x, int64_t group, Tensor& cols) {
  ADVPROP_ASSERT(passes(check_im2col_args, "im2col", p, x, cols, group, kDeviceType));
  const int64_t total = cols.numel();
  if (total == 0) return;
  const ConvGeom g = geom(p, group);
  cudaStream_t s = stream_of(cols);
  dispatch_dtype<MixedFloatTypes>(x.dtype(), "im2col", [&](auto t) {
    using T = decltype(t);
    ADVPROP_LAUNCH(im2col_kernel<T>, grid_for(total, kThreads), kThreads, 0, s)(x.data_as<const T>(), cols.data_as<T>(), g,
                                                                               total);
  });
}

// The implicit GEMM as its two steps, the batch's column matrix and then one product: the
// definition the cpu's tile-by-tile gather reproduces (a gather inside the GEMM's tiles is a cpu
// saving of memory traffic that the device has no measured need of).
void conv2d_gemm_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, Tensor& y, const Epilogue* epi) {
  ADVPROP_ASSERT(passes(check_conv2d_gemm_forward, "conv2d", p, kDeviceType, x, w, y, epi));
  GemmArgs g;
  g.trans_b = true;
  g.m = p.n * p.out_h * p.out_w, g.n = p.c_out, g.k = p.kh * p.kw * p.c_in;
  g.lda = g.k, g.ldb = g.k, g.ldc = p.c_out;
  Tensor cols = Tensor::empty({g.m, g.k}, x.dtype(), x.device());
  Epilogue out_side;  // the epilogue less the input affine, which is applied to x first
  if (epi) out_side = *epi, out_side.in_affine = nullptr;
  if (epi && epi->in_affine) {
    // The input affine as binary mul then add (their bits), rows of [2, Cin] broadcast per pixel.
    const Tensor scale = epi->in_affine->slice0(0, 1).reshape({p.c_in}), shift = epi->in_affine->slice0(1, 1).reshape({p.c_in});
    Tensor scaled = Tensor::empty(x.shape(), x.dtype(), x.device()), xs = Tensor::empty(x.shape(), x.dtype(), x.device());
    binary(BinaryOp::mul, x, scale, scaled);
    binary(BinaryOp::add, scaled, shift, xs);
    im2col(p, xs, 0, cols);
  } else {
    im2col(p, x, 0, cols);
  }
  gemm(g, cols, w, y, epi ? &out_side : nullptr);
}

void col2im(const Conv2dParams& p, const Tensor& cols, int64_t group, Tensor& dx) {
  ADVPROP_ASSERT(passes(check_im2col_args, "col2im", p, dx, cols, group, kDeviceType));
  const ConvGeom g = geom(p, group);
  const int64_t total = p.n * p.h * p.w * g.cg;
  if (total == 0) return;
  cudaStream_t s = stream_of(dx);
  dispatch_dtype<MixedFloatTypes>(dx.dtype(), "col2im", [&](auto t) {
    using T = decltype(t);
    ADVPROP_LAUNCH(col2im_kernel<T>, grid_for(total, kThreads), kThreads, 0, s)(cols.data_as<const T>(), dx.data_as<T>(), g,
                                                                               total);
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
