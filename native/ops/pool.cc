// Front-ends of global average pooling and channel scale (advprop/pool.h): argument checks
// that name the op, the argument and the shapes, output allocation, dispatch.
#include <string>

#include "advprop/ops.h"
#include "advprop/pool.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

constexpr const char* kNhwc = "NHWC [N, H, W, C]";

void check_nhwc(const Tensor& x, const char* op) {
  TensorArg(op, "x", x).float_input<MixedFloatTypes>().rank(4, kNhwc);
}

// `t` must be [N, C] of x, on x's device, with x's dtype.
void check_nc(const Tensor& t, const Tensor& x, const char* op, const char* arg) {
  TensorArg(op, arg, t)
      .float_input<MixedFloatTypes>()
      .like(x, "x")
      .shape({x.dim(0), x.dim(3)}, "[N, C]", "x", &x.shape());
}

}  // namespace

Tensor global_avg_pool(const Tensor& x) {
  const char* op = "globalAvgPool";
  check_nhwc(x, op);
  Tensor y = Tensor::empty({x.dim(0), x.dim(3)}, x.dtype(), x.device());
  if (y.numel()) ADVPROP_DISPATCH(x.device(), global_avg_pool_forward, x, y);
  return y;
}

Tensor global_avg_pool_backward(const Tensor& dy, const Shape& x_shape) {
  const char* op = "globalAvgPoolBackward";
  TensorArg dy_arg(op, "dy", dy);
  dy_arg.float_input<MixedFloatTypes>();
  checked_numel(x_shape, op);
  if (x_shape.size() != 4)
    fail(ErrorCode::Shape, std::string(op) + ": xShape must be " + kNhwc + ", got " + shape_str(x_shape));
  dy_arg.shape({x_shape[0], x_shape[3]}, "[N, C]", "xShape", &x_shape);
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  if (dx.numel()) ADVPROP_DISPATCH(dy.device(), global_avg_pool_backward, dy, dx);
  return dx;
}

Tensor channel_scale(const Tensor& x, const Tensor& s) {
  const char* op = "channelScale";
  check_nhwc(x, op);
  check_nc(s, x, op, "s");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel()) ADVPROP_DISPATCH(x.device(), channel_scale_forward, x, s, y);
  return y;
}

void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, bool need_dx, bool need_ds,
                            Tensor* dx, Tensor* ds) {
  const char* op = "channelScaleBackward";
  check_nhwc(x, op);
  check_nc(s, x, op, "s");
  TensorArg(op, "dy", dy).float_input<MixedFloatTypes>().like(x, "x").shape(x.shape(), nullptr, "x");
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
  check_nhwc(x, op);
  check_nc(s, x, op, "s");
  check_nc(b, x, op, "b");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel()) ADVPROP_DISPATCH(x.device(), channel_scale_add, x, s, b, y);
  return y;
}

}  // namespace ops
}  // namespace advprop
