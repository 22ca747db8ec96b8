// The convolution front-end's entry for callers that have checked x and w already and may ask for
// the inference epilogue (conv_bn.cc): conv.cc's conv2d is conv2d_params + conv2d_checked.
#pragma once
#include "advprop/conv.h"
#include "advprop/epilogue.h"
#include "advprop/ops.h"

namespace advprop {
namespace ops {

// x and w checked as conv2d checks them; the params from their shapes and o.
Conv2dParams conv2d_params(const char* op, const Tensor& x, const Tensor& w, const Conv2dOptions& o);
// Whether conv2d runs p as one GEMM of x (1x1, stride 1, no padding, one group).
bool conv2d_is_pointwise(const Conv2dParams& p);
// Whether the kernels conv2d would pick for p take an epilogue for outputs of dtype dt: f32 or f64
// without tf32, and one group or a depthwise convolution.
bool conv2d_takes_epilogue(const Conv2dParams& p, DType dt);
// Whether conv2d runs p as the implicit GEMM (conv2d_gemm_forward): f32 or f64 without tf32, one
// group, neither 1x1 stride 1 nor depthwise. Only that path takes an input affine in its epilogue.
bool conv2d_is_implicit_gemm(const Conv2dParams& p, DType dt);
// conv2d for checked x, w and p; epi (needs conv2d_takes_epilogue and no bias b) on the output.
Tensor conv2d_checked(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p, const Epilogue* epi);

}  // namespace ops
}  // namespace advprop
