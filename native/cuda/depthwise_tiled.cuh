// Between the depthwise entry points (depthwise.cu) and the tiled kernels (depthwise_tiled_kernels.cuh).
// Each runs the call and returns true, or returns false, doing nothing, for a call it does not
// serve (depthwise_tiled_kernels.cuh's header says which); the caller then runs the generic kernels.
#pragma once
#include "advprop/conv.h"
#include "advprop/epilogue.h"
#include "advprop/tensor.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {

bool depthwise_tiled_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                             const Epilogue* epi);
bool depthwise_tiled_backward_input(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx);
bool depthwise_tiled_backward_weight(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw);

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
