// Sums over any set of axes (mean = sum with scale 1/count). Deterministic on every backend:
// each output element is summed in an order fixed by the shapes alone (no float atomics).
#pragma once
#include <vector>

#include "advprop/error.h"
#include "advprop/hostdevice.h"
#include "advprop/tensor.h"

namespace advprop {

// A reduction with adjacent axes of the same kind merged. Output element o (row-major over the
// kept axes) is scale * sum over r in [0, reduce_count) of x[offset_of(o) + offset_of(r)].
struct ReducePlan {
  int n_kept = 0, n_red = 0;
  int64_t kept_size[kMaxDims], kept_stride[kMaxDims];
  int64_t red_size[kMaxDims], red_stride[kMaxDims];
  int64_t out_count = 1, reduce_count = 1;

  ADVPROP_HD int64_t kept_offset(int64_t o) const { return offset_of(o, n_kept, kept_size, kept_stride); }
  ADVPROP_HD int64_t red_offset(int64_t r) const { return offset_of(r, n_red, red_size, red_stride); }

  // The offset of flat index i (row-major) over n dims of the given sizes and strides.
  ADVPROP_HD static int64_t offset_of(int64_t i, int n, const int64_t* size, const int64_t* stride) {
    int64_t off = 0;
    for (int d = n - 1; d >= 0; --d) {
      off += (i % size[d]) * stride[d];
      i /= size[d];
    }
    return off;
  }
};

// `axes` are normalised (0 <= a < ndim), unique. Throws ERR_ARG otherwise. Made by the front-ends
// (native/ops/reduce.cc), which check the caller's input; the backends take the plan as given.
ReducePlan make_reduce_plan(const Shape& shape, const std::vector<int>& axes);

// What every backend's sum and sum_backward index by: `full` (x, or dx) holds the plan's
// out_count * reduce_count elements, `reduced` (out, or dy) its out_count, in one dtype.
inline void assert_plan_fits(const ReducePlan& p, const Tensor& full, const Tensor& reduced) {
  ADVPROP_ASSERT(full.dtype() == reduced.dtype() && reduced.numel() == p.out_count &&
                 full.numel() == p.out_count * p.reduce_count);
}

// sum: out (out_count elements, of x's dtype: f32, f64, bf16 or f16) = scale * sums described by
// plan, accumulated in double and rounded once to the dtype.
// sum_backward: the gradient of sum, dx[kept_offset(o) + red_offset(r)] = (T)(scale * dy[o]) for
// every o and r (dy has out_count elements, dx has x's shape; the plan covers dx exactly once).
#define ADVPROP_REDUCE_KERNELS                                                  \
  void sum(const Tensor& x, const ReducePlan& plan, double scale, Tensor& out); \
  void sum_backward(const Tensor& dy, const ReducePlan& plan, double scale, Tensor& dx);

namespace cpu { ADVPROP_REDUCE_KERNELS }
namespace cuda { ADVPROP_REDUCE_KERNELS }
namespace cudasim { ADVPROP_REDUCE_KERNELS }

}  // namespace advprop
