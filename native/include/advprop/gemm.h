// Dense matrix multiply, the core of 1x1 convolutions, linear layers and (through an implicit
// im2col) the other convolutions. Row-major: C[m, n] = alpha * sum_k op(A)[m, k] * op(B)[k, n]
// + beta * C[m, n], with op(A) = A ([m, k], leading dim lda) or A^T (A stored [k, m]); same for B.
// beta == 0 means C is write-only (its old contents, even NaN, are ignored). Every backend sums
// over k in the order fixed by the shapes alone, so results are deterministic.
#pragma once
#include <cstdint>

#include "advprop/tensor.h"

namespace advprop {

struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;  // elements between consecutive rows of the stored matrices
  double alpha = 1.0, beta = 0.0;
};

// a, b, c: contiguous, same dtype (f32 or f64) and device, large enough for the described
// matrices, c distinct from a and b. gemm is backend-internal: the front-ends (native/ops/linear.cc,
// conv.cc) build its arguments from checked shapes, and the backends assert check_gemm_args.
#define ADVPROP_GEMM_KERNELS \
  void gemm(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c);

// The one validator of a gemm call (native/ops/kernel_args.cc), for a device of type `type`:
// ERR_DTYPE, ERR_DEVICE, ERR_ARG (contiguity, c overlapping a or b) or ERR_SHAPE (a negative size,
// a matrix that does not fit its tensor), the message naming the sizes.
void check_gemm_args(const GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor& c, DeviceType type);

namespace cpu { ADVPROP_GEMM_KERNELS }
namespace cuda { ADVPROP_GEMM_KERNELS }
namespace cudasim { ADVPROP_GEMM_KERNELS }

}  // namespace advprop
