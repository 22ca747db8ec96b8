// Front-end of the multi-domain batch norm: the checks of the arguments, with messages in the
// user's terms, output allocation and dispatch to the backend's fused kernels. x, dy, y and dx
// may be bf16 or f16, with the parameters and statistics in f32 (advprop/batchnorm.h).
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "advprop/batchnorm.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {

std::string bn_args_str(const BnArgs& a) {
  std::string segs = "[";
  for (size_t i = 0; i < a.segments.size(); ++i) {
    if (i) segs += ", ";
    segs += "[" + std::to_string(a.segments[i].domain) + ", " + std::to_string(a.segments[i].count) + "]";
  }
  segs += "]";
  return "x " + shape_str(bn_x_shape(a)) + ", K " + std::to_string(a.k) + ", segments " + segs + ", mode " +
         bn_mode_name(a.mode);
}

void check_bn_args(const char* op, const BnArgs& a) {
  const auto ctx = [&a] { return " (" + bn_args_str(a) + ")"; };  // only when failing: the backends assert this too
  if (a.n < 0 || a.h < 1 || a.w < 1 || a.c < 0 || a.k < 1)
    fail(ErrorCode::Shape, std::string(op) + ": invalid sizes (H and W must be >= 1, K >= 1)" + ctx());
  check_enum(a.mode, op);
  check_enum(a.act, op);
  if (!(std::isfinite(a.eps) && a.eps > 0))
    fail(ErrorCode::Arg, std::string(op) + ": eps must be a finite number > 0, got " + std::to_string(a.eps));
  if (!(a.momentum >= 0 && a.momentum <= 1))
    fail(ErrorCode::Arg, std::string(op) + ": momentum must be in [0, 1], got " + std::to_string(a.momentum));
  if (a.segments.empty()) fail(ErrorCode::Arg, std::string(op) + ": segments must not be empty" + ctx());
  int64_t next = 0;
  for (size_t i = 0; i < a.segments.size(); ++i) {
    const BnSegment& s = a.segments[i];
    const auto which = [&] { return std::string(op) + ": segments[" + std::to_string(i) + "] "; };
    if (s.domain < 0 || s.domain >= a.k)
      fail(ErrorCode::Arg, which() + "has domain " + std::to_string(s.domain) + ", which is not in [0, K = " +
                               std::to_string(a.k) + ")" + ctx());
    if (s.count < 1) fail(ErrorCode::Arg, which() + "has count " + std::to_string(s.count) + " (must be >= 1)" + ctx());
    if (s.start != next)
      fail(ErrorCode::Arg, which() + "starts at sample " + std::to_string(s.start) + ", expected " + std::to_string(next) + ctx());
    next += s.count;
    if (next > a.n) break;
  }
  if (next != a.n)
    fail(ErrorCode::Shape, std::string(op) + ": segment counts sum to " + std::to_string(next) +
                               " but the batch has N = " + std::to_string(a.n) + ctx());
}

