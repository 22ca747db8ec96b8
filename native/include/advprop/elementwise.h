// Elementwise kernels: fill, copy/cast, binary arithmetic with periodic broadcast, and the
// pointwise activations with their backward. Every backend implements the same list
// (ADVPROP_ELEMENTWISE_KERNELS) with the same semantics; native/cpu/elementwise.cc is the
// reference. All tensors are contiguous and on one device (the front-ends in native/ops check).
#pragma once
#include "advprop/enum_table.h"
#include "advprop/tensor.h"

namespace advprop {

// The op lists: each generates its enum (values in list order), the names the binding accepts
// and TypeScript uses (the addon exports them: opNames), and the cpu and cuda dispatch. The math
// of every op is in advprop/pointwise.h, shared by the backends.
// X(id, name)
#define ADVPROP_BINARY_OPS(X) X(add, "add") X(sub, "sub") X(mul, "mul") X(div, "div")
// X(id, name, costly): y = f(x; alpha). scale: alpha*x; add_scalar: x+alpha; square: x*x; the rest
// as named. costly: a libm-class function per element (the cpu's parallel grain is smaller).
#define ADVPROP_UNARY_OPS(X)      \
  X(scale, "scale", false)         \
  X(add_scalar, "addScalar", false) \
  X(silu, "silu", true)            \
  X(sigmoid, "sigmoid", true)      \
  X(relu, "relu", false)           \
  X(exp, "exp", true)              \
  X(log, "log", true)              \
  X(square, "square", false)       \
  X(neg, "neg", false)

ADVPROP_ENUM(BinaryOp, "binary op", ADVPROP_BINARY_OPS);
ADVPROP_ENUM(UnaryOp, "unary op", ADVPROP_UNARY_OPS);
ADVPROP_ENUM_COLUMN(UnaryOp, ADVPROP_UNARY_OPS, bool, unary_op_costly, COL3)
inline const char* binary_op_name(BinaryOp op) { return enum_name(op); }
inline const char* unary_op_name(UnaryOp op) { return enum_name(op); }

// fill:      out[i] = value (f32, f64, i32, bf16, f16).
// cast:      dst[i] = (dst type) src[i]; any pair of f32, f64, i32, bf16, f16; same numel. The
//            element conversion is advprop::convert (pointwise.h): to bf16/f16 rounded once to
//            nearest even, float to i32 truncated and saturated as cvt.rzi.s32.
// binary:    out[i] = a[i % a.numel] op b[i % b.numel]; out.numel is a multiple of both, all of one
//            dtype: f32, f64, bf16 or f16. Covers same-shape, per-channel [C] over NHWC (C is the
//            innermost axis) and scalar operands, on either side.
// unary:     out[i] = f(x[i]; alpha).
// unary_backward: dx[i] = dy[i] * f'(x[i]; alpha), from the forward input x.
// binary, unary and unary_backward take bf16 and f16 as well: elements widened to f32, the
// formula in f32 (alpha an f32, not rounded to 16 bits) and one rounding on the store, with the
// C library's expf/logf on every backend, so cpu and cuda-sim give the same bits.
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
