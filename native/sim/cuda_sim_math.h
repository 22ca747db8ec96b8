// cuda-sim's device math: loads with cache hints, bit tricks, min/max, the fast-math and rounding
// intrinsics, conversions. Part of cuda_sim.h, which includes it; not meant to be included directly.
#pragma once

namespace advprop {
namespace sim {
namespace rt {

// ---- loads, bit tricks, math ----------------------------------------------------------------

template <typename T>
inline T __ldg(const T* p) { return *p; }
template <typename T>
inline T __ldcg(const T* p) { return *p; }
template <typename T>
inline T __ldca(const T* p) { return *p; }
template <typename T>
inline T __ldcs(const T* p) { return *p; }
template <typename T>
inline T __ldlu(const T* p) { return *p; }
template <typename T>
inline void __stcg(T* p, T v) { *p = v; }
template <typename T>
inline void __stcs(T* p, T v) { *p = v; }
template <typename T>
inline void __stwt(T* p, T v) { *p = v; }

inline int __float_as_int(float x) { return detail::from_bits<int>(detail::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return detail::from_bits<unsigned>(detail::to_bits(x)); }
inline float __int_as_float(int x) { return detail::from_bits<float>(detail::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return detail::from_bits<float>(detail::to_bits(x)); }
inline long long __double_as_longlong(double x) { return detail::from_bits<long long>(detail::to_bits(x)); }
inline double __longlong_as_double(long long x) { return detail::from_bits<double>(detail::to_bits(x)); }
inline int __double2hiint(double x) { return static_cast<int>(__double_as_longlong(x) >> 32); }
inline int __double2loint(double x) { return static_cast<int>(__double_as_longlong(x)); }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  return __builtin_bswap32(x);
}
inline unsigned long long __brevll(unsigned long long x) {
  return (static_cast<unsigned long long>(__brev(static_cast<unsigned>(x))) << 32) |
         __brev(static_cast<unsigned>(x >> 32));
}
inline int __mul24(int a, int b) { return ((a << 8) >> 8) * ((b << 8) >> 8); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xFFFFFFu) * (b & 0xFFFFFFu); }
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline long long __mul64hi(long long a, long long b) {
  return static_cast<long long>((static_cast<__int128>(a) * b) >> 64);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}

// CUDA's integer and floating min/max overloads, callable unqualified as in device code.
#define ADVPROP_SIM_MINMAX(R, A, B)                   \
  inline R min(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); } \
  inline R max(A a, B b) { return static_cast<R>(a) > static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); }
ADVPROP_SIM_MINMAX(int, int, int)
ADVPROP_SIM_MINMAX(unsigned, unsigned, unsigned)
ADVPROP_SIM_MINMAX(unsigned, int, unsigned)
ADVPROP_SIM_MINMAX(unsigned, unsigned, int)
ADVPROP_SIM_MINMAX(long, long, long)
ADVPROP_SIM_MINMAX(unsigned long, unsigned long, unsigned long)
ADVPROP_SIM_MINMAX(long long, long long, long long)
ADVPROP_SIM_MINMAX(unsigned long long, unsigned long long, unsigned long long)
#undef ADVPROP_SIM_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(float a, double b) { return fmin(a, b); }
inline double max(float a, double b) { return fmax(a, b); }
inline double min(double a, float b) { return fmin(a, b); }
inline double max(double a, float b) { return fmax(a, b); }
inline unsigned umin(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned umax(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long llmin(long long a, long long b) { return a < b ? a : b; }
inline long long llmax(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long ullmin(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long ullmax(unsigned long long a, unsigned long long b) { return a > b ? a : b; }

// Fast-math intrinsics run at full precision: results agree with hardware to a few ulp, which is
// what tests comparing against the CPU backend must tolerate anyway.
// glibc's <math.h> declares __expf, __logf, __sinf, ... (without exporting them), so functions
// of those names would make every call ambiguous: they are macros instead.
#define __expf(x) (::expf(x))
#define __exp10f(x) (::powf(10.0f, (x)))
#define __logf(x) (::logf(x))
#define __log2f(x) (::log2f(x))
#define __log10f(x) (::log10f(x))
#define __sinf(x) (::sinf(x))
#define __cosf(x) (::cosf(x))
#define __tanf(x) (::tanf(x))
#define __powf(x, y) (::powf((x), (y)))
#define __sincosf(x, s, c) (::advprop::sim::rt::sincosf_sim((x), (s), (c)))
inline void sincosf_sim(float x, float* s, float* c) {
  *s = sinf(x);
  *c = cosf(x);
}
inline float __fdividef(float x, float y) { return x / y; }
inline float fdividef(float x, float y) { return x / y; }
// C23 adds rsqrt, sinpi and cospi to <math.h>; as templates these lose overload resolution to a
// C library that declares them, and serve where it does not.
template <typename = void>
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
template <typename = void>
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
template <typename = void>
inline float sinpif(float x) { return sinf(static_cast<float>(M_PI) * x); }
template <typename = void>
inline float cospif(float x) { return cosf(static_cast<float>(M_PI) * x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline void sincospif(float x, float* s, float* c) { *s = sinpif(x); *c = cospif(x); }
inline float normcdff(float x) { return 0.5f * erfcf(-x * static_cast<float>(M_SQRT1_2)); }
inline double normcdf(double x) { return 0.5 * std::erfc(-x * M_SQRT1_2); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline double __drcp_rn(double x) { return 1.0 / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline double __dsqrt_rn(double x) { return std::sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }

namespace detail_cvt {
// Hardware conversions saturate and map NaN to 0; plain casts would be undefined there.
template <typename I, typename F>
inline I saturate(F r) {
  if (r != r) return 0;
  if (r <= static_cast<F>(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  if (r >= static_cast<F>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(r);
}
}  // namespace detail_cvt
inline int __float2int_rn(float x) { return detail_cvt::saturate<int>(static_cast<double>(nearbyintf(x))); }
inline int __float2int_rz(float x) { return detail_cvt::saturate<int>(static_cast<double>(truncf(x))); }
inline int __float2int_rd(float x) { return detail_cvt::saturate<int>(static_cast<double>(floorf(x))); }
inline int __float2int_ru(float x) { return detail_cvt::saturate<int>(static_cast<double>(ceilf(x))); }
inline unsigned __float2uint_rn(float x) {
  return detail_cvt::saturate<unsigned>(static_cast<double>(nearbyintf(x)));
}
inline unsigned __float2uint_rz(float x) {
  return detail_cvt::saturate<unsigned>(static_cast<double>(truncf(x)));
}
inline long long __float2ll_rn(float x) { return detail_cvt::saturate<long long>(static_cast<double>(nearbyintf(x))); }
inline int __double2int_rn(double x) { return detail_cvt::saturate<int>(std::nearbyint(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned x) { return static_cast<float>(x); }
inline float __ll2float_rn(long long x) { return static_cast<float>(x); }
inline float __double2float_rn(double x) { return static_cast<float>(x); }

}  // namespace rt
}  // namespace sim
}  // namespace advprop
