// Front-ends of the sums: axes, output shapes and the ReducePlan the backends run.
#include <algorithm>
#include <string>

#include "advprop/ops.h"
#include "advprop/reduce.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {

ReducePlan make_reduce_plan(const Shape& shape, const std::vector<int>& axes) {
  const int nd = static_cast<int>(shape.size());
  auto bad = [&](const std::string& why) {
    std::string list = "[";
    for (size_t i = 0; i < axes.size(); ++i) list += (i ? ", " : "") + std::to_string(axes[i]);
    fail(ErrorCode::Arg, "reduce: axes " + list + "] " + why + " for shape " + shape_str(shape));
  };
  if (nd > kMaxDims) bad("cannot be used: more than " + std::to_string(kMaxDims) + " dims");
  bool reduced[kMaxDims] = {};
  for (int a : axes) {
    if (a < 0 || a >= nd) bad("are out of range");
    if (reduced[a]) bad("repeat an axis");
    reduced[a] = true;
  }
  for (int64_t s : shape)
    if (s < 0) bad("cannot be used: negative size");

  // Walk the dims innermost first so strides are known; size-1 dims vanish, and a dim next to
  // one of the same kind folds into it (valid because x is contiguous).
  int64_t ks[kMaxDims], kst[kMaxDims], rs[kMaxDims], rst[kMaxDims];
  int nk = 0, nr = 0, last = -1;  // last: kind of the previous kept dim, 0 kept / 1 reduced
  int64_t stride = 1;
  for (int d = nd - 1; d >= 0; --d) {
    const int64_t size = shape[d];
    if (size != 1) {
      const int kind = reduced[d] ? 1 : 0;
      int64_t* sizes = kind ? rs : ks;
      int64_t* strides = kind ? rst : kst;
      int& n = kind ? nr : nk;
      if (kind == last) {
        sizes[n - 1] *= size;
      } else {
        sizes[n] = size;
        strides[n] = stride;
        ++n;
      }
      last = kind;
    }
    stride *= size;
  }
  // The walk produced innermost-first lists; the plan stores them outermost first.
  ReducePlan p;
  p.n_kept = nk;
  p.n_red = nr;
  for (int i = 0; i < nk; ++i) {
    p.kept_size[i] = ks[nk - 1 - i];
    p.kept_stride[i] = kst[nk - 1 - i];
    p.out_count *= p.kept_size[i];
  }
  for (int i = 0; i < nr; ++i) {
    p.red_size[i] = rs[nr - 1 - i];
    p.red_stride[i] = rst[nr - 1 - i];
    p.reduce_count *= p.red_size[i];
  }
  return p;
}

namespace ops {

namespace {

// Normalises `axes_in` for a tensor of rank nd (empty = all axes); throws ERR_ARG naming `name`.
std::vector<int> normalize_axes(const std::vector<int>& axes_in, const Shape& shape, const char* name) {
  const int nd = static_cast<int>(shape.size());
  std::vector<int> axes;
  if (axes_in.empty()) {
    for (int i = 0; i < nd; ++i) axes.push_back(i);
  } else {
    for (int a : axes_in) {
      int n = a < 0 ? a + nd : a;
      if (n < 0 || n >= nd)
        fail(ErrorCode::Arg, std::string(name) + ": axis " + std::to_string(a) + " out of range for x " +
                                 shape_str(shape));
      if (std::find(axes.begin(), axes.end(), n) != axes.end())
        fail(ErrorCode::Arg, std::string(name) + ": axis " + std::to_string(a) + " repeated");
      axes.push_back(n);
    }
  }
  return axes;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& axes_in, bool keepdims, bool mean) {
  const char* name = mean ? "mean" : "sum";
  check_float_input<MixedFloatTypes>(x, name, "x");
  const int nd = x.ndim();
  std::vector<int> axes = normalize_axes(axes_in, x.shape(), name);
  Shape out_shape;
  int64_t count = 1;
  for (int i = 0; i < nd; ++i) {
    bool red = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (red) {
      count *= x.dim(i);
      if (keepdims) out_shape.push_back(1);
    } else {
      out_shape.push_back(x.dim(i));
    }
  }
  if (mean && count == 0)
    fail(ErrorCode::Shape, std::string("mean: no elements to average in x ") + shape_str(x.shape()));
  ReducePlan plan = make_reduce_plan(x.shape(), axes);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (out.numel()) {
    double scale = mean ? 1.0 / static_cast<double>(count) : 1.0;
    ADVPROP_DISPATCH(x.device(), sum, x, plan, scale, out);
  }
  return out;
}

Tensor sum_backward(const Tensor& dy, const Shape& x_shape, const std::vector<int>& axes_in, bool mean) {
  check_float_input<MixedFloatTypes>(dy, "sumBackward", "dy");
  std::vector<int> axes = normalize_axes(axes_in, x_shape, "sumBackward");
  int64_t n = checked_numel(x_shape, "sumBackward");
  int64_t count = 1;
  for (int a : axes) count *= x_shape[a];
  if (count != 0 && dy.numel() != n / count)
    fail(ErrorCode::Shape, "sumBackward: dy " + shape_str(dy.shape()) + " does not match the reduction of " +
                               shape_str(x_shape) + " over " + std::to_string(axes.size()) + " axes");
  ReducePlan plan = make_reduce_plan(x_shape, axes);
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
  if (count == 0) return dx;  // nothing was summed: x has no elements
  double scale = mean ? 1.0 / static_cast<double>(count) : 1.0;
  if (dx.numel()) ADVPROP_DISPATCH(dy.device(), sum_backward, dy, plan, scale, dx);
  return dx;
}

Tensor sum_to_shape(const Tensor& grad, const Shape& shape) {
  check_float_input<MixedFloatTypes>(grad, "sumToShape", "grad");
  if (grad.shape() == shape) return grad;
  int64_t n = checked_numel(shape, "sumToShape");
  // `shape` must broadcast to grad's shape under the binary ops' rule: without its leading 1s it
  // equals grad's trailing dimensions. A mere divisibility check would accept [2, 3] -> [2].
  size_t lead = 0;
  while (lead < shape.size() && shape[lead] == 1) ++lead;
  const size_t k = shape.size() - lead;
  bool ok = k <= grad.shape().size();
  for (size_t i = 0; ok && i < k; ++i)
    ok = shape[shape.size() - 1 - i] == grad.shape()[grad.shape().size() - 1 - i];
  if (!ok)
    fail(ErrorCode::Shape, "sumToShape: cannot reduce grad " + shape_str(grad.shape()) + " to " + shape_str(shape) +
                               " (it does not broadcast to the grad's shape)");
  // Broadcasting a zero-size operand gave a zero-size result: its gradient has no elements.
  if (n == 0) return Tensor::empty(shape, grad.dtype(), grad.device());
  // The broadcast rule makes the small operand periodic, so the reduction is over the rows of a
  // [numel / n, n] view.
  Tensor rows = grad.reshape({grad.numel() / n, n});
  return sum(rows, {0}, false, false).reshape(shape);
}

}  // namespace ops
}  // namespace advprop
