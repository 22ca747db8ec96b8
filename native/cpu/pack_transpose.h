// Packing the rows of a row-major f32 matrix into GEMM micro-panels (gemm.cc pack_panels, for
// op(B) = W^T: a 1x1 convolution's or a linear layer's weights) with 16 x 16 transposes in
// AVX-512 registers, where the scalar loop wrote one float per store 64 or 128 bytes apart (the
// weights are packed at every call, so at small batches this was most of a forward's time).
// Data movement only: the panels hold the same values as the scalar loop's, so no result changes.
#pragma once
#include <cstdint>

namespace advprop {
namespace cpu {

// dst[ir / R][p][i] = src[(ir + i) * ld + p] for rows ir + i < rows (0 beyond, up to the panel's
// R rows) and p < kc; R a multiple of 16. Returns false, writing nothing, when this CPU or build
// has no AVX-512 (the caller then runs its scalar loop).
bool pack_rows_f32(const float* src, int64_t ld, int64_t rows, int64_t kc, int R, float* dst);

}  // namespace cpu
}  // namespace advprop
