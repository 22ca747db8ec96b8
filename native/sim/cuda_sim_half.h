// cuda-sim's __half and __nv_bfloat16 (with their pairs __half2 and __nv_bfloat162): the subset of
// CUDA's cuda_fp16.h / cuda_bf16.h that native/cuda/*.cu use, with the same bits. Conversions are
// those of advprop/half.h (round to nearest even, canonical NaN 0x7fff), which are CUDA's.
// Arithmetic operators compute in f32 and round once to 16 bits: for + - * / the f32 result has
// more than twice the bits of the 16-bit one plus two, so this equals the correctly rounded 16-bit
// operation that the GPU performs. Included by cuda_sim.h; not meant to be included directly.
#pragma once

#include <cstdint>

#include "advprop/half.h"

namespace advprop {
namespace sim {
namespace rt {

struct __half_raw {
  unsigned short x;
};
struct __nv_bfloat16_raw {
  unsigned short x;
};

// CUDA's overload set in miniature: implicit from float, double, int and unsigned (RN; the
// integers are exact in double, so rounded once), implicit to float, from and to the raw struct. Expressions mixing a 16-bit value and a float (h + 1.0f) are ambiguous
// here as they are under nvcc.
#define ADVPROP_SIM_HALF_TYPE(T, Raw, from_f32, from_f64, to_f32)           \
  struct __attribute__((aligned(2))) T {                                    \
    unsigned short __x;                                                     \
    T() = default;                                                          \
    constexpr T(const Raw& r) : __x(r.x) {}                                 \
    T(float f) : __x(from_f32(f)) {}                                        \
    T(double d) : __x(from_f64(d)) {}                                       \
    T(int i) : __x(from_f64(i)) {}                                          \
    T(unsigned i) : __x(from_f64(i)) {}                                     \
    operator Raw() const { return Raw{__x}; }                               \
    operator float() const { return to_f32(__x); }                          \
    T& operator=(const Raw& r) {                                            \
      __x = r.x;                                                            \
      return *this;                                                         \
    }                                                                       \
    T& operator=(float f) {                                                 \
      __x = from_f32(f);                                                    \
      return *this;                                                         \
    }                                                                       \
    T& operator=(double d) {                                                \
      __x = from_f64(d);                                                    \
      return *this;                                                         \
    }                                                                       \
  };                                                                        \
  inline T operator+(const T& a, const T& b) { return T(float(a) + float(b)); } \
  inline T operator-(const T& a, const T& b) { return T(float(a) - float(b)); } \
  inline T operator*(const T& a, const T& b) { return T(float(a) * float(b)); } \
  inline T operator/(const T& a, const T& b) { return T(float(a) / float(b)); } \
  inline T operator-(const T& a) { return T(Raw{static_cast<unsigned short>(a.__x ^ 0x8000u)}); } \
  inline T operator+(const T& a) { return a; }                              \
  inline T& operator+=(T& a, const T& b) { return a = a + b; }              \
  inline T& operator-=(T& a, const T& b) { return a = a - b; }              \
  inline T& operator*=(T& a, const T& b) { return a = a * b; }              \
  inline T& operator/=(T& a, const T& b) { return a = a / b; }              \
  inline bool operator==(const T& a, const T& b) { return float(a) == float(b); } \
  inline bool operator!=(const T& a, const T& b) { return float(a) != float(b); } \
  inline bool operator<(const T& a, const T& b) { return float(a) < float(b); }   \
  inline bool operator<=(const T& a, const T& b) { return float(a) <= float(b); } \
  inline bool operator>(const T& a, const T& b) { return float(a) > float(b); }   \
  inline bool operator>=(const T& a, const T& b) { return float(a) >= float(b); }
ADVPROP_SIM_HALF_TYPE(__half, __half_raw, ::advprop::f32_to_f16_bits, ::advprop::f64_to_f16_bits,
                      ::advprop::f16_bits_to_f32)
ADVPROP_SIM_HALF_TYPE(__nv_bfloat16, __nv_bfloat16_raw, ::advprop::f32_to_bf16_bits, ::advprop::f64_to_bf16_bits,
                      ::advprop::bf16_bits_to_f32)
#undef ADVPROP_SIM_HALF_TYPE

// Pairs: x in the low 16 bits of the 32-bit word, y in the high ones, as in registers.
struct __attribute__((aligned(4))) __half2 {
  __half x, y;
};
struct __attribute__((aligned(4))) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
static_assert(sizeof(__half) == 2 && sizeof(__half2) == 4 && sizeof(__nv_bfloat162) == 4, "CUDA's sizes");

inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline __half __double2half(double d) { return __half(d); }
inline float __half2float(__half h) { return float(h); }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short u) { return __half(__half_raw{u}); }
inline __half __hadd(__half a, __half b) { return a + b; }
inline __half __hsub(__half a, __half b) { return a - b; }
inline __half __hmul(__half a, __half b) { return a * b; }
inline __half __hneg(__half a) { return -a; }

inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __double2bfloat16(double d) { return __nv_bfloat16(d); }
inline float __bfloat162float(__nv_bfloat16 h) { return float(h); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16(__nv_bfloat16_raw{u}); }
inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) { return a + b; }
inline __nv_bfloat16 __hsub(__nv_bfloat16 a, __nv_bfloat16 b) { return a - b; }
inline __nv_bfloat16 __hmul(__nv_bfloat16 a, __nv_bfloat16 b) { return a * b; }
inline __nv_bfloat16 __hneg(__nv_bfloat16 a) { return -a; }

inline __half2 make_half2(__half x, __half y) { return __half2{x, y}; }
inline __half2 __halves2half2(__half lo, __half hi) { return __half2{lo, hi}; }
inline __half2 __floats2half2_rn(float lo, float hi) { return __half2{__half(lo), __half(hi)}; }
inline __half2 __float22half2_rn(float2 v) { return __floats2half2_rn(v.x, v.y); }
inline float2 __half22float2(__half2 v) { return float2{float(v.x), float(v.y)}; }
inline float __low2float(__half2 v) { return float(v.x); }
inline float __high2float(__half2 v) { return float(v.y); }

inline __nv_bfloat162 make_bfloat162(__nv_bfloat16 x, __nv_bfloat16 y) { return __nv_bfloat162{x, y}; }
inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 lo, __nv_bfloat16 hi) { return __nv_bfloat162{lo, hi}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
  return __nv_bfloat162{__nv_bfloat16(lo), __nv_bfloat16(hi)};
}
inline __nv_bfloat162 __float22bfloat162_rn(float2 v) { return __floats2bfloat162_rn(v.x, v.y); }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return float2{float(v.x), float(v.y)}; }
inline float __low2float(__nv_bfloat162 v) { return float(v.x); }
inline float __high2float(__nv_bfloat162 v) { return float(v.y); }

}  // namespace rt
}  // namespace sim
}  // namespace advprop
