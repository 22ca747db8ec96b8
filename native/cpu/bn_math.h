// The math policy of advprop/pointwise.h for batch norm's fused activation on the cpu, shared by
// the batch norm kernels (batchnorm.cc) and the inference epilogue (epilogue.cc), so that both
// give the same bits: f32 takes the clamped e^-|z| and the sign-bit select (simd.h), which g++
// vectorises in every clone; f64, for gradient checks, takes libm and a plain select.
#pragma once
#include <cmath>

#include "advprop/pointwise.h"
#include "simd.h"

namespace advprop {
namespace cpu {

// FUSED: exp_neg_abs_f32's fused polynomial (simd.h), for the eval-mode forward only (BnMathEval).
template <bool FUSED>
struct BnMathOf {
  static float exp_neg_abs(float z) { return exp_neg_abs_f32<FUSED>(z); }
  static double exp_neg_abs(double z) { return std::exp(-std::fabs(z)); }
  static float select_neg(float z, float a, float b) { return select_neg_bits(z, a, b); }
  static double select_neg(double z, double a, double b) { return z < 0 ? a : b; }
  template <typename T>
  static T bn_silu(T z) { return silu_from_neg_abs<BnMathOf>(z); }
};
// Training's forward and every backward.
using BnMath = BnMathOf<false>;
// The eval-mode forward: batch norm in eval mode and the inference epilogue, so the fused
// inference path keeps the plain eval forward's bits.
using BnMathEval = BnMathOf<true>;

}  // namespace cpu
}  // namespace advprop
