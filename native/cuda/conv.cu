// im2col / col2im for cuda and cuda-sim (contract: advprop/conv.h; reference: native/cpu/conv.cc).
// Both kernels are 1-D grid-stride loops with 64-bit indices over output elements, channel
// fastest, so neighbouring threads read and write neighbouring addresses. col2im is a gather:
// each thread owns one element of the group's slice of dx and sums the cols entries that read
// it in ascending (ky, kx) order starting from zero, the CPU's order, so the bits match the CPU
// and no atomics are needed.
#include "common.cuh"

#include <cstdint>
#include <string>

#include "advprop/conv.h"
#include "advprop/error.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

#if defined(ADVPROP_SIM)
constexpr DeviceType kDeviceType = DeviceType::cuda_sim;
#else
constexpr DeviceType kDeviceType = DeviceType::cuda;
#endif

// The geometry the kernels need, passed by value.
struct ConvGeom {
  int64_t n, h, w, c_in, cg, c_off;
  int64_t kh, kw, sh, sw, dh, dw, pt, pl, oh, ow;
};

template <typename T>
__global__ void im2col_kernel(const T* x, T* cols, ConvGeom g, int64_t total) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t c = i % g.cg;
    int64_t t = i / g.cg;
    const int64_t kx = t % g.kw;
    t /= g.kw;
    const int64_t ky = t % g.kh;
    t /= g.kh;
    const int64_t ow = t % g.ow;
    t /= g.ow;
    const int64_t oh = t % g.oh;
    const int64_t n = t / g.oh;
    const int64_t ih = oh * g.sh - g.pt + ky * g.dh;
    const int64_t iw = ow * g.sw - g.pl + kx * g.dw;
    T v = T(0);
    if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) v = x[((n * g.h + ih) * g.w + iw) * g.c_in + g.c_off + c];
    cols[i] = v;
  }
}

template <typename T>
__global__ void col2im_kernel(const T* cols, T* dx, ConvGeom g, int64_t total) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t row_len = g.kh * g.kw * g.cg;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t c = i % g.cg;
    const int64_t px = i / g.cg;
    const int64_t iw = px % g.w;
    const int64_t ih = (px / g.w) % g.h;
    const int64_t n = px / (g.w * g.h);
    T acc = T(0);
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
        acc += cols[((n * g.oh + oh) * g.ow + ow) * row_len + (ky * g.kw + kx) * g.cg + c];
      }
    }
    dx[px * g.c_in + g.c_off + c] = acc;
  }
}

std::string params_str(const Conv2dParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "n=" + s(p.n) + " h=" + s(p.h) + " w=" + s(p.w) + " c_in=" + s(p.c_in) + " k=" + s(p.kh) + "x" + s(p.kw) +
         " stride=" + s(p.stride_h) + "x" + s(p.stride_w) + " dil=" + s(p.dil_h) + "x" + s(p.dil_w) +
         " pad=" + s(p.pad_top) + "," + s(p.pad_left) + " groups=" + s(p.groups) + " out=" + s(p.out_h) + "x" +
         s(p.out_w);
}

