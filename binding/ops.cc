// Op entries: parse arguments, call advprop::ops, wrap the result. No math here.
#include <string>

#include "advprop/epilogue.h"
#include "advprop/ops.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {

using advprop::Tensor;
namespace ops = advprop::ops;

namespace {

// Convolution options arrive as (stride [h, w], dilation [h, w], groups, padding) where padding
// is 'same', 'valid' or [top, bottom, left, right].
ops::Conv2dOptions to_conv_options(const Napi::CallbackInfo& info, size_t first, const char* op) {
  ops::Conv2dOptions o;
  advprop::Shape stride = to_shape(info[first], op, "stride"), dil = to_shape(info[first + 1], op, "dilation");
  if (stride.size() != 2 || dil.size() != 2) throw_arg(std::string(op) + ": stride and dilation must be [h, w]");
  o.stride_h = stride[0], o.stride_w = stride[1], o.dil_h = dil[0], o.dil_w = dil[1];
  o.groups = to_i64(info[first + 2], op, "groups");
  Napi::Value pad = info[first + 3];
  if (pad.IsString()) {
    std::string s = pad.As<Napi::String>().Utf8Value();
    if (s == "same") o.padding = ops::Conv2dOptions::Padding::same;
    else if (s == "valid") o.padding = ops::Conv2dOptions::Padding::valid;
    else throw_arg(std::string(op) + ": padding must be 'same', 'valid' or [top, bottom, left, right], got '" + s + "'");
  } else {
    advprop::Shape p4 = to_shape(pad, op, "padding");
    if (p4.size() != 4) throw_arg(std::string(op) + ": explicit padding must be [top, bottom, left, right]");
    o.padding = ops::Conv2dOptions::Padding::explicit_;
    for (int i = 0; i < 4; ++i) o.pad[i] = p4[i];
  }
  return o;
}

// (dy, w or x, the other operand's shape, stride, dilation, groups, padding) -> dx or dw.
Napi::Value conv_backward(const Napi::CallbackInfo& info, const char* op, const char* operand, const char* shape,
                          Tensor (*fn)(const Tensor&, const Tensor&, const advprop::Shape&, const ops::Conv2dOptions&)) {
  check_arg_count(info, 7, op);
  return wrap(info, fn(TensorHandle::From(info, 0, op, "dy"), TensorHandle::From(info, 1, op, operand),
                       to_shape(info[2], op, shape), to_conv_options(info, 3, op)));
}

// rand / randn: (shape, dtype, device, seed, offset, a, b), where a and b are the distribution's.
Napi::Value random_fill(const Napi::CallbackInfo& info, const char* op, const char* a, const char* b,
                        Tensor (*fn)(const advprop::Shape&, advprop::DType, advprop::Device, uint64_t, uint64_t, double,
                                     double)) {
  check_arg_count(info, 7, op);
  return wrap(info, fn(to_shape(info[0], op, "shape"), to_dtype(info[1], op, "dtype"), to_device(info[2], op, "device"),
                       to_seed(info[3], op, "seed"), to_seed(info[4], op, "offset"), to_number(info[5], op, a),
                       to_number(info[6], op, b)));
}

}  // namespace

ADVPROP_ENTRY(Conv2d)
  check_arg_count(info, 7, "conv2d");
  const Tensor& x = TensorHandle::From(info, 0, "conv2d", "x");
  const Tensor& w = TensorHandle::From(info, 1, "conv2d", "w");
  return wrap(info, ops::conv2d(x, w, to_optional_tensor(info, 2, "conv2d", "b"), to_conv_options(info, 3, "conv2d")));
ADVPROP_ENTRY_END

