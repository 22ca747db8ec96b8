// Philox fills. Element i of `out` takes the i-th number of the (seed, offset) stream defined in
// philox.h, so cpu, cuda and cuda-sim produce identical tensors for the same key.
#pragma once
#include <cstdint>

#include "advprop/tensor.h"

namespace advprop {

// uniform: lo + (hi - lo) * u, u in (0, 1].  normal: mean + std * z.  out is f32, f64, bf16 or
// f16: the value is formed in double and rounded once to out's type.
#define ADVPROP_RANDOM_KERNELS                                                          \
  void uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi);     \
  void normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double std);

namespace cpu { ADVPROP_RANDOM_KERNELS }
namespace cuda { ADVPROP_RANDOM_KERNELS }
namespace cudasim { ADVPROP_RANDOM_KERNELS }

}  // namespace advprop
