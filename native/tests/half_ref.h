// References for the 16-bit formats computed without advprop/half.h, shared by half_test.cc (the
// conversions themselves) and half_storage_test.cc (cast, fill and random fills in bf16/f16): a
// bit pattern decoded from its fields with ldexp, and a double rounded to the format by scaling
// and nearbyint.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "advprop/half.h"

namespace advprop {
namespace test {

// A 16-bit format: mant fraction bits, emin the smallest normal exponent, emax the largest.
struct Format {
  int mant, emin, emax;
  uint16_t (*from_f32)(float);
  uint16_t (*from_f64)(double);
  float (*to_f32)(uint16_t);
};
inline const Format kBf16{7, -126, 127, f32_to_bf16_bits, f64_to_bf16_bits, bf16_bits_to_f32};
inline const Format kF16{10, -14, 15, f32_to_f16_bits, f64_to_f16_bits, f16_bits_to_f32};

// The value of a bit pattern from its fields, in double (exact).
inline double decode(const Format& f, uint16_t b) {
  const int ebits = 15 - f.mant;
  const int bias = (1 << (ebits - 1)) - 1;
  const int e = (b >> f.mant) & ((1 << ebits) - 1);
  const int m = b & ((1 << f.mant) - 1);
  const double s = (b & 0x8000) ? -1.0 : 1.0;
  if (e == (1 << ebits) - 1) return m ? std::numeric_limits<double>::quiet_NaN() : s * INFINITY;
  if (e == 0) return s * std::ldexp(m, f.emin - f.mant);
  return s * std::ldexp(m + (1 << f.mant), e - bias - f.mant);
}

// x rounded to the format by scaling in double: q = x / ulp is exact, nearbyint rounds it to an
// integer with ties to even. Overflow past the largest finite value (max + half an ulp and above)
// is infinity.
inline double reference(const Format& f, double x) {
  if (std::isnan(x) || std::isinf(x) || x == 0) return x;
  const int e = std::max(std::ilogb(x), f.emin);
  const double ulp = std::ldexp(1.0, e - f.mant);
  const double r = std::nearbyint(x / ulp) * ulp;
  const double max = std::ldexp(2.0 - std::ldexp(1.0, -f.mant), f.emax);
  if (std::fabs(r) > max) return std::copysign(INFINITY, x);
  return r == 0 ? std::copysign(0.0, x) : r;
}

// Equal values with equal signs (so -0 differs from 0); NaN matches any NaN.
inline bool same_value(double got, double want) {
  if (std::isnan(want)) return std::isnan(got);
  return got == want && std::signbit(got) == std::signbit(want);
}

}  // namespace test
}  // namespace advprop
