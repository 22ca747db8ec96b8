// Front-end of squeeze-excite's gate for inference: the four ops of its forward after the pool
// (linear, silu, linear, sigmoid), called one after another here so that the inference path makes
// one call into the addon for them instead of four (and no tensor handles between them). Each is
// the op itself, on whatever device, so the gate has their bits: the ones lib/ops/squeeze_excite.ts
// computes in training.
#include <string>

#include "advprop/ops.h"
#include "checks.h"

namespace advprop {
namespace ops {
namespace {

// A 1x1 convolution's weight [out, 1, 1, in] as the matrix [out, in]; a matrix as it is. Other
// shapes go on to linear, whose check names them.
Tensor as_matrix(const Tensor& w) {
  if (w.ndim() == 4 && w.dim(1) == 1 && w.dim(2) == 1 && w.is_contiguous()) return w.reshape({w.dim(0), w.dim(3)});
  return w;
}

}  // namespace

Tensor squeeze_excite_gate(const Tensor& pooled, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  const char* op = "seGate";
  TensorArg(op, "pooled", pooled).float_input<MixedFloatTypes>().rank(2, "[N, C]");
  for (const auto& [t, name] : {std::pair<const Tensor*, const char*>{&w1, "w1"}, {&b1, "b1"}, {&w2, "w2"}, {&b2, "b2"}})
    TensorArg(op, name, *t).float_input<MixedFloatTypes>().like(pooled, "pooled");
  const Tensor m1 = as_matrix(w1), m2 = as_matrix(w2);
  const int64_t C = pooled.dim(1);
  const bool shapes_ok = m1.ndim() == 2 && m2.ndim() == 2 && m1.dim(1) == C && m2.dim(0) == C && m2.dim(1) == m1.dim(0) &&
                         b1.ndim() == 1 && b1.dim(0) == m1.dim(0) && b2.ndim() == 1 && b2.dim(0) == C;
  if (!shapes_ok)
    fail(ErrorCode::Shape, std::string(op) + ": pooled " + shape_str(pooled.shape()) + ", w1 " + shape_str(w1.shape()) + ", b1 " +
                               shape_str(b1.shape()) + ", w2 " + shape_str(w2.shape()) + ", b2 " + shape_str(b2.shape()) +
                               " do not fit: expected pooled [N, C], w1 [R, C] or [R, 1, 1, C], b1 [R], w2 [C, R] or [C, 1, 1, R], b2 [C]");
  const Tensor h = unary(UnaryOp::silu, linear(pooled, m1, &b1), 0.0);
  return unary(UnaryOp::sigmoid, linear(h, m2, &b2), 0.0);
}

}  // namespace ops
}  // namespace advprop
