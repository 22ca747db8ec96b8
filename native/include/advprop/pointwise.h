// Pointwise math that the cpu and cuda kernels share, so that each formula, and with it every
// rounding point, is written once: the elementwise ops of ADVPROP_BINARY_OPS / ADVPROP_UNARY_OPS,
// the activations fused into batch norm (ADVPROP_BN_ACTS) and float-to-int conversion.
//
// What legitimately differs between backends comes in as a math policy M (StdMath below is the
// common one; a backend overrides what it computes its own way):
//   M::exp(x), M::log(x)    the backend's exp and log (the cpu's f32 exp is its own polynomial)
//   M::exp_neg_abs(x)       e^-|x| (cpu batch norm clamps it to 0 below e^-87)
//   M::select_neg(z, a, b)  z < 0 ? a : b (cpu batch norm selects on the sign bit so that g++
//                           vectorises it; -0 and NaN may pick either side where a == b or both
//                           are NaN)
//   M::bn_silu(z)           which of the silu formulas below batch norm uses on this backend
// Every per-op template ends in a static_assert, so an op added to a list without its math here
// fails to compile on every backend.
#pragma once
#include <math.h>  // ::expf, ::exp, ...: the names the CUDA math API also declares for the device

#include <cstdint>
#include <limits>
#include <type_traits>

#include "advprop/batchnorm.h"
#include "advprop/elementwise.h"
#include "advprop/half.h"
#include "advprop/hostdevice.h"
#include "advprop/round_ops.h"

