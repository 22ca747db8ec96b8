// The cpu GEMM with A produced a tile of rows at a time instead of read from memory: the implicit
// GEMM of a convolution (conv2d_gemm_forward, cpu/conv.cc), whose A is the column matrix of
// im2col. Each tile's rows are gathered into a buffer of the tile's size as the tile starts, so
// the batch's column matrix (the B0 stem's: 10.8 MB at batch 8) is never written out to memory
// and read back.
#pragma once
#include <cstdint>

#include "advprop/epilogue.h"
#include "advprop/gemm.h"
#include "advprop/tensor.h"

namespace advprop {
namespace cpu {

template <typename T>
struct GemmRows {
  // Writes rows [row0, row0 + rows) of A, k elements each, to dst with row stride k.
  void (*fill)(const void* ctx, int64_t row0, int64_t rows, T* dst) = nullptr;
  const void* ctx = nullptr;
};

// C = A · op(B), then the epilogue if any (gemm.h): g.trans_a false, g.lda == g.k, f32 or f64
// without tf32, no input scale. The same blocking and micro-kernel as gemm(), so C has gemm()'s
// bits for the materialised A; where gemm() splits k (at most four tiles, a long k) A is gathered
// whole first and split the same way.
void gemm_rows(const GemmArgs& g, const GemmRows<float>& a, const Tensor& b, Tensor& c, const Epilogue* epi);
void gemm_rows(const GemmArgs& g, const GemmRows<double>& a, const Tensor& b, Tensor& c, const Epilogue* epi);

}  // namespace cpu
}  // namespace advprop
