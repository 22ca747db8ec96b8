// Argument checks shared by the im2col/col2im kernels of every backend.
#include <initializer_list>
#include <string>

#include "advprop/conv.h"
#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"

namespace advprop {

std::string conv_params_str(const Conv2dParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "n=" + s(p.n) + " h=" + s(p.h) + " w=" + s(p.w) + " c_in=" + s(p.c_in) + " c_out=" + s(p.c_out) + " k=" + s(p.kh) + "x" + s(p.kw) +
         " stride=" + s(p.stride_h) + "x" + s(p.stride_w) + " dil=" + s(p.dil_h) + "x" + s(p.dil_w) +
         " pad=" + s(p.pad_top) + "," + s(p.pad_left) + " groups=" + s(p.groups) + " out=" + s(p.out_h) + "x" +
         s(p.out_w);
}

void check_im2col_args(const char* op, const Conv2dParams& p, const Tensor& img, const Tensor& cols,
                       int64_t group, DeviceType device_type) {
  const std::string params = conv_params_str(p);
  if (img.dtype() != cols.dtype())
    fail(ErrorCode::DType, std::string(op) + ": dtypes differ (" + dtype_name(img.dtype()) + " image, " +
                               dtype_name(cols.dtype()) + " cols)");
  require_dtype(img.dtype(), op);
  if (img.device().type != device_type || cols.device() != img.device())
    fail(ErrorCode::Device, std::string(op) + ": tensors must be on one " + device_type_name(device_type) +
                                " device (image " + device_str(img.device()) + ", cols " + device_str(cols.device()) + ")");
  if (p.n < 0 || p.h < 0 || p.w < 0 || p.c_in < 0 || p.kh < 1 || p.kw < 1 || p.stride_h < 1 || p.stride_w < 1 ||
      p.dil_h < 1 || p.dil_w < 1 || p.out_h < 0 || p.out_w < 0 || p.groups < 1 || p.c_in % p.groups != 0)
    fail(ErrorCode::Shape, std::string(op) + ": invalid parameters (" + params + ")");
  if (group < 0 || group >= p.groups)
    fail(ErrorCode::Shape, std::string(op) + ": group " + std::to_string(group) + " is out of range (" + params + ")");
  const int64_t cg = p.c_in / p.groups;
  const Shape want_img{p.n, p.h, p.w, p.c_in};
  const Shape want_cols{p.n * p.out_h * p.out_w, p.kh * p.kw * cg};
  if (img.shape() != want_img)
    fail(ErrorCode::Shape, std::string(op) + ": image is " + shape_str(img.shape()) + ", expected " +
                               shape_str(want_img) + " (" + params + ")");
  if (cols.shape() != want_cols)
    fail(ErrorCode::Shape, std::string(op) + ": cols is " + shape_str(cols.shape()) + ", expected " +
                               shape_str(want_cols) + " (" + params + ")");
  if (!img.is_contiguous() || !cols.is_contiguous())
    fail(ErrorCode::Arg, std::string(op) + ": tensors must be contiguous");
}

void check_depthwise_params(const char* op, const Conv2dParams& p) {
  if (p.n < 0 || p.h < 0 || p.w < 0 || p.c_in < 0 || p.out_h < 0 || p.out_w < 0 || p.kh < 1 || p.kw < 1 ||
      p.stride_h < 1 || p.stride_w < 1 || p.dil_h < 1 || p.dil_w < 1)
    fail(ErrorCode::Shape, std::string(op) + ": invalid parameters (" + conv_params_str(p) + ")");
  if (p.groups != p.c_in || p.c_out != p.c_in)
    fail(ErrorCode::Shape, std::string(op) + ": depthwise needs groups == c_in == c_out (" + conv_params_str(p) + ")");
}

void check_conv_dtype(const char* op, DType dt) {
  require_dtype(dt, op);
}

void check_conv_tensor(const char* op, const char* name, const Tensor& t, const Shape& want, DType dt,
                       DeviceType type, const Device& dev) {
  if (t.dtype() != dt)
    fail(ErrorCode::DType, std::string(op) + ": " + name + " is " + dtype_name(t.dtype()) + ", expected " +
                               dtype_name(dt));
  if (t.shape() != want)
    fail(ErrorCode::Shape, std::string(op) + ": " + name + " has shape " + shape_str(t.shape()) + ", expected " +
                               shape_str(want));
  if (t.device().type != type || t.device() != dev)
    fail(ErrorCode::Device, std::string(op) + ": " + name + " is on " + device_str(t.device()) + ", expected one " +
                                device_type_name(type) + " device (" + device_str(dev) + ")");
  if (!t.is_contiguous()) fail(ErrorCode::Arg, std::string(op) + ": " + name + " must be contiguous");
}

namespace {
struct DwArg {
  const char* name;
  const Tensor* t;  // skipped when null
  Shape want;
};

// The params, the output's dtype, then every tensor against that dtype and the output's device
// (x's device when it is of the kernel's type, so that a message names the device expected).
void check_depthwise_call(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& out,
                          std::initializer_list<DwArg> args) {
  check_depthwise_params(op, p);
  check_conv_dtype(op, out.dtype());
  const Device dev = out.device().type == type ? out.device() : Device{type, 0};
  for (const DwArg& a : args)
    if (a.t) check_conv_tensor(op, a.name, *a.t, a.want, out.dtype(), type, dev);
}
}  // namespace

void check_depthwise_forward(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& x, const Tensor& w,
                             const Tensor* bias, const Tensor& y) {
  check_depthwise_call(op, p, type, y,
                       {{"x", &x, conv_x_shape(p)}, {"w", &w, depthwise_w_shape(p)}, {"bias", bias, {p.c_in}},
                        {"y", &y, conv_y_shape(p)}});
}

void check_depthwise_backward_input(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& dy,
                                    const Tensor& w, const Tensor& dx) {
  check_depthwise_call(op, p, type, dx,
                       {{"dy", &dy, conv_y_shape(p)}, {"w", &w, depthwise_w_shape(p)}, {"dx", &dx, conv_x_shape(p)}});
}

void check_depthwise_backward_weight(const char* op, const Conv2dParams& p, DeviceType type, const Tensor& x,
                                     const Tensor& dy, const Tensor& dw) {
  check_depthwise_call(op, p, type, dw,
                       {{"x", &x, conv_x_shape(p)}, {"dy", &dy, conv_y_shape(p)}, {"dw", &dw, depthwise_w_shape(p)}});
}

}  // namespace advprop
