// Front-ends of the elementwise kernels: broadcast rule, checks, output allocation.
#include <string>

#include "advprop/ops.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {

namespace ops {
namespace {

Shape strip_leading_ones(const Shape& s) {
  size_t i = 0;
  while (i < s.size() && s[i] == 1) ++i;
  return Shape(s.begin() + i, s.end());
}

// True when `small` broadcasts against `big` under the trailing-dimensions rule.
bool broadcasts(const Shape& small, const Shape& big) {
  Shape s = strip_leading_ones(small);
  if (s.size() > big.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[s.size() - 1 - i] != big[big.size() - 1 - i]) return false;
  return true;
}

}  // namespace

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  check_enum(op, "binary");
  const char* name = binary_op_name(op);
  check_float_input<MixedFloatTypes>(a, name, "a");
  check_float_input<MixedFloatTypes>(b, name, "b");
  check_same_device(a, b, name, "a", "b");
  check_same_dtype(a, b, name, "a", "b");
  const Tensor* big = nullptr;
  if (a.shape() == b.shape() || broadcasts(b.shape(), a.shape())) big = &a;
  else if (broadcasts(a.shape(), b.shape())) big = &b;
  if (!big)
    fail(ErrorCode::Shape, std::string(name) + ": cannot broadcast a " + shape_str(a.shape()) + " with b " +
                               shape_str(b.shape()) +
                               " (the smaller operand must match the trailing dimensions of the larger)");
  // The result has the rank of the higher-rank operand: when the small one has more dims, they
  // are leading 1s (e.g. [3] with [1, 3] gives [1, 3], whichever side each is on).
  const Tensor& small = big == &a ? b : a;
  Shape out_shape = big->shape();
  if (small.ndim() > big->ndim()) out_shape.insert(out_shape.begin(), small.ndim() - big->ndim(), int64_t(1));
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel()) ADVPROP_DISPATCH(a.device(), binary, op, a, b, out);
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x, double alpha) {
  check_enum(op, "unary");
  const char* name = unary_op_name(op);
  check_float_input<MixedFloatTypes>(x, name, "x");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel()) ADVPROP_DISPATCH(x.device(), unary, op, x, alpha, out);
  return out;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& dy, double alpha) {
  check_enum(op, "unaryBackward");
  std::string name = std::string(unary_op_name(op)) + "Backward";
  check_float_input<MixedFloatTypes>(x, name.c_str(), "x");
  check_float_input<MixedFloatTypes>(dy, name.c_str(), "dy");
  check_same_device(x, dy, name.c_str(), "x", "dy");
  check_same_dtype(x, dy, name.c_str(), "x", "dy");
  check_same_shape(x, dy, name.c_str(), "x", "dy");
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (dx.numel()) ADVPROP_DISPATCH(x.device(), unary_backward, op, x, dy, alpha, dx);
  return dx;
}

}  // namespace ops
}  // namespace advprop