namespace advprop {

struct TernarySelect {
  template <typename T>
  ADVPROP_HD static T select_neg(T z, T a, T b) {
    return z < T(0) ? a : b;
  }
};

// The C library's functions, on the host and (through CUDA's math API) on the device: the policy
// of the cuda kernels, of the cpu's f64 path and of the native tests' references. A formula that
// needs a new function (tanh, say) adds it here, once for every backend.
struct StdMath : TernarySelect {
  ADVPROP_HD static float exp(float x) { return ::expf(x); }
  ADVPROP_HD static double exp(double x) { return ::exp(x); }
  ADVPROP_HD static float log(float x) { return ::logf(x); }
  ADVPROP_HD static double log(double x) { return ::log(x); }
  template <typename T>
  ADVPROP_HD static T exp_neg_abs(T x) {
    return exp(x < T(0) ? x : -x);
  }
};

// s = sigmoid(z) and sn = 1 - s = sigmoid(-z) from one e^-|z|. Forming 1 - s by subtraction would
// lose every digit of the gradient once s rounds to 1 (z above ~9 in f32, ~37 in f64). e * d
// feeds both selects so that g++ cannot move it under a condition (see exp_f32 in cpu/simd.h).
template <typename M, typename T>
ADVPROP_HD void sigmoid_pair(T z, T& s, T& sn) {
  const T e = M::exp_neg_abs(z);  // in (0, 1]
  const T d = T(1) / (T(1) + e);
  const T ed = e * d;
  s = M::select_neg(z, ed, d);
  sn = M::select_neg(z, d, ed);
}

template <typename M, typename T>
ADVPROP_HD T sigmoid(T x) {
  return T(1) / (T(1) + M::exp(-x));
}

// Three ways to write silu, each kept by the kernels that use it (changing one changes its bits):
// x * sigmoid(x) for the unary op on every backend;
template <typename M, typename T>
ADVPROP_HD T silu_by_sigmoid(T x) {
  return x * sigmoid<M>(x);
}
// z / (1 + e^-z) for batch norm on cuda;
template <typename M, typename T>
ADVPROP_HD T silu_by_division(T z) {
  return z / (T(1) + M::exp(-z));
}
// (z < 0 ? z * e : z) / (1 + e) with e = e^-|z| <= 1 for batch norm on the cpu, whose e^-|z| is
// the clamped polynomial.
template <typename M, typename T>
ADVPROP_HD T silu_from_neg_abs(T z) {
  const T e = M::exp_neg_abs(z);
  return M::select_neg(z, z * e, z) / (T(1) + e);
}

// dy * silu'(z) = dy * s * (1 + z * (1 - s)).
template <typename M, typename T>
ADVPROP_HD T silu_grad(T z, T dy) {
  T s, sn;
  sigmoid_pair<M>(z, s, sn);
  return dy * (s * (T(1) + z * sn));
}

template <typename M, typename T>
ADVPROP_HD T sigmoid_grad(T z, T dy) {
  T s, sn;
  sigmoid_pair<M>(z, s, sn);
  return dy * (s * sn);
}

// `x < 0 ? 0 : x` rather than max(x, 0): a NaN passes through instead of being hidden, and -0
// stays -0. relu'(0) = 0, so a unit sitting exactly at the kink passes no gradient.
template <typename T>
ADVPROP_HD T relu(T x) {
  return x < T(0) ? T(0) : x;
}
template <typename T>
ADVPROP_HD T relu_grad(T x, T dy) {
  return x > T(0) ? dy : T(0);
}

template <BinaryOp OP, typename T>
ADVPROP_HD T binary_apply(T a, T b) {
  if constexpr (OP == BinaryOp::add) return a + b;
  else if constexpr (OP == BinaryOp::sub) return a - b;
  else if constexpr (OP == BinaryOp::mul) return a * b;
  else if constexpr (OP == BinaryOp::div) return a / b;
  else static_assert(kNoCaseFor<OP>, "a BinaryOp without its formula");
}

// y = f(x; alpha), alpha already rounded to T.
template <UnaryOp OP, typename M, typename T>
ADVPROP_HD T unary_op_forward(T x, T alpha) {
  if constexpr (OP == UnaryOp::scale) return alpha * x;
  else if constexpr (OP == UnaryOp::add_scalar) return x + alpha;
  else if constexpr (OP == UnaryOp::silu) return silu_by_sigmoid<M>(x);
  else if constexpr (OP == UnaryOp::sigmoid) return sigmoid<M>(x);
  else if constexpr (OP == UnaryOp::relu) return relu(x);
  else if constexpr (OP == UnaryOp::exp) return M::exp(x);
  else if constexpr (OP == UnaryOp::log) return M::log(x);
  else if constexpr (OP == UnaryOp::square) return x * x;
  else if constexpr (OP == UnaryOp::neg) return -x;
  else static_assert(kNoCaseFor<OP>, "a UnaryOp without its forward");
}

// dy * f'(x), from the forward input x.
template <UnaryOp OP, typename M, typename T>
ADVPROP_HD T unary_op_backward(T x, T dy, T alpha) {
  if constexpr (OP == UnaryOp::scale) return dy * alpha;
  else if constexpr (OP == UnaryOp::add_scalar) return dy;
  else if constexpr (OP == UnaryOp::silu) return silu_grad<M>(x, dy);
  else if constexpr (OP == UnaryOp::sigmoid) return sigmoid_grad<M>(x, dy);
  else if constexpr (OP == UnaryOp::relu) return relu_grad(x, dy);
  else if constexpr (OP == UnaryOp::exp) return dy * M::exp(x);
  else if constexpr (OP == UnaryOp::log) return dy / x;
  else if constexpr (OP == UnaryOp::square) return dy * (x + x);
  else if constexpr (OP == UnaryOp::neg) return -dy;
  else static_assert(kNoCaseFor<OP>, "a UnaryOp without its backward");
}

// The activation fused into batch norm, applied to z = gamma * xhat + beta.
template <BnAct ACT, typename M, typename T>
ADVPROP_HD T bn_act_forward(T z) {
  if constexpr (ACT == BnAct::none) return z;
  else if constexpr (ACT == BnAct::silu) return M::bn_silu(z);
  else if constexpr (ACT == BnAct::relu) return relu(z);
  else static_assert(kNoCaseFor<ACT>, "a BnAct without its forward");
}

template <BnAct ACT, typename M, typename T>
ADVPROP_HD T bn_act_backward(T z, T dy) {
  if constexpr (ACT == BnAct::none) return dy;
  else if constexpr (ACT == BnAct::silu) return silu_grad<M>(z, dy);
  else if constexpr (ACT == BnAct::relu) return relu_grad(z, dy);
  else static_assert(kNoCaseFor<ACT>, "a BnAct without its backward");
}

// The same with the activation chosen at run time (kernels that take it as an argument); the
// switch is generated from the list, and the front-end has rejected values outside it.
#define ADVPROP_BN_ACT_FORWARD_CASE_(id, ...) \
  case BnAct::id: return bn_act_forward<BnAct::id, M>(z);
#define ADVPROP_BN_ACT_BACKWARD_CASE_(id, ...) \
  case BnAct::id: return bn_act_backward<BnAct::id, M>(z, dy);
template <typename M, typename T>
ADVPROP_HD T bn_act_forward(BnAct act, T z) {
  switch (act) { ADVPROP_BN_ACTS(ADVPROP_BN_ACT_FORWARD_CASE_) }
  ADVPROP_UNREACHABLE();
}
template <typename M, typename T>
ADVPROP_HD T bn_act_backward(BnAct act, T z, T dy) {
  switch (act) { ADVPROP_BN_ACTS(ADVPROP_BN_ACT_BACKWARD_CASE_) }
  ADVPROP_UNREACHABLE();
}
#undef ADVPROP_BN_ACT_FORWARD_CASE_
#undef ADVPROP_BN_ACT_BACKWARD_CASE_

// x * s stored as T, the product in T's arithmetic type (f32 for bf16 and f16).
template <typename T>
ADVPROP_HD T mul_store(T x, Accum<T> s) {
  return from_accum<T>(mul_rn(to_accum(x), s));
}
// mul_store(x, s) + r stored as T: the product is rounded to T before the add, in every dtype, so
// a fused "scale and add" kernel equals the product op followed by the add op bit for bit.
template <typename T>
ADVPROP_HD T mul_store_add(T x, Accum<T> s, T r) {
  return from_accum<T>(add_rn(to_accum(mul_store(x, s)), to_accum(r)));
}

template <typename T>
constexpr bool is_half_type = std::is_same<T, bf16>::value || std::is_same<T, f16>::value;

// One element from storage type S to storage type D (cast and fill), the same bits on every
// backend. Float to int32 the way CUDA's cvt.rzi.s32 does it: truncate toward zero, saturate
// outside int32, NaN becomes 0 (a bare C cast would be undefined behaviour for those inputs on the
// host). To bf16/f16: rounded once to nearest even (half.h), from f64 directly and from int32
// through its exact double. From bf16/f16: widened exactly to f32 and converted from there, so a
// 16-bit value becomes int32 as the same f32 value does.
template <typename D, typename S>
ADVPROP_HD D convert(S v) {
  if constexpr (std::is_same<D, S>::value) {
    return v;
  } else if constexpr (is_half_type<S>) {
    return convert<D>(to_f32(v));
  } else if constexpr (is_half_type<D>) {
    using Wide = typename std::conditional<std::is_same<S, float>::value, float, double>::type;
    if constexpr (std::is_same<D, bf16>::value) return to_bf16(static_cast<Wide>(v));
    else return to_f16(static_cast<Wide>(v));
  } else if constexpr (std::is_same<D, int32_t>::value && std::is_floating_point<S>::value) {
    if (!(v == v)) return D(0);
    if (v <= S(-2147483648.0)) return D(-2147483647 - 1);
    if (v >= S(2147483647.0)) return D(2147483647);
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace advprop
