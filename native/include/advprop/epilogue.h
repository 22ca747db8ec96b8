// The inference epilogue: a batch norm in eval mode (running statistics of one domain), its
// activation and a residual add, applied to a convolution's output as it is written, instead of
// by separate passes over memory. Per output channel j (the last NHWC axis, column j of the GEMM):
//   y = act((acc - mean[j]) * scale[j] + shift[j]) (+ residual)
// with mean = running_mean[d], scale = gamma[d] * invstd (invstd = 1 / sqrt(running_var[d] + eps)
// in f64, rounded once) and shift = beta[d]: the same operations in the same order as the batch
// norm kernel of the same backend (multi_batch_norm_forward in eval mode, then binary add), so the
// fused result has the same bits as the plain one on that backend.
// Only f32 and f64 GEMMs (no tf32) and depthwise kernels take it; the front-end
// (ops::conv2d_bn_eval, native/ops/conv_bn.cc) runs the plain ops otherwise.
#pragma once
#include <cstdint>

#include "advprop/batchnorm.h"
#include "advprop/hostdevice.h"
#include "advprop/ops.h"
#include "advprop/pointwise.h"
#include "advprop/tensor.h"

namespace advprop {

// What a kernel entry receives. affine: [3, C] rows mean, scale, shift (bn_eval_affine below), of
// the output's dtype and device. residual (may be null): a tensor laid out exactly as the
// kernel's output (the same leading dimension), added last.
struct Epilogue {
  const Tensor* affine = nullptr;
  BnAct act = BnAct::none;
  const Tensor* residual = nullptr;
  // gemm only, op(A) = A not transposed (a pointwise convolution): squeeze-excite's gate [N, K],
  // op(A)[i, p] read as A[i, p] * in_scale[i / in_scale_rows, p] (in_scale_rows = H*W pixels per
  // image), rounded as channel_scale_forward rounds it, so the product sees the same operands.
  const Tensor* in_scale = nullptr;
  int64_t in_scale_rows = 0;
  // conv2d_gemm_forward only (conv.h): [2, Cin] of x's dtype, x's channel c read as
  // x * in_affine[0, c] + in_affine[1, c], two roundings (binary mul then add), padding still 0:
  // the model's input normalisation taken by the stem as it gathers its input.
  const Tensor* in_affine = nullptr;
  // Optional, [N, C] of the output's dtype: the global average pool of the output (after the
  // epilogue), with global_avg_pool_forward's bits. A backend that fills it while the rows are in
  // cache sets *pool_done; the op pools the output itself otherwise (ops::conv2d_bn_eval).
  Tensor* pool = nullptr;
  bool* pool_done = nullptr;
};

// The raw pointers a kernel reads, passed by value into device code. res is aligned with the
// output's first element and rows ldr apart.
template <typename T>
struct EpilogueView {
  const T* mean = nullptr;
  const T* scale = nullptr;
  const T* shift = nullptr;
  const T* res = nullptr;
  int64_t ldr = 0;
  BnAct act = BnAct::none;
  const T* in_scale = nullptr;  // [images, k], rows in_rows apart in op(A)
  int64_t in_rows = 1;
};

template <typename T>
EpilogueView<T> epilogue_view(const Epilogue* e, int64_t channels, int64_t ldr) {
  EpilogueView<T> v;
  if (!e) return v;
  const T* a = e->affine->data_as<const T>();
  v.mean = a, v.scale = a + channels, v.shift = a + 2 * channels;
  v.act = e->act;
  if (e->residual) v.res = e->residual->data_as<const T>(), v.ldr = ldr;
  if (e->in_scale) v.in_scale = e->in_scale->data_as<const T>(), v.in_rows = e->in_scale_rows;
  return v;
}

// One output element: acc at (row, col) of the output. M: the backend's batch-norm math policy.
template <typename M, typename T>
ADVPROP_HD T epilogue_value(const EpilogueView<T>& e, T acc, int64_t row, int64_t col) {
  T z = bn_act_forward<M>(e.act, (acc - e.mean[col]) * e.scale[col] + e.shift[col]);
  if (e.res) z = z + e.res[row * e.ldr + col];
  return z;
}

// bn_eval_affine: out [3, C] = running_mean[d], gamma[d] * (1 / sqrt(running_var[d] + eps)),
// beta[d] for d = domain; gamma, beta, running_mean, running_var [K, C], all of out's dtype
// (f32 or f64) and device, contiguous (the front-end checks them).
#define ADVPROP_EPILOGUE_KERNELS                                                                        \
  void bn_eval_affine(const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,             \
                      const Tensor& running_var, int64_t domain, double eps, Tensor& out);

// The validator of an epilogue for an output of `channels` channels written as `rows` rows `ld`
// apart (native/ops/kernel_args.cc): f32 or f64 of the output's dtype and device, affine [3, C]
// contiguous, a residual contiguous and holding rows x ld elements. in_scale is checked by gemm's
// validator (it knows k) and refused by the depthwise one. Throws advprop::Error naming op.
void check_epilogue(const char* op, const Epilogue& e, const Tensor& out, int64_t rows, int64_t channels, int64_t ld);

namespace ops {
// The inference forward of a convolution (no bias) followed by a batch norm in eval mode with
// domain `domain`'s running statistics [K, Cout], its activation, and optionally + residual
// (shaped as the output): act(bn_eval(conv2d(x, w))) (+ residual). f32 and f64 without tf32, one
// group or depthwise: one pass, the batch norm in the convolution's epilogue (advprop/epilogue.h),
// with the bits of the three ops run one after another on the same backend; otherwise those ops.
// No gradient: the lib takes this path only where nothing records (lib/nn/fused.ts).
// x_scale (may be null): squeeze-excite's gate [N, Cin], x * x_scale (channel_scale) taken as the
// input; a pointwise convolution reads it through the GEMM (Epilogue::in_scale) instead of a pass.
// pooled (may be null): set to global_avg_pool(y), the same bits, computed while the output's rows
// are in cache where the kernel can (cpu, f32 depthwise with enough images for every thread).
// x_affine (may be null, not with x_scale): [2, Cin], the input taken as x * x_affine[0] +
// x_affine[1] per channel (binary mul then add, their bits): a model's input normalisation. The
// implicit GEMM applies it as it gathers x (Epilogue::in_affine); other paths run those two ops.
Tensor conv2d_bn_eval(const Tensor& x, const Tensor& w, const Tensor& gamma, const Tensor& beta,
                      const Tensor& running_mean, const Tensor& running_var, int64_t domain, double eps, BnAct act,
                      const Tensor* residual, const Conv2dOptions& o, const Tensor* x_scale = nullptr,
                      Tensor* pooled = nullptr, const Tensor* x_affine = nullptr);
}  // namespace ops

namespace cpu { ADVPROP_EPILOGUE_KERNELS }
namespace cuda { ADVPROP_EPILOGUE_KERNELS }
namespace cudasim { ADVPROP_EPILOGUE_KERNELS }

}  // namespace advprop
