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

struct BnMath {
  static float exp_neg_abs(float z) { return exp_neg_abs_f32(z); }
  static double exp_neg_abs(double z) { return std::exp(-std::fabs(z)); }
  static float select_neg(float z, float a, float b) { return select_neg_bits(z, a, b); }
  static double select_neg(double z, double a, double b) { return z < 0 ? a : b; }
  template <typename T>
  static T bn_silu(T z) { return silu_from_neg_abs<BnMath>(z); }
};

}  // namespace cpu
}  // namespace advprop
