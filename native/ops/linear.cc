// Front-ends of the fully connected layer: checks, then one GEMM per call.
#include <string>

#include "advprop/gemm.h"
#include "advprop/ops.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

void check_matrix(const Tensor& t, const char* op, const char* arg) {
  check_float_input(t, op, arg);
  if (t.ndim() != 2)
    fail(ErrorCode::Shape, std::string(op) + ": argument '" + arg + "' must be 2-D, got " + shape_str(t.shape()));
}

void check_pair(const Tensor& a, const Tensor& b, const char* op, const char* an, const char* bn) {
  check_same_device(a, b, op, an, bn);
  check_same_dtype(a, b, op, an, bn);
}

Tensor run_gemm(GemmArgs g, const Tensor& a, const Tensor& b, const Shape& out_shape) {
  Tensor c = Tensor::empty(out_shape, a.dtype(), a.device());
  if (c.numel()) ADVPROP_DISPATCH(a.device(), gemm, g, a, b, c);
  return c;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b) {
  const char* op = "linear";
  check_matrix(x, op, "x");
  check_matrix(w, op, "w");
  check_pair(x, w, op, "x", "w");
  if (x.dim(1) != w.dim(1))
    fail(ErrorCode::Shape, "linear: x " + shape_str(x.shape()) + " has " + std::to_string(x.dim(1)) +
                               " features but w " + shape_str(w.shape()) + " expects " + std::to_string(w.dim(1)));
  if (b) {
    check_float_input(*b, op, "b");
    check_pair(x, *b, op, "x", "b");
    if (b->ndim() != 1 || b->dim(0) != w.dim(0))
      fail(ErrorCode::Shape, "linear: b " + shape_str(b->shape()) + " must be [" + std::to_string(w.dim(0)) +
                                 "] for w " + shape_str(w.shape()));
  }
  GemmArgs g;
  g.trans_b = true;
  g.m = x.dim(0), g.n = w.dim(0), g.k = x.dim(1);
  g.lda = g.k, g.ldb = g.k, g.ldc = g.n;
  Tensor y = run_gemm(g, x, w, {g.m, g.n});
  // A separate bias pass for now; fusing it into the GEMM's epilogue is performance work.
  return b ? binary(BinaryOp::add, y, *b) : y;
}

Tensor linear_backward_input(const Tensor& dy, const Tensor& w) {
  const char* op = "linearBackwardInput";
  check_matrix(dy, op, "dy");
  check_matrix(w, op, "w");
  check_pair(dy, w, op, "dy", "w");
  if (dy.dim(1) != w.dim(0))
    fail(ErrorCode::Shape, std::string(op) + ": dy " + shape_str(dy.shape()) + " does not match w " + shape_str(w.shape()));
  GemmArgs g;
  g.m = dy.dim(0), g.n = w.dim(1), g.k = dy.dim(1);
  g.lda = g.k, g.ldb = g.n, g.ldc = g.n;
  return run_gemm(g, dy, w, {g.m, g.n});
}

Tensor linear_backward_weight(const Tensor& dy, const Tensor& x) {
  const char* op = "linearBackwardWeight";
  check_matrix(dy, op, "dy");
  check_matrix(x, op, "x");
  check_pair(dy, x, op, "dy", "x");
  if (dy.dim(0) != x.dim(0))
    fail(ErrorCode::Shape, std::string(op) + ": dy " + shape_str(dy.shape()) + " and x " + shape_str(x.shape()) +
                               " must have the same batch size");
  GemmArgs g;
  g.trans_a = true;
  g.m = dy.dim(1), g.n = x.dim(1), g.k = dy.dim(0);
  g.lda = g.m, g.ldb = g.n, g.ldc = g.n;
  return run_gemm(g, dy, x, {g.m, g.n});
}

}  // namespace ops
}  // namespace advprop
