// The checked native API: every function validates its arguments (shapes, dtypes, devices,
// contiguity) and throws advprop::Error naming the op, the argument and the shapes, then
// allocates outputs and dispatches to the cpu, cuda or cuda-sim kernel. The Node binding and
// the C API call only these.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/elementwise.h"
#include "advprop/enum_table.h"
#include "advprop/tensor.h"

namespace advprop {

// X(id, name): the padding rules of a convolution (Conv2dOptions). The C API's ADVPROP_PAD_*
// numbers follow this list.
#define ADVPROP_CONV_PADDINGS(X) X(same, "same") X(valid, "valid") X(explicit_, "explicit")
ADVPROP_ENUM(ConvPadding, "padding", ADVPROP_CONV_PADDINGS);

namespace ops {

// Creation and movement.
Tensor full(const Shape& shape, DType dtype, Device device, double value);
Tensor from_host(const void* data, size_t bytes, const Shape& shape, DType dtype, Device device);
void to_host(const Tensor& t, void* dst, size_t bytes);
Tensor to_device(const Tensor& t, Device device);
Tensor clone(const Tensor& t);
Tensor cast(const Tensor& t, DType dtype);

// Random fills (Philox; identical on every backend for the same seed and offset).
Tensor uniform(const Shape& shape, DType dtype, Device device, uint64_t seed, uint64_t offset,
               double lo, double hi);
Tensor normal(const Shape& shape, DType dtype, Device device, uint64_t seed, uint64_t offset,
              double mean, double std);

// Arithmetic. The smaller operand broadcasts when its shape, without leading 1s, equals the
// trailing dimensions of the larger one (same shape, per-channel [C] over NHWC, scalar).
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor unary(UnaryOp op, const Tensor& x, double alpha);
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& dy, double alpha);

// Sum (or mean) over `axes` (negative counts from the end; empty = all axes).
Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims, bool mean);
// The gradient of sum(x, axes, keepdims, mean): dy spread back over x_shape (dy may or may not
// keep the reduced axes).
Tensor sum_backward(const Tensor& dy, const Shape& x_shape, const std::vector<int>& axes, bool mean);
// Sums `grad` (shape of the broadcast result) down to `shape`, the smaller operand's shape.
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

// Fully connected layer: y[N, out] = x[N, in] · w[out, in]^T (+ b[out]), and its two input
// gradients (the bias gradient is sum(dy, {0})). All run as one GEMM (gemm.h).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b);
Tensor linear_backward_input(const Tensor& dy, const Tensor& w);   // dx = dy · w
Tensor linear_backward_weight(const Tensor& dy, const Tensor& x);  // dw = dy^T · x
// Squeeze-excite's gate sigmoid(linear(silu(linear(pooled, w1, b1)), w2, b2)) [N, C] from the
// pool [N, C]: those four ops in that order (their bits), for inference. w1 [R, C] and w2 [C, R],
// or the 1x1 convolution weights [R, 1, 1, C] and [C, 1, 1, R]; b1 [R], b2 [C].
Tensor squeeze_excite_gate(const Tensor& pooled, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2);

// 2-D convolution, NHWC input [N, H, W, Cin], OHWI weights [Cout, KH, KW, Cin/groups].
// padding: same (TensorFlow: out = ceil(in / stride), the odd pixel at the bottom/right),
// valid, or explicit {top, bottom, left, right}. 1x1 stride-1 convolutions run as one GEMM,
// depthwise ones (groups == Cin == Cout) on their own kernels, the rest as an implicit GEMM.
struct Conv2dOptions {
  using Padding = ConvPadding;
  Padding padding = Padding::same;
  int64_t pad[4] = {0, 0, 0, 0};  // top, bottom, left, right (explicit only)
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, groups = 1;
};
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dOptions& o);
Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dOptions& o);
Tensor conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Shape& w_shape, const Conv2dOptions& o);

// Shape ops along the batch axis. reshape and slice0 return views sharing storage; reshape
// accepts one -1.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor slice0(const Tensor& x, int64_t start, int64_t len);
Tensor concat0(const std::vector<Tensor>& xs);
// The gradient of slice0: a zero tensor with `rows` rows and dy copied into [start, start+len).
Tensor slice0_backward(const Tensor& dy, int64_t rows, int64_t start);

}  // namespace ops
}  // namespace advprop
