// The 16-bit float storage types, bf16 and f16, and their conversions: one implementation for the
// cpu, for CUDA kernels (host and device) and for cuda-sim, so a value converts to the same bits on
// every backend. No CUDA header is needed; on the GPU, kernels may use <cuda_bf16.h>'s hardware
// conversions instead, which give the same bits (native/sim/cuda_sim_half.h builds the
// simulator's __nv_bfloat16 and __half on these functions).
//
// Semantics (those of CUDA's __float2bfloat16_rn / __float2half_rn and PTX cvt.rn):
// - narrowing rounds to nearest, ties to even; f16 overflows to infinity from 65520 on (the
//   midpoint between its largest finite value 65504 and 65536); f16 has subnormals down to 2^-24;
//   bf16 keeps f32's exponent range, subnormals included;
// - a NaN becomes the canonical quiet NaN 0x7fff (sign and payload dropped, as on the GPU);
// - widening to f32 is exact, NaN payloads included;
// - from f64 the result is rounded once (through a round-to-odd f32, which has enough spare bits
//   that the second rounding cannot go wrong), never f64 -> f32 -> 16 bits with two roundings.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "advprop/hostdevice.h"

namespace advprop {

// Plain storage: 2 bytes, trivially copyable, no arithmetic. Convert to f32 to compute.
struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};
static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2, "16-bit storage types");

namespace half_detail {

ADVPROP_HD uint32_t f32_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}
ADVPROP_HD float f32_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

// x rounded to f32 with round-to-odd: truncated toward zero, with the lowest bit set when
// inexact. A later round-to-nearest-even to 16 bits then equals rounding x directly.
ADVPROP_HD float f64_to_f32_round_odd(double x) {
  const float f = static_cast<float>(x);
  const double d = static_cast<double>(f);
  if (d == x || x != x) return f;
  uint32_t u = f32_bits(f);
  if ((x > 0.0 && d > x) || (x < 0.0 && d < x)) --u;  // rounded away from zero: one step back
  return f32_from_bits(u | 1u);
}

}  // namespace half_detail

// ---- bit patterns -------------------------------------------------------------------------

