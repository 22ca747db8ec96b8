// Dropout and drop-connect. One kernel serves both and their backward: out = x * keep * scale,
// with scale = (T)(1 / (1 - rate)) and keep drawn from Philox (philox.h) keyed by (seed, offset):
//   per element (dropout):      keep_i = philox_uniform_element(seed, offset, i) <= 1 - rate;
//   per sample (drop-connect):  keep_i = philox_uniform_element(seed, offset, i / D) <= 1 - rate,
//                               D = numel / dim 0.
// A dropped element is 0 (also when x is NaN or inf). The mask is never stored: the backward
// calls the same kernel on dy with the same key, which regenerates it, so dx = dy * keep * scale.
#pragma once
#include <cstdint>

#include "advprop/tensor.h"

namespace advprop {

#define ADVPROP_DROPOUT_KERNELS \
  void dropout(const Tensor& x, double rate, bool per_sample, uint64_t seed, uint64_t offset, Tensor& out);

namespace cpu { ADVPROP_DROPOUT_KERNELS }
namespace cuda { ADVPROP_DROPOUT_KERNELS }
namespace cudasim { ADVPROP_DROPOUT_KERNELS }

namespace ops {
// Checked front-end: x float, contiguous, rank >= 1 when per_sample; 0 <= rate < 1. A new tensor
// (rate 0 copies; the TypeScript layer returns x itself instead of calling it).
Tensor dropout(const Tensor& x, double rate, bool per_sample, uint64_t seed, uint64_t offset);
}  // namespace ops

}  // namespace advprop
