// Helpers of the bf16/f16 kernel tests (batchnorm_half_test.cc, depthwise_half_test.cc,
// conv_half_test.cc; the others use half_check.h): rounding host tensors to a 16-bit type, widening them back, and the two
// comparisons every such test makes:
// - bitwise: a 16-bit result against the f32 kernel's result for the widened operands, rounded
//   once (what "f32 arithmetic, one rounding on the store" means, where the kernel promises it);
// - within a bound: a result against an f64 reference computed from the rounded inputs, allowed
//   one rounding of the 16-bit type (u |ref|, u = 2^-8 for bf16, 2^-11 for f16) plus the f32
//   arithmetic's own error, given per element by the caller (usually c * sum of |terms|), plus
//   half the smallest f16 subnormal where a result underflows.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/tensor.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace test {
// Its own namespace: half_check.h (the other 16-bit kernel tests) has helpers of the same names.
namespace half_compare {

// Unit roundoff: half an ulp relative to the value.
inline double unit_roundoff(DType dt) {
  switch (dt) {
    case DType::bf16: return std::ldexp(1.0, -8);
    case DType::f16: return std::ldexp(1.0, -11);
    case DType::f32: return std::ldexp(1.0, -24);
    default: return std::ldexp(1.0, -53);
  }
}
// The absolute error a rounding can add near zero (half the smallest subnormal).
inline double underflow_error(DType dt) {
  return dt == DType::f16 ? std::ldexp(1.0, -25) : dt == DType::bf16 ? std::ldexp(1.0, -134) : 0.0;
}

// A cpu tensor of dtype dt holding t's values, each rounded once (elements.h's set).
inline Tensor rounded_to(const Tensor& t, DType dt) {
  Tensor out = Tensor::empty(t.shape(), dt, Device{});
  for (int64_t i = 0; i < t.numel(); ++i) set(out, i, get(t, i));
  return out;
}

// Random values in [lo, hi) as dtype dt (rounded once from f64), a fixed xorshift stream per seed.
inline Tensor random_as(const Shape& s, DType dt, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::empty(s, dt, Device{});
  uint64_t st = seed * 0x9E3779B97F4A7C15ull + 3;
  for (int64_t i = 0; i < t.numel(); ++i) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    set(t, i, lo + (hi - lo) * (static_cast<double>(st >> 11) / 9007199254740992.0));
  }
  return t;
}

inline std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = get(t, i);
  return v;
}

inline std::string bits_str(const Tensor& t, int64_t i) {
  const double v = get(t, i);
  return describe_double(v);
}

// got and want (same dtype and numel) hold the same bytes; names the first elements that differ.
inline void expect_same_bits(const std::string& what, const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype() || got.numel() != want.numel()) {
    record_failure(__FILE__, __LINE__, what + ": dtype or size differs");
    return;
  }
  if (want.nbytes() == 0 || std::memcmp(got.data(), want.data(), want.nbytes()) == 0) return;
  const size_t es = want.nbytes() / static_cast<size_t>(want.numel());
  const auto* a = static_cast<const unsigned char*>(got.data());
  const auto* b = static_cast<const unsigned char*>(want.data());
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < want.numel(); ++i)
    if (std::memcmp(a + i * es, b + i * es, es) != 0 && bad++ < 4)
      first += " [" + std::to_string(i) + "] " + bits_str(got, i) + " vs " + bits_str(want, i) + ";";
  record_failure(__FILE__, __LINE__, what + ": " + std::to_string(bad) + " of " + std::to_string(want.numel()) +
                                         " elements differ:" + first);
}

// |got[i] - want[i]| <= u(dt) |want[i]| + arith[i] + underflow(dt) for every element, dt = got's
// dtype; `rounds` 16-bit roundings are allowed where a result is rounded more than once.
inline void expect_within(const std::string& what, const Tensor& got, const std::vector<double>& want,
                          const std::vector<double>& arith, int rounds = 1) {
  if (got.numel() != static_cast<int64_t>(want.size()) || want.size() != arith.size()) {
    record_failure(__FILE__, __LINE__, what + ": size differs");
    return;
  }
  const double u = unit_roundoff(got.dtype()) * rounds, tiny = underflow_error(got.dtype()) * rounds;
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = get(got, i), allowed = u * std::fabs(want[i]) + arith[i] + tiny;
    if (!(std::fabs(g - want[i]) <= allowed) && bad++ < 4)
      first += " [" + std::to_string(i) + "] got " + describe_double(g) + " want " + describe_double(want[i]) +
               " (allowed " + describe_double(allowed) + ");";
  }
  if (bad)
    record_failure(__FILE__, __LINE__, what + ": " + std::to_string(bad) + " of " + std::to_string(got.numel()) +
                                           " elements off:" + first);
}

// Two results of one 16-bit computation on two backends: within one ulp of the 16-bit type (two
// f32 results a hair apart may round to neighbours) plus the f32 arithmetic's error `arith`.
inline void expect_backends_agree(const std::string& what, const Tensor& got, const Tensor& want,
                                  const std::vector<double>& arith) {
  expect_within(what, got, values_of(want), arith, 2);
}

// arith[i] = c * absum[i].
inline std::vector<double> scaled(const std::vector<double>& absum, double c) {
  std::vector<double> out(absum.size());
  for (size_t i = 0; i < absum.size(); ++i) out[i] = c * absum[i];
  return out;
}

}  // namespace half_compare
}  // namespace test
}  // namespace advprop
