// The tensor-core GEMM (gemm_tc.cu), which gemm() in gemm.cu hands bf16, f16 and tf32 products
// to. Internal to native/cuda; the contract is advprop/gemm.h's.
#pragma once
#include "common.cuh"

#include "advprop/gemm.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {

// Whether device `index` has the sm_80 instructions the kernels use (compute capability 8.0 or
// newer; always on cuda-sim). Asked once per device, then cached.
bool gemm_tc_usable(int device);

// C = alpha * op(A) op(B) + beta * C for bf16 or f16 tensors, or f32 tensors with g.tf32, on a
// device where gemm_tc_usable; arguments already checked (check_gemm_args), m and n non-zero.
void gemm_tc(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c);

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
