// Views and copies along the batch axis.
#include <string>

#include "advprop/ops.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  check_defined(x, "reshape", "x");
  Shape shape = shape_in;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail(ErrorCode::Shape, "reshape: more than one -1 in " + shape_str(shape_in));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      fail(ErrorCode::Shape, "reshape: negative size in " + shape_str(shape_in));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      fail(ErrorCode::Shape, "reshape: cannot view x " + shape_str(x.shape()) + " as " + shape_str(shape_in));
    shape[infer] = x.numel() / known;
  }
  return x.reshape(shape);
}

Tensor slice0(const Tensor& x, int64_t start, int64_t len) {
  check_defined(x, "slice", "x");
  return x.slice0(start, len);
}

Tensor concat0(const std::vector<Tensor>& xs) {
  if (xs.empty()) fail(ErrorCode::Arg, "concat: needs at least one tensor");
  for (size_t i = 0; i < xs.size(); ++i) {
    std::string arg = "xs[" + std::to_string(i) + "]";
    check_defined(xs[i], "concat", arg.c_str());
    check_contiguous(xs[i], "concat", arg.c_str());
    if (xs[i].ndim() == 0) fail(ErrorCode::Shape, "concat: " + arg + " is 0-d");
    check_same_device(xs[0], xs[i], "concat", "xs[0]", arg.c_str());
    check_same_dtype(xs[0], xs[i], "concat", "xs[0]", arg.c_str());
    Shape a(xs[0].shape().begin() + 1, xs[0].shape().end());
    Shape b(xs[i].shape().begin() + 1, xs[i].shape().end());
    if (a != b || xs[i].ndim() != xs[0].ndim())
      fail(ErrorCode::Shape, "concat: xs[0] " + shape_str(xs[0].shape()) + " and " + arg + " " +
                                 shape_str(xs[i].shape()) + " differ beyond axis 0");
  }
  require_device(xs[0].device(), "concat");
  Shape shape = xs[0].shape();
  shape[0] = 0;
  for (const Tensor& t : xs) shape[0] += t.dim(0);
  Tensor out = Tensor::empty(shape, xs[0].dtype(), xs[0].device());
  DeviceBackend& be = backend(out.device().type);
  int64_t row = 0;
  for (const Tensor& t : xs) {
    if (t.numel()) be.copy_on_device(out.slice0(row, t.dim(0)).data(), t.data(), t.nbytes(), out.device().index);
    row += t.dim(0);
  }
  return out;
}

Tensor slice0_backward(const Tensor& dy, int64_t rows, int64_t start) {
  check_defined(dy, "sliceBackward", "dy");
  check_contiguous(dy, "sliceBackward", "dy");
  if (dy.ndim() == 0) fail(ErrorCode::Shape, "sliceBackward: dy is 0-d");
  // Before allocating `rows` rows, so that a misfit costs nothing and names this op.
  if (rows < 0 || start < 0 || start + dy.dim(0) > rows)
    fail(ErrorCode::Shape, "sliceBackward: dy " + shape_str(dy.shape()) + " at row " + std::to_string(start) +
                               " does not fit in " + std::to_string(rows) + " rows");
  Shape shape = dy.shape();
  shape[0] = rows;
  Tensor out = full(shape, dy.dtype(), dy.device(), 0.0);
  Tensor dst = out.slice0(start, dy.dim(0));  // throws ERR_SHAPE when it does not fit
  if (dy.numel()) backend(out.device().type).copy_on_device(dst.data(), dy.data(), dy.nbytes(), out.device().index);
  return out;
}

}  // namespace ops
}  // namespace advprop
