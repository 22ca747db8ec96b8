// Argument checks shared by the multi-domain batch-norm kernels of every backend and its front-end.
#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>

#include "advprop/batchnorm.h"
#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"

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
  const std::string ctx = " (" + bn_args_str(a) + ")";
  if (a.n < 0 || a.h < 1 || a.w < 1 || a.c < 0 || a.k < 1)
    fail(ErrorCode::Shape, std::string(op) + ": invalid sizes (H and W must be >= 1, K >= 1)" + ctx);
  check_enum(a.mode, op);
  check_enum(a.act, op);
  if (!(std::isfinite(a.eps) && a.eps > 0))
    fail(ErrorCode::Arg, std::string(op) + ": eps must be a finite number > 0, got " + std::to_string(a.eps));
  if (!(a.momentum >= 0 && a.momentum <= 1))
    fail(ErrorCode::Arg, std::string(op) + ": momentum must be in [0, 1], got " + std::to_string(a.momentum));
  if (a.segments.empty()) fail(ErrorCode::Arg, std::string(op) + ": segments must not be empty" + ctx);
  int64_t next = 0;
  for (size_t i = 0; i < a.segments.size(); ++i) {
    const BnSegment& s = a.segments[i];
    const std::string which = std::string(op) + ": segments[" + std::to_string(i) + "] ";
    if (s.domain < 0 || s.domain >= a.k)
      fail(ErrorCode::Arg, which + "has domain " + std::to_string(s.domain) + ", which is not in [0, K = " +
                               std::to_string(a.k) + ")" + ctx);
    if (s.count < 1) fail(ErrorCode::Arg, which + "has count " + std::to_string(s.count) + " (must be >= 1)" + ctx);
    if (s.start != next)
      fail(ErrorCode::Arg, which + "starts at sample " + std::to_string(s.start) + ", expected " + std::to_string(next) + ctx);
    next += s.count;
    if (next > a.n) break;
  }
  if (next != a.n)
    fail(ErrorCode::Shape, std::string(op) + ": segment counts sum to " + std::to_string(next) +
                               " but the batch has N = " + std::to_string(a.n) + ctx);
}

void check_bn_tensor(const char* op, const char* name, const Tensor& t, const Shape& want, DType dt,
                     DeviceType type, const Device& dev) {
  require_dtype(dt, op);
  if (t.dtype() != dt)
    fail(ErrorCode::DType, std::string(op) + ": " + name + " is " + dtype_name(t.dtype()) + " " + shape_str(t.shape()) +
                               ", expected " + dtype_name(dt) + " like x");
  if (t.shape() != want)
    fail(ErrorCode::Shape, std::string(op) + ": " + name + " has shape " + shape_str(t.shape()) + ", expected " +
                               shape_str(want));
  if (t.device().type != type || t.device() != dev)
    fail(ErrorCode::Device, std::string(op) + ": " + name + " is on " + device_str(t.device()) + ", expected " +
                                device_str(dev));
  if (!t.is_contiguous()) fail(ErrorCode::Arg, std::string(op) + ": " + name + " must be contiguous");
}

namespace {
void check_bn_tensors(const char* op, const BnArgs& a, DeviceType type, const Tensor& x,
                      std::initializer_list<std::pair<const char*, const Tensor*>> ts,
                      std::initializer_list<Shape> shapes) {
  check_bn_args(op, a);
  // x's device when it is of the kernel's type, so that a message names the device expected.
  const Device dev = x.device().type == type ? x.device() : Device{type, 0};
  auto sh = shapes.begin();
  for (const auto& [name, t] : ts) check_bn_tensor(op, name, *t, *sh++, x.dtype(), type, dev);
}
}  // namespace

void check_bn_forward(const char* op, const BnArgs& a, DeviceType type, const Tensor& x, const Tensor& gamma,
                      const Tensor& beta, const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                      const Tensor& mean, const Tensor& invstd) {
  const Shape xs = bn_x_shape(a), ps = bn_param_shape(a), ss = bn_stat_shape(a);
  check_bn_tensors(op, a, type, x,
                   {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean},
                    {"running_var", &running_var}, {"y", &y}, {"mean", &mean}, {"invstd", &invstd}},
                   {xs, ps, ps, ps, ps, xs, ss, ss});
}

void check_bn_backward(const char* op, const BnArgs& a, DeviceType type, const Tensor& dy, const Tensor& x,
                       const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                       const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta) {
  const Shape xs = bn_x_shape(a), ps = bn_param_shape(a), ss = bn_stat_shape(a);
  check_bn_tensors(op, a, type, x,
                   {{"dy", &dy}, {"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"mean", &mean}, {"invstd", &invstd},
                    {"dx", &dx}, {"dgamma", &dgamma}, {"dbeta", &dbeta}},
                   {xs, xs, ps, ps, ss, ss, xs, ps, ps});
}

}  // namespace advprop