// (x, w, gamma, beta, runningMean, runningVar, domain, eps, act, residual | null, conv options,
// xScale | null[, pool[, xAffine | null]]) -> y, or [y, globalAvgPool(y)] when pool is true:
// the inference convolution with the eval batch norm in its epilogue (advprop/epilogue.h).
ADVPROP_ENTRY(Conv2dBnEval)
  const char* op = "conv2dBnEval";
  check_arg_count(info, 15, op);
  const bool pool = info.Length() > 15 && to_bool(info[15], op, "pool");
  const Tensor* x_affine = info.Length() > 16 ? to_optional_tensor(info, 16, op, "xAffine") : nullptr;
  const Tensor& x = TensorHandle::From(info, 0, op, "x");
  const Tensor& w = TensorHandle::From(info, 1, op, "w");
  const Tensor& gamma = TensorHandle::From(info, 2, op, "gamma");
  const Tensor& beta = TensorHandle::From(info, 3, op, "beta");
  const Tensor& rm = TensorHandle::From(info, 4, op, "runningMean");
  const Tensor& rv = TensorHandle::From(info, 5, op, "runningVar");
  const int64_t domain = to_i64(info[6], op, "domain");
  const double eps = to_number(info[7], op, "eps");
  const auto act = to_enum<advprop::BnAct>(info[8], op, "act");
  const Tensor* residual = to_optional_tensor(info, 9, op, "residual");
  advprop::Tensor pooled;
  advprop::Tensor y = ops::conv2d_bn_eval(x, w, gamma, beta, rm, rv, domain, eps, act, residual, to_conv_options(info, 10, op),
                                          to_optional_tensor(info, 14, op, "xScale"), pool ? &pooled : nullptr, x_affine);
  return pool ? wrap_all(info, {y, pooled}) : wrap(info, y);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Conv2dBackwardInput)
  return conv_backward(info, "conv2dBackwardInput", "w", "xShape", ops::conv2d_backward_input);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Conv2dBackwardWeight)
  return conv_backward(info, "conv2dBackwardWeight", "x", "wShape", ops::conv2d_backward_weight);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Full)
  check_arg_count(info, 4, "full");
  return wrap(info, ops::full(to_shape(info[0], "full", "shape"), to_dtype(info[1], "full", "dtype"),
                              to_device(info[2], "full", "device"), to_number(info[3], "full", "value")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Uniform)
  return random_fill(info, "rand", "lo", "hi", ops::uniform);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Normal)
  return random_fill(info, "randn", "mean", "std", ops::normal);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Binary)
  check_arg_count(info, 3, "binary");
  auto op = to_enum<advprop::BinaryOp>(info[0], "binary", "op");
  const char* name = advprop::binary_op_name(op);
  return wrap(info, ops::binary(op, TensorHandle::From(info, 1, name, "a"), TensorHandle::From(info, 2, name, "b")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Unary)
  check_arg_count(info, 3, "unary");
  auto op = to_enum<advprop::UnaryOp>(info[0], "unary", "op");
  const char* name = advprop::unary_op_name(op);
  return wrap(info, ops::unary(op, TensorHandle::From(info, 1, name, "x"), to_number(info[2], name, "alpha")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(UnaryBackward)
  check_arg_count(info, 4, "unaryBackward");
  auto op = to_enum<advprop::UnaryOp>(info[0], "unaryBackward", "op");
  const char* name = advprop::unary_op_name(op);
  return wrap(info, ops::unary_backward(op, TensorHandle::From(info, 1, name, "x"),
                                        TensorHandle::From(info, 2, name, "dy"), to_number(info[3], name, "alpha")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Sum)
  check_arg_count(info, 4, "sum");
  const Tensor& x = TensorHandle::From(info, 0, "sum", "x");
  return wrap(info, ops::sum(x, to_axes(info[1], "sum", "axes"), to_bool(info[2], "sum", "keepdims"),
                             to_bool(info[3], "sum", "mean")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(SumBackward)
  check_arg_count(info, 4, "sumBackward");
  const Tensor& dy = TensorHandle::From(info, 0, "sumBackward", "dy");
  return wrap(info, ops::sum_backward(dy, to_shape(info[1], "sumBackward", "xShape"),
                                      to_axes(info[2], "sumBackward", "axes"), to_bool(info[3], "sumBackward", "mean")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(SumToShape)
  check_arg_count(info, 2, "sumToShape");
  const Tensor& g = TensorHandle::From(info, 0, "sumToShape", "grad");
  advprop::Shape shape = to_shape(info[1], "sumToShape", "shape");
  Tensor r = ops::sum_to_shape(g, shape);
  bool same_storage = r.storage() == g.storage();
  return same_storage ? wrap_view(info, r) : wrap(info, r);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Linear)
  check_arg_count(info, 3, "linear");
  const Tensor& x = TensorHandle::From(info, 0, "linear", "x");
  const Tensor& w = TensorHandle::From(info, 1, "linear", "w");
  return wrap(info, ops::linear(x, w, to_optional_tensor(info, 2, "linear", "b")));
ADVPROP_ENTRY_END

// (pooled, w1, b1, w2, b2) -> squeeze-excite's gate [N, C] (ops::squeeze_excite_gate).
ADVPROP_ENTRY(SeGate)
  const char* op = "seGate";
  check_arg_count(info, 5, op);
  return wrap(info, ops::squeeze_excite_gate(TensorHandle::From(info, 0, op, "pooled"), TensorHandle::From(info, 1, op, "w1"),
                                             TensorHandle::From(info, 2, op, "b1"), TensorHandle::From(info, 3, op, "w2"),
                                             TensorHandle::From(info, 4, op, "b2")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(LinearBackwardInput)
  return two_tensors(info, "linearBackwardInput", "dy", "w", ops::linear_backward_input);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(LinearBackwardWeight)
  return two_tensors(info, "linearBackwardWeight", "dy", "x", ops::linear_backward_weight);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Reshape)
  check_arg_count(info, 2, "reshape");
  const Tensor& x = TensorHandle::From(info, 0, "reshape", "x");
  return wrap_view(info, ops::reshape(x, to_shape(info[1], "reshape", "shape", true)));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Slice0)
  check_arg_count(info, 3, "slice");
  const Tensor& x = TensorHandle::From(info, 0, "slice", "x");
  const int64_t big = int64_t(1) << 48;
  return wrap_view(info, ops::slice0(x, to_int(info[1], "slice", "start", 0, big), to_int(info[2], "slice", "len", 0, big)));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Concat0)
  check_arg_count(info, 1, "concat");
  return wrap(info, ops::concat0(to_tensors(info[0], "concat", "xs")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Slice0Backward)
  check_arg_count(info, 3, "sliceBackward");
  const Tensor& dy = TensorHandle::From(info, 0, "sliceBackward", "dy");
  const int64_t big = int64_t(1) << 48;
  int64_t rows = to_int(info[1], "sliceBackward", "rows", 0, big);
  int64_t start = to_int(info[2], "sliceBackward", "start", 0, big);
  return wrap(info, ops::slice0_backward(dy, rows, start));
ADVPROP_ENTRY_END

}  // namespace advprop_binding