namespace ops {
namespace {

BnArgs make_args(const char* op, const Tensor& x, const Tensor& gamma, const std::vector<BnSegment>& segments,
                 BnMode mode, BnAct act, double momentum, double eps) {
  TensorArg(op, "x", x).rank(4, "NHWC [N, H, W, C]");
  if (gamma.ndim() != 2 || gamma.dim(1) != x.dim(3) || gamma.dim(0) < 1)
    fail(ErrorCode::Shape, std::string(op) + ": gamma " + shape_str(gamma.shape()) + " must be [K, C] with C = " +
                               std::to_string(x.dim(3)) + " (x " + shape_str(x.shape()) + ")");
  BnArgs a;
  a.n = x.dim(0), a.h = x.dim(1), a.w = x.dim(2), a.c = x.dim(3), a.k = gamma.dim(0);
  a.mode = mode, a.act = act, a.momentum = momentum, a.eps = eps;
  a.segments = segments;
  check_bn_args(op, a);
  return a;
}

// x and dy: contiguous, f32, f64, bf16 or f16, on a usable device.
void check_data(const char* op, const Tensor& t, const char* name) { TensorArg(op, name, t).float_input<MixedFloatTypes>(); }

// Defined, float, of x's dtype and device, shaped `want` (`rule` in the message).
void check_like(const char* op, const Tensor& x, const Tensor& t, const char* name, const Shape& want, const char* rule) {
  TensorArg(op, name, t).float_input<MixedFloatTypes>().like(x, "x").shape(want, rule, "x", &x.shape());
}

// A parameter or statistic: as check_like, but of x's arithmetic dtype (f32 for a bf16 or f16 x).
void check_param(const char* op, const Tensor& x, const Tensor& t, const char* name, const Shape& want, const char* rule) {
  const DType dt = accum_dtype(x.dtype());
  if (dt == x.dtype()) return check_like(op, x, t, name, want, rule);
  const TensorArg arg(op, name, t);
  arg.contiguous().usable_device().same_device_as(x, "x");
  if (t.dtype() != dt)
    fail(ErrorCode::DType, std::string(op) + ": '" + name + "' is " + dtype_name(t.dtype()) + " " + shape_str(t.shape()) +
                               " but must be " + dtype_name(dt) + " for 'x' " + dtype_name(x.dtype()) + " " +
                               shape_str(x.shape()) + " (parameters and statistics of 16-bit data are f32)");
  arg.shape(want, rule, "x", &x.shape());
}

constexpr const char* kParams = "[K, C]";  // one row per domain
constexpr const char* kStats = "[S, C]";   // one row per segment

}  // namespace

BnForwardResult multi_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                 Tensor& running_var, const std::vector<BnSegment>& segments, BnMode mode,
                                 BnAct act, double momentum, double eps, bool training_math) {
  const char* op = "multiBatchNorm";
  check_data(op, x, "x");
  check_defined(gamma, op, "gamma");
  BnArgs a = make_args(op, x, gamma, segments, mode, act, momentum, eps);
  a.training_math = training_math;
  const Shape ps = bn_param_shape(a);
  check_param(op, x, gamma, "gamma", ps, kParams);
  check_param(op, x, beta, "beta", ps, kParams);
  check_param(op, x, running_mean, "runningMean", ps, kParams);
  check_param(op, x, running_var, "runningVar", ps, kParams);
  if (mode == BnMode::train) {
    check_no_overlap(running_mean, running_var, op, "runningMean", "runningVar");
    for (const auto& [t, name] : {std::pair<const Tensor*, const char*>{&x, "x"}, {&gamma, "gamma"}, {&beta, "beta"}}) {
      check_no_overlap(running_mean, *t, op, "runningMean", name);
      check_no_overlap(running_var, *t, op, "runningVar", name);
    }
  }
  const Device& dev = x.device();
  const DType st = accum_dtype(x.dtype());
  BnForwardResult r{Tensor::empty(x.shape(), x.dtype(), dev), Tensor::empty(bn_stat_shape(a), st, dev),
                    Tensor::empty(bn_stat_shape(a), st, dev)};
  if (mode == BnMode::train) mark_written(running_mean), mark_written(running_var);
  ADVPROP_DISPATCH(dev, multi_batch_norm_forward, a, x, gamma, beta, running_mean, running_var, r.y, r.mean, r.invstd);
  return r;
}

BnBackwardResult multi_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                           const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                           const std::vector<BnSegment>& segments, BnMode mode, BnAct act,
                                           double eps) {
  const char* op = "multiBatchNormBackward";
  check_data(op, x, "x");
  check_defined(gamma, op, "gamma");
  const BnArgs a = make_args(op, x, gamma, segments, mode, act, 0.99, eps);
  const Shape ps = bn_param_shape(a), ss = bn_stat_shape(a);
  check_like(op, x, dy, "dy", x.shape(), nullptr);
  check_param(op, x, gamma, "gamma", ps, kParams);
  check_param(op, x, beta, "beta", ps, kParams);
  check_param(op, x, mean, "mean", ss, kStats);
  check_param(op, x, invstd, "invstd", ss, kStats);
  const Device& dev = x.device();
  const DType pt = accum_dtype(x.dtype());
  BnBackwardResult r{Tensor::empty(x.shape(), x.dtype(), dev), Tensor::empty(ps, pt, dev), Tensor::empty(ps, pt, dev)};
  ADVPROP_DISPATCH(dev, multi_batch_norm_backward, a, dy, x, gamma, beta, mean, invstd, r.dx, r.dgamma, r.dbeta);
  return r;
}

}  // namespace ops
}  // namespace advprop
