// Dense matrix multiply, the core of 1x1 convolutions, linear layers and (through an implicit
// im2col) the other convolutions. Row-major: C[m, n] = alpha * sum_k op(A)[m, k] * op(B)[k, n]
// + beta * C[m, n], with op(A) = A ([m, k], leading dim lda) or A^T (A stored [k, m]); same for B.
// beta == 0 means C is write-only (its old contents, even NaN, are ignored). Every backend sums
// over k in the order fixed by the shapes alone, so results are deterministic.
//
// Precision: f64 and f32 compute in their own type. bf16 and f16 (a, b and c all of that type)
// multiply exactly and accumulate in f32; C = alpha * acc + beta * C is formed in f32 (beta reads
// the old C widened) and rounded once, to nearest even, to the 16-bit type. `tf32` (f32 only)
// rounds the inputs to tf32 first (PTX cvt.rna.tf32.f32: 10 mantissa bits, ties away from zero)
// and accumulates in f32, as the tensor cores' tf32 mode does; on a GPU older than sm_80 the f32
// kernel runs instead (tf32 permits the rounding, it does not demand it). Where each backend runs
// which: cpu native/cpu/gemm.cc and gemm_half.cc, cuda and cuda-sim native/cuda/gemm.cu and
// gemm_tc.cu (tensor cores; bf16 and f16 need compute capability 8.0 or newer).
#pragma once
#include <cstdint>

#include "advprop/tensor.h"

namespace advprop {
struct Epilogue;
}

namespace advprop {

struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;  // elements between consecutive rows of the stored matrices
  double alpha = 1.0, beta = 0.0;
  bool tf32 = false;  // f32 operands: multiply in tf32 (see above)
  // B is a layer's weights, multiplied again at later calls (a linear layer's forward): the cpu
  // keeps its pack between calls (native/cpu/gemm_pack_cache.h), as it does for every product
  // with an epilogue. No bit of C depends on it.
  bool keep_b = false;
};

// a, b, c: contiguous, same dtype (f32, f64, bf16 or f16) and device, large enough for the described
// matrices, c distinct from a and b. gemm is backend-internal: the front-ends (native/ops/linear.cc,
// conv.cc) build its arguments from checked shapes, and the backends assert check_gemm_args.
// The overload with epi (f32 and f64 without tf32 only; may be null): the inference epilogue (advprop/epilogue.h) on
// each element of C, column j being channel j, after alpha and beta are applied.
#define ADVPROP_GEMM_KERNELS                                                  \
  void gemm(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c); \
  void gemm(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c, const Epilogue* epi);

// The one validator of a gemm call (native/ops/kernel_args.cc), for a device of type `type`:
// ERR_DTYPE (including tf32 with a dtype other than f32), ERR_DEVICE, ERR_ARG (contiguity, c
// overlapping a or b) or ERR_SHAPE (a negative size, a matrix that does not fit its tensor), the
// message naming the sizes.
// With an epilogue, also check_epilogue (advprop/epilogue.h) for C's m rows and n channels, and
// ERR_DTYPE for tf32.
void check_gemm_args(const GemmArgs& g, const Tensor& a, const Tensor& b, const Tensor& c, DeviceType type,
                     const Epilogue* epi = nullptr);

// Whether the GEMMs of the convolution and linear front-ends (native/ops/conv.cc, linear.cc) may
// multiply f32 operands in tf32: the precision policy 'tf32' (lib/precision.ts), process-wide as
// PyTorch's allow_tf32 and off by default. The lib sets it around each op it runs under the
// policy, and around that op's backward, so a call's math does not depend on when it runs.
void set_gemm_tf32(bool allowed);
bool gemm_tf32();
// GemmArgs::tf32 for operands of dtype t: the permission, for f32 only.
inline bool gemm_tf32_for(DType t) { return t == DType::f32 && gemm_tf32(); }

namespace cpu { ADVPROP_GEMM_KERNELS }
namespace cuda { ADVPROP_GEMM_KERNELS }
namespace cudasim { ADVPROP_GEMM_KERNELS }

}  // namespace advprop
