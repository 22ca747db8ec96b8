// Front-end of the multi-domain batch norm: shape checks with messages in the user's terms,
// output allocation and dispatch to the backend's fused kernels.
#include <string>
#include <utility>
#include <vector>

#include "advprop/batchnorm.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

BnArgs make_args(const char* op, const Tensor& x, const Tensor& gamma, const std::vector<BnSegment>& segments,
                 BnMode mode, BnAct act, double momentum, double eps) {
  if (x.ndim() != 4) fail(ErrorCode::Shape, std::string(op) + ": x must be NHWC [N, H, W, C], got " + shape_str(x.shape()));
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

// Defined, float, same dtype and device as x, shape `want`.
void check_like(const char* op, const Tensor& x, const Tensor& t, const char* name, const Shape& want) {
  check_float_input(t, op, name);
  check_same_device(x, t, op, "x", name);
  check_same_dtype(x, t, op, "x", name);
  if (t.shape() != want)
    fail(ErrorCode::Shape, std::string(op) + ": '" + name + "' is " + shape_str(t.shape()) + ", expected " +
                               shape_str(want) + " (x " + shape_str(x.shape()) + ")");
}

}  // namespace

BnForwardResult multi_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                 Tensor& running_var, const std::vector<BnSegment>& segments, BnMode mode,
                                 BnAct act, double momentum, double eps) {
  const char* op = "multiBatchNorm";
  check_float_input(x, op, "x");
  check_defined(gamma, op, "gamma");
  const BnArgs a = make_args(op, x, gamma, segments, mode, act, momentum, eps);
  const Shape ps = bn_param_shape(a);
  check_like(op, x, gamma, "gamma", ps);
  check_like(op, x, beta, "beta", ps);
  check_like(op, x, running_mean, "runningMean", ps);
  check_like(op, x, running_var, "runningVar", ps);
  if (mode == BnMode::train) {
    check_no_overlap(running_mean, running_var, op, "runningMean", "runningVar");
    for (const auto& [t, name] : {std::pair<const Tensor*, const char*>{&x, "x"}, {&gamma, "gamma"}, {&beta, "beta"}}) {
      check_no_overlap(running_mean, *t, op, "runningMean", name);
      check_no_overlap(running_var, *t, op, "runningVar", name);
    }
  }
  const Device& dev = x.device();
  BnForwardResult r{Tensor::empty(x.shape(), x.dtype(), dev), Tensor::empty(bn_stat_shape(a), x.dtype(), dev),
                    Tensor::empty(bn_stat_shape(a), x.dtype(), dev)};
  ADVPROP_DISPATCH(dev, multi_batch_norm_forward, a, x, gamma, beta, running_mean, running_var, r.y, r.mean, r.invstd);
  return r;
}

BnBackwardResult multi_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                           const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                           const std::vector<BnSegment>& segments, BnMode mode, BnAct act,
                                           double eps) {
  const char* op = "multiBatchNormBackward";
  check_float_input(x, op, "x");
  check_defined(gamma, op, "gamma");
  const BnArgs a = make_args(op, x, gamma, segments, mode, act, 0.99, eps);
  const Shape ps = bn_param_shape(a), ss = bn_stat_shape(a);
  check_like(op, x, dy, "dy", x.shape());
  check_like(op, x, gamma, "gamma", ps);
  check_like(op, x, beta, "beta", ps);
  check_like(op, x, mean, "mean", ss);
  check_like(op, x, invstd, "invstd", ss);
  const Device& dev = x.device();
  BnBackwardResult r{Tensor::empty(x.shape(), x.dtype(), dev), Tensor::empty(ps, x.dtype(), dev),
                     Tensor::empty(ps, x.dtype(), dev)};
  ADVPROP_DISPATCH(dev, multi_batch_norm_backward, a, dy, x, gamma, beta, mean, invstd, r.dx, r.dgamma, r.dbeta);
  return r;
}

}  // namespace ops
}  // namespace advprop
