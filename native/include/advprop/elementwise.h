// Elementwise kernels: fill, copy/cast, binary arithmetic with periodic broadcast, and the
// pointwise activations with their backward. Every backend implements the same list
// (ADVPROP_ELEMENTWISE_KERNELS) with the same semantics; native/cpu/elementwise.cc is the
// reference. All tensors are contiguous and on one device (the front-ends in native/ops check).
#pragma once
#include "advprop/tensor.h"

namespace advprop {

enum class BinaryOp : int { add = 0, sub = 1, mul = 2, div = 3 };
// y = f(x; alpha). scale: alpha*x; add_scalar: x+alpha; square: x*x; the rest as named.
enum class UnaryOp : int {
  scale = 0, add_scalar = 1, silu = 2, sigmoid = 3, relu = 4, exp = 5, log = 6, square = 7, neg = 8
};

const char* binary_op_name(BinaryOp op);
const char* unary_op_name(UnaryOp op);

// fill:      out[i] = value (f32, f64, i32).
// cast:      dst[i] = (dst type) src[i]; any pair of f32, f64, i32; same numel.
// binary:    out[i] = a[i % a.numel] op b[i % b.numel]; out.numel is a multiple of both, all f32 or
//            all f64. Covers same-shape, per-channel [C] over NHWC (C is the innermost axis) and
//            scalar operands, on either side.
// unary:     out[i] = f(x[i]; alpha).
// unary_backward: dx[i] = dy[i] * f'(x[i]; alpha), from the forward input x.
#define ADVPROP_ELEMENTWISE_KERNELS                                                         \
  void fill(Tensor& out, double value);                                                    \
  void cast(const Tensor& src, Tensor& dst);                                               \
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);                 \
  void unary(UnaryOp op, const Tensor& x, double alpha, Tensor& out);                      \
  void unary_backward(UnaryOp op, const Tensor& x, const Tensor& dy, double alpha, Tensor& dx);

namespace cpu { ADVPROP_ELEMENTWISE_KERNELS }
namespace cuda { ADVPROP_ELEMENTWISE_KERNELS }
namespace cudasim { ADVPROP_ELEMENTWISE_KERNELS }

}  // namespace advprop
