// The cpu GEMM for low-precision inputs with f32 accumulation (gemm_tc.cc), the twin of the
// tensor-core kernels (native/cuda/gemm_tc.cu, same signature): bf16 and f16
// tensors, and f32 tensors in tf32 math (GemmArgs::tf32). cpu::gemm (gemm.cc) hands these to it;
// the contract is advprop/gemm.h's.
#pragma once
#include "advprop/gemm.h"

namespace advprop {
namespace cpu {

void gemm_tc(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c);

// Test hooks, not in a public header (gemm_tc.cc says what each changes; none changes a bit of
// a result on data whose products and partial sums stay clear of f32's subnormal range).
// Path for bf16: 0 automatic (AVX512-BF16 where the CPU has it), 1 portable, 2 AVX512-BF16;
// false, changing nothing, when this CPU or build lacks it.
bool set_gemm_tc_path(int path);
// The portable path's ISA level (simd.h: 1 baseline, 2 AVX2, 3 AVX-512, 0 best); false when absent.
bool set_gemm_tc_isa(int level);

}  // namespace cpu
}  // namespace advprop