ADVPROP_HD uint16_t f32_to_bf16_bits(float x) {
  uint32_t u = half_detail::f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;
  // Adding just under half an ulp, plus the ulp's lowest bit, carries exactly when RNE rounds up;
  // a carry out of the largest finite value gives infinity, as it should.
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

ADVPROP_HD float bf16_bits_to_f32(uint16_t b) { return half_detail::f32_from_bits(static_cast<uint32_t>(b) << 16); }

ADVPROP_HD uint16_t f32_to_f16_bits(float x) {
  const uint32_t u = half_detail::f32_bits(x);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7fffu;
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // |x| >= 65520, inf included
  if (a >= 0x38800000u) {                                               // normal: |x| >= 2^-14
    uint32_t r = a - 0x38000000u;                                      // rebias the exponent 127 -> 15
    r += 0x0fffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  if (a <= 0x33000000u) return static_cast<uint16_t>(sign);  // |x| <= 2^-25: rounds to zero (tie to even)
  // Subnormal result: count units of 2^-24. The significand m is worth m * 2^(e - 150).
  const uint32_t e = a >> 23;
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  q += (rem > half || (rem == half && (q & 1u))) ? 1u : 0u;  // may carry into the smallest normal
  return static_cast<uint16_t>(sign | q);
}

ADVPROP_HD float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  if (e == 0x1fu) return half_detail::f32_from_bits(sign | 0x7f800000u | (m << 13));
  if (e != 0) return half_detail::f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
  if (m == 0) return half_detail::f32_from_bits(sign);
  uint32_t exp = 113;  // f32's biased exponent of 2^-14, the subnormals' scale
  while (!(m & 0x400u)) {
    m <<= 1;
    --exp;
  }
  return half_detail::f32_from_bits(sign | (exp << 23) | ((m & 0x3ffu) << 13));
}

ADVPROP_HD uint16_t f64_to_bf16_bits(double x) { return f32_to_bf16_bits(half_detail::f64_to_f32_round_odd(x)); }
ADVPROP_HD uint16_t f64_to_f16_bits(double x) { return f32_to_f16_bits(half_detail::f64_to_f32_round_odd(x)); }

// ---- typed ----------------------------------------------------------------------------------

ADVPROP_HD bf16 to_bf16(float x) { return bf16{f32_to_bf16_bits(x)}; }
ADVPROP_HD bf16 to_bf16(double x) { return bf16{f64_to_bf16_bits(x)}; }
ADVPROP_HD f16 to_f16(float x) { return f16{f32_to_f16_bits(x)}; }
ADVPROP_HD f16 to_f16(double x) { return f16{f64_to_f16_bits(x)}; }
ADVPROP_HD float to_f32(bf16 v) { return bf16_bits_to_f32(v.bits); }
ADVPROP_HD float to_f32(f16 v) { return f16_bits_to_f32(v.bits); }

// tf32, the tensor cores' f32 input format (10 mantissa bits in an f32 pattern): x rounded as
// PTX cvt.rna.tf32.f32 does, to nearest with ties away from zero, the low 13 bits cleared; inf
// stays inf, NaN becomes the canonical 0x7fffffff, and a value that rounds past the largest
// finite tf32 becomes inf. The cpu's tf32 GEMM rounds its inputs with this; native/cuda/ptx.cuh's
// f32_to_tf32 is the instruction itself (the simulator models it with the same arithmetic).
ADVPROP_HD uint32_t f32_bits_to_tf32_rna(uint32_t u) {
  // Integer selects, no branches: the cpu's packing loops vectorise it.
  const uint32_t rounded = (u + 0x1000u) & 0xffffe000u;
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u, inf = (u & 0x7fffffffu) == 0x7f800000u;
  return nan ? 0x7fffffffu : inf ? u : rounded;
}
ADVPROP_HD float round_to_tf32(float x) {
  return half_detail::f32_from_bits(f32_bits_to_tf32_rna(half_detail::f32_bits(x)));
}

// For code templated on its storage type T (float, double, bf16, f16): load_f32 widens an element
// to f32 arithmetic, store_as<T> rounds an f32 result to T (RNE for the 16-bit types).
ADVPROP_HD float load_f32(float v) { return v; }
ADVPROP_HD float load_f32(bf16 v) { return to_f32(v); }
ADVPROP_HD float load_f32(f16 v) { return to_f32(v); }
template <typename T>
ADVPROP_HD T store_as(float x);
template <>
ADVPROP_HD float store_as<float>(float x) {
  return x;
}
template <>
ADVPROP_HD double store_as<double>(float x) {
  return static_cast<double>(x);
}
template <>
ADVPROP_HD bf16 store_as<bf16>(float x) {
  return to_bf16(x);
}
template <>
ADVPROP_HD f16 store_as<f16>(float x) {
  return to_f16(x);
}

// The arithmetic type of a storage type (DESIGN.md, Precision: 16-bit tensors compute in f32):
// f32 for bf16 and f16, the type itself for f32 and f64. A kernel templated on its storage type T
// computes in Accum<T>, reads with to_accum and writes with from_accum<T>, so one body serves
// every dtype and the 16-bit ones round exactly once, on the store.
template <typename T>
struct AccumOf {
  using type = T;
};
template <>
struct AccumOf<bf16> {
  using type = float;
};
template <>
struct AccumOf<f16> {
  using type = float;
};
template <typename T>
using Accum = typename AccumOf<T>::type;

ADVPROP_HD float to_accum(float v) { return v; }
ADVPROP_HD double to_accum(double v) { return v; }
ADVPROP_HD float to_accum(bf16 v) { return to_f32(v); }
ADVPROP_HD float to_accum(f16 v) { return to_f32(v); }
template <typename T>
ADVPROP_HD T from_accum(Accum<T> x) {
  if constexpr (sizeof(T) == 2) return store_as<T>(x);
  else return x;
}

// A result computed in double (sums, the loss) stored as T with one rounding: to_bf16/to_f16 from
// f64 round once (above), f32 and f64 by the usual conversion.
template <typename T>
ADVPROP_HD T from_double(double x) {
  if constexpr (std::is_same<T, bf16>::value) return to_bf16(x);
  else if constexpr (std::is_same<T, f16>::value) return to_f16(x);
  else return static_cast<T>(x);
}

}  // namespace advprop
