// Front-ends of the fully connected layer: checks, then one GEMM per call. x, w, the bias and dy
// may be bf16 or f16 (all of one dtype), for the GEMM to multiply in f32 and round once (gemm.h).
#include <string>

#include "advprop/gemm.h"
#include "advprop/ops.h"
#include "checks.h"
#include "dispatch.h"
#include "gemm_call.h"

namespace advprop {
namespace ops {
namespace {

// Two float matrices (f32, f64, bf16 or f16) on one device, of one dtype.
void check_matrices(const char* op, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  TensorArg(op, an, a).float_input<MixedFloatTypes>().rank(2, "2-D");
  TensorArg(op, bn, b).float_input<MixedFloatTypes>().rank(2, "2-D").like(a, an);
}

Tensor run_gemm(const char* op, GemmArgs g, const Tensor& a, const Tensor& b, const Shape& out_shape) {
  g.tf32 = gemm_tf32_for(a.dtype());
  Tensor c = Tensor::empty(out_shape, a.dtype(), a.device());
  if (c.numel()) call_gemm(op, g, a, b, c);
  return c;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b) {
  const char* op = "linear";
  check_matrices(op, x, "x", w, "w");
  if (x.dim(1) != w.dim(1))
    fail(ErrorCode::Shape, "linear: x " + shape_str(x.shape()) + " has " + std::to_string(x.dim(1)) +
                               " features but w " + shape_str(w.shape()) + " expects " + std::to_string(w.dim(1)));
  if (b) TensorArg(op, "b", *b).float_input<MixedFloatTypes>().like(x, "x").shape({w.dim(0)}, "[out]", "w", &w.shape());
  GemmArgs g;
  g.trans_b = true;
  g.m = x.dim(0), g.n = w.dim(0), g.k = x.dim(1);
  g.lda = g.k, g.ldb = g.k, g.ldc = g.n;
  g.keep_b = true;  // w, the layer's weights
  Tensor y = run_gemm(op, g, x, w, {g.m, g.n});
  // A separate bias pass for now; fusing it into the GEMM's epilogue is performance work.
  return b ? binary(BinaryOp::add, y, *b) : y;
}

Tensor linear_backward_input(const Tensor& dy, const Tensor& w) {
  const char* op = "linearBackwardInput";
  check_matrices(op, dy, "dy", w, "w");
  if (dy.dim(1) != w.dim(0))
    fail(ErrorCode::Shape, std::string(op) + ": dy " + shape_str(dy.shape()) + " does not match w " + shape_str(w.shape()));
  GemmArgs g;
  g.m = dy.dim(0), g.n = w.dim(1), g.k = dy.dim(1);
  g.lda = g.k, g.ldb = g.n, g.ldc = g.n;
  return run_gemm(op, g, dy, w, {g.m, g.n});
}

Tensor linear_backward_weight(const Tensor& dy, const Tensor& x) {
  const char* op = "linearBackwardWeight";
  check_matrices(op, dy, "dy", x, "x");
  if (dy.dim(0) != x.dim(0))
    fail(ErrorCode::Shape, std::string(op) + ": dy " + shape_str(dy.shape()) + " and x " + shape_str(x.shape()) +
                               " must have the same batch size");
  GemmArgs g;
  g.trans_a = true;
  g.m = dy.dim(1), g.n = x.dim(1), g.k = dy.dim(0);
  g.lda = g.m, g.ldb = g.n, g.ldc = g.n;
  return run_gemm(op, g, dy, x, {g.m, g.n});
}

}  // namespace ops
}  // namespace advprop
