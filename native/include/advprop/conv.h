// Convolution kernels (NHWC activations, OHWI weights [Cout, KH, KW, Cin/groups]). Dense and
// grouped convolutions run as an implicit GEMM: im2col gathers each group's input patches into
// a [N*OH*OW, KH*KW*Cg] matrix that gemm.h multiplies with the weights; col2im is its adjoint
// (the input gradient). Depthwise convolutions (groups == Cin == Cout) have their own kernels.
// The op front-end (native/ops/conv.cc) fills Conv2dParams, including the TF "same" padding
// (out = ceil(in / stride), the odd pixel at the bottom/right).
#pragma once
#include <cstdint>
#include <string>

#include "advprop/tensor.h"

namespace advprop {
struct Epilogue;
}

namespace advprop {

struct Conv2dParams {
  int64_t n = 0, h = 0, w = 0, c_in = 0, c_out = 0;
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dil_h = 1, dil_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // bottom/right padding is implied by out_h/out_w
  int64_t groups = 1;
  int64_t out_h = 0, out_w = 0;
};

// im2col: cols[(n*OH + oh)*OW + ow, (ky*KW + kx)*Cg + c] = x[n, oh*sh - pt + ky*dh, ow*sw - pl + kx*dw,
//         group*Cg + c], or 0 where that pixel is padding. Cg = c_in / groups. cols is contiguous.
// col2im: dx[n, ih, iw, group*Cg + c] = sum of every cols entry that im2col would have read from
//         that pixel; it writes every element of the group's channels of dx (no accumulation
//         into old contents), summing in a fixed order (a gather, not atomics).
// depthwise_forward: y[n, oh, ow, c] = sum_{ky,kx} x[...] * w[c, ky, kx, 0] (+ bias[c] if
//         bias is non-null); requires groups == c_in == c_out.
//         The overload with epi (f32 and f64 only; may be null): the inference epilogue (advprop/epilogue.h) on each
//         output element after the bias.
// depthwise_backward_input: dx = the adjoint of depthwise_forward in x (gather, deterministic).
// depthwise_backward_weight: dw[c, ky, kx, 0] = sum over n, oh, ow of dy * x (fixed-order
//         reduction, no float atomics).
// conv2d_gemm_forward: y[n, oh, ow, :] = row (n, oh, ow) of im2col(x) times w [Cout, KH, KW, Cin]
//         transposed, then the epilogue if any (f32 and f64, groups 1; may be null), with the bits
//         of im2col + gemm over the whole batch (x first taken through epi->in_affine if set, as
//         binary mul then add). The cpu gathers the rows a tile at a time into the GEMM instead
//         of writing the column matrix out.
// bf16 and f16: every tensor of a call in the one 16-bit type (the weights too, as autocast casts
// them); col2im and the depthwise kernels sum in f32 (Accum<T>) and round each output once.
#define ADVPROP_CONV_KERNELS                                                                          \
  void im2col(const Conv2dParams& p, const Tensor& x, int64_t group, Tensor& cols);                   \
  void col2im(const Conv2dParams& p, const Tensor& cols, int64_t group, Tensor& dx);                  \
  void depthwise_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias,  \
                         Tensor& y);                                                                  \
  void depthwise_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias,  \
                         Tensor& y, const Epilogue* epi);                                             \
  void depthwise_backward_input(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx); \
  void depthwise_backward_weight(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw); \
  void conv2d_gemm_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, Tensor& y,        \
                           const Epilogue* epi);

// "n=2 h=9 w=7 c_in=3 k=3x3 ...", for error messages.
std::string conv_params_str(const Conv2dParams& p);
inline Shape conv_x_shape(const Conv2dParams& p) { return {p.n, p.h, p.w, p.c_in}; }
inline Shape conv_y_shape(const Conv2dParams& p) { return {p.n, p.out_h, p.out_w, p.c_out}; }
inline Shape depthwise_w_shape(const Conv2dParams& p) { return {p.c_in, p.kh, p.kw, 1}; }

// The kernels above are backend-internal: the convolution front-ends (native/ops/conv.cc) build
// their arguments from checked input. Each has one validator (native/ops/kernel_args.cc) that
// throws advprop::Error naming `op` and the argument; tests that enter a kernel directly run it,
// and the backends assert it (`passes`, advprop/invariants.h).
// im2col/col2im: sane params with groups dividing c_in, group in [0, groups), the image
// [n, h, w, c_in] f32, f64, bf16 or f16 and cols [n*out_h*out_w, kh*kw*Cg] of its dtype, both contiguous,
// on one device of type `type`, not overlapping.
void check_im2col_args(const char* op, const Conv2dParams& p, const Tensor& img, const Tensor& cols,
                       int64_t group, DeviceType type);
// Depthwise: sane params with groups == c_in == c_out, the output f32, f64, bf16 or f16, then every tensor
// of its dtype and shape, on one device of type `type`, contiguous.
void check_depthwise_forward(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& x, const Tensor& w,
                             const Tensor* bias, const Tensor& y, const Epilogue* epi = nullptr);
// conv2d_gemm_forward: sane params with groups 1; x, w and y f32 or f64 of one dtype, their
// shapes, contiguous, on one device of type `type`, y overlapping neither input; an epilogue as
// check_epilogue, without an input scale, with an input affine [2, Cin] if any.
void check_conv2d_gemm_forward(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& x, const Tensor& w,
                               const Tensor& y, const Epilogue* epi = nullptr);
void check_depthwise_backward_input(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& dy,
                                    const Tensor& w, const Tensor& dx);
void check_depthwise_backward_weight(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& x,
                                     const Tensor& dy, const Tensor& dw);

namespace cpu { ADVPROP_CONV_KERNELS }
namespace cuda { ADVPROP_CONV_KERNELS }
namespace cudasim { ADVPROP_CONV_KERNELS }

}  // namespace advprop