// Same checks as the CPU's: dtypes, device, params, the image [n, h, w, c_in] and cols
// [n*out_h*out_w, kh*kw*Cg] shapes.
void check_args(const char* op, const Conv2dParams& p, const Tensor& img, const Tensor& cols, int64_t group) {
  if (img.dtype() != cols.dtype())
    fail(ErrorCode::DType, std::string(op) + ": dtypes differ (" + dtype_name(img.dtype()) + " image, " +
                               dtype_name(cols.dtype()) + " cols)");
  if (img.dtype() != DType::f32 && img.dtype() != DType::f64)
    fail(ErrorCode::DType, std::string(op) + ": dtype " + dtype_name(img.dtype()) + " is not supported (f32, f64)");
  if (img.device().type != kDeviceType || cols.device() != img.device())
    fail(ErrorCode::Device, std::string(op) + ": tensors must be on one " +
                                (kDeviceType == DeviceType::cuda ? "cuda" : "cuda-sim") + " device (image " +
                                device_str(img.device()) + ", cols " + device_str(cols.device()) + ")");
  if (p.n < 0 || p.h < 0 || p.w < 0 || p.c_in < 0 || p.kh < 1 || p.kw < 1 || p.stride_h < 1 || p.stride_w < 1 ||
      p.dil_h < 1 || p.dil_w < 1 || p.out_h < 0 || p.out_w < 0 || p.groups < 1 || p.c_in % p.groups != 0)
    fail(ErrorCode::Shape, std::string(op) + ": invalid parameters (" + params_str(p) + ")");
  if (group < 0 || group >= p.groups)
    fail(ErrorCode::Shape, std::string(op) + ": group " + std::to_string(group) + " is out of range (" +
                               params_str(p) + ")");
  const int64_t cg = p.c_in / p.groups;
  const Shape want_img{p.n, p.h, p.w, p.c_in};
  const Shape want_cols{p.n * p.out_h * p.out_w, p.kh * p.kw * cg};
  if (img.shape() != want_img)
    fail(ErrorCode::Shape, std::string(op) + ": image is " + shape_str(img.shape()) + ", expected " +
                               shape_str(want_img) + " (" + params_str(p) + ")");
  if (cols.shape() != want_cols)
    fail(ErrorCode::Shape, std::string(op) + ": cols is " + shape_str(cols.shape()) + ", expected " +
                               shape_str(want_cols) + " (" + params_str(p) + ")");
  if (!img.is_contiguous() || !cols.is_contiguous())
    fail(ErrorCode::Arg, std::string(op) + ": tensors must be contiguous");
}

ConvGeom geom(const Conv2dParams& p, int64_t group) {
  const int64_t cg = p.c_in / p.groups;
  return ConvGeom{p.n,        p.h,        p.w,     p.c_in,     cg,       group * cg, p.kh,    p.kw,
                  p.stride_h, p.stride_w, p.dil_h, p.dil_w,    p.pad_top, p.pad_left, p.out_h, p.out_w};
}

}  // namespace

void im2col(const Conv2dParams& p, const Tensor& x, int64_t group, Tensor& cols) {
  check_args("im2col", p, x, cols, group);
  const int64_t total = cols.numel();
  if (total == 0) return;
  const ConvGeom g = geom(p, group);
  cudaStream_t s = stream_of(cols);
  if (x.dtype() == DType::f32)
    ADVPROP_LAUNCH(im2col_kernel<float>, grid_for(total, kThreads), kThreads, 0, s)(
        x.data_as<const float>(), cols.data_as<float>(), g, total);
  else
    ADVPROP_LAUNCH(im2col_kernel<double>, grid_for(total, kThreads), kThreads, 0, s)(
        x.data_as<const double>(), cols.data_as<double>(), g, total);
}

void col2im(const Conv2dParams& p, const Tensor& cols, int64_t group, Tensor& dx) {
  check_args("col2im", p, dx, cols, group);
  if (dx.numel() > 0 && cols.numel() > 0) {
    const char* a = static_cast<const char*>(dx.data());
    const char* b = static_cast<const char*>(cols.data());
    if (a < b + cols.nbytes() && b < a + dx.nbytes()) fail(ErrorCode::Arg, "col2im: dx must not overlap cols");
  }
  const ConvGeom g = geom(p, group);
  const int64_t total = p.n * p.h * p.w * g.cg;
  if (total == 0) return;
  cudaStream_t s = stream_of(dx);
  if (dx.dtype() == DType::f32)
    ADVPROP_LAUNCH(col2im_kernel<float>, grid_for(total, kThreads), kThreads, 0, s)(
        cols.data_as<const float>(), dx.data_as<float>(), g, total);
  else
    ADVPROP_LAUNCH(col2im_kernel<double>, grid_for(total, kThreads), kThreads, 0, s)(
        cols.data_as<const double>(), dx.data_as<double>(), g, total);
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
