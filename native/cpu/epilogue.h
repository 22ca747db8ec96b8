// The cpu side of the inference epilogue (advprop/epilogue.h): applied by gemm.cc to each tile of
// C once its last k block is summed (the tile is still in cache), and by depthwise.cc to each
// output row as it is finished.
#pragma once
#include <cstdint>

#include "advprop/epilogue.h"

namespace advprop {
namespace cpu {

// c[i * ldc + j] = epilogue_value(c[i * ldc + j]) at output row row0 + i, channel col0 + j, for
// i < rows, j < cols.
void apply_epilogue_rows(const EpilogueView<float>& e, float* c, int64_t ldc, int64_t row0, int64_t rows, int64_t col0,
                         int64_t cols);
void apply_epilogue_rows(const EpilogueView<double>& e, double* c, int64_t ldc, int64_t row0, int64_t rows,
                         int64_t col0, int64_t cols);

}  // namespace cpu
}  // namespace advprop
