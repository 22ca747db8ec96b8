// Dropout and drop-connect. One kernel serves both and their backward: out = x * keep * scale,
// with scale = (T)(1 / (1 - rate)) and keep drawn from Philox (philox.h) keyed by (seed, offset):
//   per element (dropout):      keep_i = philox_uniform_element(seed, offset, i) <= 1 - rate;
//   per sample (drop-connect):  keep_i = philox_uniform_element(seed, offset, i / D) <= 1 - rate,
//                               D = numel / dim 0.
// With a sample map (advprop/sample_map.h; data-parallel ranks) the index drawn for element i is
// map.element(i, D) and for sample s map.sample(s) instead, D = numel / dim 0 in both modes.
// A dropped element is 0 (also when x is NaN or inf). The mask is never stored: the backward
// calls the same kernel on dy with the same key, which regenerates it, so dx = dy * keep * scale.
// bf16 and f16: the same draws (the kept set does not depend on the dtype), scale an f32, the
// product (and the residual's sum) in f32, each rounded to T as the separate ops would store it.
//
// With a residual r (per sample only; the MBConv skip connection), the same pass adds it:
// out_i = keep_i ? (x_i * scale) + r_i : 0 + r_i, each operation rounded to T (no fused
// multiply-add), so out equals the drop-connect output plus r (elementwise add) bit for bit, a -0
// in r giving +0 as add does. A dropped sample's x is not read. This saves the forward two passes
// over the block output (a temporary written and read back).
#pragma once
#include <cstdint>

#include "advprop/error.h"
#include "advprop/sample_map.h"
#include "advprop/tensor.h"

namespace advprop {

// What the front-ends (native/ops/dropout.cc) hand a backend, made from the checked arguments.
struct DropoutPlan {
  double keep = 1;                   // 1 - rate, in (0, 1]
  int64_t sample = 0;                // per sample: its elements (numel / dim 0, >= 1); per element: 0
  uint64_t seed = 0, offset = 0;
  const Tensor* residual = nullptr;  // per sample only: x's shape, dtype and device
  SampleMap map;                     // identity unless the caller holds part of a global batch
  int64_t row = 0;                   // per element with a map: elements per sample (numel / dim 0)
};

// The invariants every backend indexes by: out, x and the residual of one dtype and size, a
// residual only per sample, and whole samples.
inline void assert_dropout_plan(const Tensor& x, const DropoutPlan& p, const Tensor& out) {
  ADVPROP_ASSERT(x.dtype() == out.dtype() && x.numel() == out.numel() && p.keep > 0 && p.keep <= 1);
  ADVPROP_ASSERT(p.sample > 0 ? out.numel() % p.sample == 0 : p.residual == nullptr);
  ADVPROP_ASSERT(!p.residual || (p.residual->dtype() == out.dtype() && p.residual->numel() == out.numel()));
  ADVPROP_ASSERT(p.map.identity() || p.sample > 0 || (p.row > 0 && out.numel() % p.row == 0));
}

#define ADVPROP_DROPOUT_KERNELS void dropout(const Tensor& x, const DropoutPlan& p, Tensor& out);

namespace cpu { ADVPROP_DROPOUT_KERNELS }
namespace cuda { ADVPROP_DROPOUT_KERNELS }
namespace cudasim { ADVPROP_DROPOUT_KERNELS }

namespace ops {
// Checked front-end: x float, contiguous, rank >= 1 when per_sample; 0 <= rate < 1. A new tensor
// (rate 0 copies; the TypeScript layer returns x itself instead of calling it).
// `map`: see advprop/sample_map.h (identity by default); a non-identity map needs rank >= 1.
Tensor dropout(const Tensor& x, double rate, bool per_sample, uint64_t seed, uint64_t offset,
               const SampleMap& map = {});

// Drop-connect of h plus residual in one pass ("dropConnectAdd"): h and residual float,
// contiguous, of one shape, dtype and device, rank >= 1; 0 <= rate < 1.
Tensor drop_connect_add(const Tensor& h, const Tensor& residual, double rate, uint64_t seed, uint64_t offset,
                        const SampleMap& map = {});
}  // namespace ops

}  // namespace advprop
