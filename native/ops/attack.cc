// Front-ends of the PGD kernels: argument checks (naming the op and the argument), output
// allocation and dispatch.
#include <cmath>
#include <string>

#include "advprop/attack.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

std::string num(double v) { return std::to_string(v); }

void check_scalar(const char* op, const char* name, double v) {
  if (!(v >= 0) || std::isinf(v))
    fail(ErrorCode::Arg, std::string(op) + ": '" + name + "' must be a finite number >= 0, got " + num(v));
}

void check_per_sample(const char* op, const char* name, const Tensor* t, const Tensor& x) {
  if (!t) return;
  check_float_input(*t, op, name);
  check_same_device(*t, x, op, name, "x");
  check_same_dtype(*t, x, op, name, "x");
  if (t->ndim() != 1 || t->dim(0) != x.dim(0))
    fail(ErrorCode::Shape, std::string(op) + ": per-sample '" + name + "' " + shape_str(t->shape()) + " must be [" +
                               std::to_string(x.dim(0)) + "] for x " + shape_str(x.shape()));
}

void check_common(const char* op, const Tensor& x, const PgdArgs& a, bool with_alpha) {
  if (x.ndim() < 1) fail(ErrorCode::Shape, std::string(op) + ": x must have a batch dimension, got " + shape_str(x.shape()));
  check_enum(a.norm, op);
  if (!(a.lo <= a.hi) || std::isinf(a.lo) || std::isinf(a.hi))
    fail(ErrorCode::Arg, std::string(op) + ": need finite min <= max, got min " + num(a.lo) + ", max " + num(a.hi));
  if (a.eps_t) check_per_sample(op, "eps", a.eps_t, x);
  else check_scalar(op, "eps", a.eps);
  if (!with_alpha) return;
  if (a.alpha_t) check_per_sample(op, "alpha", a.alpha_t, x);
  else check_scalar(op, "alpha", a.alpha);
}

}  // namespace

Tensor pgd_step(const Tensor& x_adv, const Tensor& grad, const Tensor& x, const PgdArgs& a) {
  const char* op = "pgdStep";
  check_float_input(x_adv, op, "xAdv");
  check_float_input<MixedFloatTypes>(grad, op, "grad");
  check_float_input(x, op, "x");
  check_same_shape(x_adv, x, op, "xAdv", "x");
  check_same_shape(grad, x, op, "grad", "x");
  check_same_device(x_adv, x, op, "xAdv", "x");
  check_same_device(grad, x, op, "grad", "x");
  check_same_dtype(x_adv, x, op, "xAdv", "x");
  // The image, its perturbation and the clamp stay in x's dtype; the gradient of a 16-bit network
  // may come in bf16 or f16 and is widened by the kernels.
  if (!pgd_grad_dtype_ok(grad.dtype(), x.dtype())) check_same_dtype(grad, x, op, "grad", "x");
  check_common(op, x, a, true);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel()) ADVPROP_DISPATCH(x.device(), pgd_step, a, x_adv, grad, x, out);
  return out;
}

Tensor pgd_random_start(const Tensor& x, const PgdArgs& a, uint64_t seed, uint64_t offset) {
  const char* op = "pgdRandomStart";
  check_float_input(x, op, "x");
  check_common(op, x, a, false);
  check_sample_map(a.map, op);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel()) ADVPROP_DISPATCH(x.device(), pgd_random_start, a, x, seed, offset, out);
  return out;
}

}  // namespace ops
}  // namespace advprop
