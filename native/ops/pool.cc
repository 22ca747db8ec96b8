// Front-ends of global average pooling and channel scale (advprop/pool.h): argument checks
// that name the op and the shapes, output allocation, dispatch.
#include <string>

#include "advprop/ops.h"
#include "advprop/pool.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {

void check_pool_tensor(const char* op, const char* name, const Tensor& t, const Shape& want, DType dt,
                       DeviceType type, const Device& dev) {
  if (!is_float(dt)) fail(ErrorCode::DType, std::string(op) + ": expected f32 or f64, got " + dtype_name(dt));
  if (t.dtype() != dt)
    fail(ErrorCode::DType, std::string(op) + ": " + name + " is " + dtype_name(t.dtype()) + ", expected " + dtype_name(dt));
  if (t.shape() != want)
    fail(ErrorCode::Shape, std::string(op) + ": " + name + " has shape " + shape_str(t.shape()) + ", expected " +
                               shape_str(want));
  if (dev.type != type || t.device() != dev)
    fail(ErrorCode::Device, std::string(op) + ": " + name + " is on " + device_str(t.device()) + ", expected one " +
                                device_type_name(type) + " device (" + device_str(dev) + ")");
  if (!t.is_contiguous()) fail(ErrorCode::Arg, std::string(op) + ": " + name + " must be contiguous");
}

void check_pool_call(const char* op, DeviceType type, const char* xname, const Tensor& x,
                     std::initializer_list<PoolArg> others) {
  if (x.ndim() != 4)
    fail(ErrorCode::Shape, std::string(op) + ": " + xname + " must be NHWC [N, H, W, C], got " + shape_str(x.shape()));
  // x's device when it is of the kernel's type, so that a message names the device expected.
  const Device dev = x.device().type == type ? x.device() : Device{type, 0};
  check_pool_tensor(op, xname, x, x.shape(), x.dtype(), type, dev);
  const Shape nc = {x.dim(0), x.dim(3)};
  for (const PoolArg& a : others)
    if (a.t) check_pool_tensor(op, a.name, *a.t, a.per_channel ? nc : x.shape(), x.dtype(), type, dev);
}

namespace ops {
namespace {

void check_nhwc(const Tensor& x, const char* op, const char* arg) {
  check_float_input(x, op, arg);
  if (x.ndim() != 4)
    fail(ErrorCode::Shape, std::string(op) + ": '" + arg + "' must be NHWC [N, H, W, C], got " + shape_str(x.shape()));
}

// `t` must be [N, C] of x, on x's device, with x's dtype.
void check_nc(const Tensor& t, const Tensor& x, const char* op, const char* arg, const char* xarg) {
  check_float_input(t, op, arg);
  check_same_device(x, t, op, xarg, arg);
  check_same_dtype(x, t, op, xarg, arg);
  const Shape want = {x.dim(0), x.dim(3)};
  if (t.shape() != want)
    fail(ErrorCode::Shape, std::string(op) + ": '" + arg + "' " + shape_str(t.shape()) + " must be [N, C] = " +
                               shape_str(want) + " for '" + xarg + "' " + shape_str(x.shape()));
}

}  // namespace

Tensor global_avg_pool(const Tensor& x) {
  const char* op = "globalAvgPool";
  check_nhwc(x, op, "x");
  Tensor y = Tensor::empty({x.dim(0), x.dim(3)}, x.dtype(), x.device());
  if (y.numel()) ADVPROP_DISPATCH(x.device(), global_avg_pool_forward, x, y);
  return y;
}

Tensor global_avg_pool_backward(const Tensor& dy, const Shape& x_shape) {
  const char* op = "globalAvgPoolBackward";
  check_float_input(dy, op, "dy");
  checked_numel(x_shape, op);
  if (x_shape.size() != 4)
    fail(ErrorCode::Shape, std::string(op) + ": xShape must be NHWC [N, H, W, C], got " + shape_str(x_shape));
  const Shape want = {x_shape[0], x_shape[3]};
  if (dy.shape() != want)
    fail(ErrorCode::Shape, std::string(op) + ": dy " + shape_str(dy.shape()) + " must be " + shape_str(want) +
                               " for xShape " + shape_str(x_shape));
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  if (dx.numel()) ADVPROP_DISPATCH(dy.device(), global_avg_pool_backward, dy, dx);
  return dx;
}

Tensor channel_scale(const Tensor& x, const Tensor& s) {
  const char* op = "channelScale";
  check_nhwc(x, op, "x");
  check_nc(s, x, op, "s", "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel()) ADVPROP_DISPATCH(x.device(), channel_scale_forward, x, s, y);
  return y;
}

void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, bool need_dx, bool need_ds,
                            Tensor* dx, Tensor* ds) {
  const char* op = "channelScaleBackward";
  check_nhwc(x, op, "x");
  check_nc(s, x, op, "s", "x");
  check_float_input(dy, op, "dy");
  check_same_device(x, dy, op, "x", "dy");
  check_same_dtype(x, dy, op, "x", "dy");
  check_same_shape(dy, x, op, "dy", "x");
  Tensor gx, gs;
  if (need_dx) gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (need_ds) gs = Tensor::empty(s.shape(), x.dtype(), x.device());
  if ((need_dx && gx.numel()) || (need_ds && gs.numel()))
    ADVPROP_DISPATCH(x.device(), channel_scale_backward, x, s, dy, need_dx ? &gx : nullptr, need_ds ? &gs : nullptr);
  if (dx) *dx = gx;
  if (ds) *ds = gs;
}

Tensor channel_scale_add(const Tensor& x, const Tensor& s, const Tensor& b) {
  const char* op = "channelScaleAdd";
  check_nhwc(x, op, "x");
  check_nc(s, x, op, "s", "x");
  check_nc(b, x, op, "b", "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel()) ADVPROP_DISPATCH(x.device(), channel_scale_add, x, s, b, y);
  return y;
}

}  // namespace ops
}  // namespace advprop
