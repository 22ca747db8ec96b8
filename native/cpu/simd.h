// Helpers shared by the CPU kernels: run-time ISA dispatch (cloned loops and per-ISA variants), parallel
// grain sizes, the vectorisable exp.
//
// The library is built for baseline x86-64 so one binary runs everywhere; hot loops are cloned
// for AVX2 and AVX-512 and the loader picks a clone once (an ifunc), so a kernel pays one
// indirect call per chunk, never per element. Put ADVPROP_CPU_CLONES on functions that loop over
// a whole chunk, and keep per-element helpers inline so they are compiled into every clone.
// Results must not depend on which clone ran: nothing uses -ffast-math (so the vectoriser never
// reorders a sum), and since the AVX-512F ISA includes FMA, files with cloned loops turn off
// contraction of a * b + c with #pragma GCC optimize("fp-contract=off") above their includes.
// The AVX2 clone is x86-64-v3 (AVX2 with FMA, as the AVX2 level below), so that a loop that fuses
// on purpose with std::fma (exp_neg_abs_f32<true>) gets the instruction there; in the baseline
// clone std::fma is a libm call, exact and slow, and so the same bits.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#define ADVPROP_X86_GNU 1
#else
#define ADVPROP_X86_GNU 0
#endif

// A build may define ADVPROP_CPU_CLONES itself, e.g. empty to test the baseline code alone.
#ifndef ADVPROP_CPU_CLONES
#if ADVPROP_X86_GNU
#define ADVPROP_CPU_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define ADVPROP_CPU_CLONES
#endif
#endif

// Kernels whose register blocking depends on the vector width cannot be cloned (target_clones
// compiles one source for every ISA): they are templates on the width, instantiated once per
// level under these attributes by ADVPROP_ISA_VARIANTS below, and chosen at run time through an
// IsaChoice. Elsewhere than x86 the attributes are empty and only the baseline level is ever served.
// The AVX2 level is AVX2 with FMA (x86-64-v3: every AVX2 CPU from Intel and AMD has both), so
// kernels that fuse multiply-adds on purpose (fma_lanes below) have the instruction there too.
#if ADVPROP_X86_GNU
#include <immintrin.h>
#define ADVPROP_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define ADVPROP_TARGET_AVX512 __attribute__((target("avx512f")))
#else
#define ADVPROP_TARGET_AVX2
#define ADVPROP_TARGET_AVX512
#endif

namespace advprop {
namespace cpu {

// ISA levels: 1 baseline, 2 AVX2, 3 AVX-512; 0 asks for the best one available.
constexpr int kIsaBest = 0, kIsaBaseline = 1, kIsaAvx2 = 2, kIsaAvx512 = 3;

// The vector register width of a served level, in bytes.
constexpr int isa_vector_bytes(int level) { return level == kIsaAvx512 ? 64 : level == kIsaAvx2 ? 32 : 16; }

#define ADVPROP_ISA_STR2_(x) #x
#define ADVPROP_ISA_STR_(x) ADVPROP_ISA_STR2_(x)
// A build that defines ADVPROP_CPU_CLONES empty gets the baseline alone, here too.
constexpr bool kIsaDispatch = ADVPROP_X86_GNU && sizeof(ADVPROP_ISA_STR_(ADVPROP_CPU_CLONES)) > 1;

// The level that serves a request for `level` on this CPU and build, 0 when it cannot be served.
// The one place that asks the CPU what it has.
inline int serve_isa(int level) {
#if ADVPROP_X86_GNU
  if (kIsaDispatch) {
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f"),
               avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (level == kIsaBest) level = avx512 ? kIsaAvx512 : avx2 ? kIsaAvx2 : kIsaBaseline;
    return level == kIsaAvx512 ? (avx512 ? level : 0) : level == kIsaAvx2 ? (avx2 ? level : 0) : kIsaBaseline;
  }
#endif
  return level <= kIsaBaseline ? kIsaBaseline : 0;
}

// AVX512-BF16 (vdpbf16ps: f32 += bf16 x bf16 pairs) is not a level of its own: only the bf16
// GEMM uses it (gemm_tc.cc), through a kernel compiled for ADVPROP_TARGET_AVX512_BF16 when the
// compiler knows the instructions (ADVPROP_HAVE_AVX512_BF16), and run when this asks the CPU.
#if ADVPROP_X86_GNU && __GNUC__ >= 11
#define ADVPROP_HAVE_AVX512_BF16 1
#define ADVPROP_TARGET_AVX512_BF16 __attribute__((target("avx512f,avx512bf16")))
#else
#define ADVPROP_HAVE_AVX512_BF16 0
#define ADVPROP_TARGET_AVX512_BF16
#endif
inline bool cpu_has_avx512_bf16() {
#if ADVPROP_HAVE_AVX512_BF16
  if (kIsaDispatch) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
  }
#endif
  return false;
}

// One kernel family's level: the best available, unless a test forced another to check that
// every level gives the same bits (set_gemm_isa, set_depthwise_isa).
class IsaChoice {
 public:
  // A served level: kIsaBaseline, kIsaAvx2 or kIsaAvx512.
  int level() const {
    static const int best = serve_isa(kIsaBest);
    const int forced = forced_.load(std::memory_order_relaxed);
    return forced ? forced : best;
  }
  // Forces `level` on later calls (kIsaBest: automatic again); false, changing nothing, when this
  // CPU or build lacks it.
  bool force(int level) {
    if (level != kIsaBest && serve_isa(level) != level) return false;
    forced_.store(level, std::memory_order_relaxed);
    return true;
  }

 private:
  std::atomic<int> forced_{kIsaBest};
};

// The function for a served level.
template <typename Fn>
Fn pick_isa(int level, Fn baseline, Fn avx2, Fn avx512) {
  return level == kIsaAvx512 ? avx512 : level == kIsaAvx2 ? avx2 : baseline;
}

#define ADVPROP_ISA_LIST_(...) __VA_ARGS__
// Defines name_default, name_avx2 and name_avx512, function templates with the template
// parameters `tparams` and the parameter list `params`, each running body<targs, vector bytes of
// its ISA>`args` compiled for that ISA; and name_variant<targs>(level), the one of the three for a
// served level (IsaChoice::level(), read once by a kernel whose blocking also depends on it).
// tparams and targs are parenthesised lists, e.g. (typename T, bool WIDE) and (T, WIDE).
#define ADVPROP_ISA_VARIANTS_OF(name, body, tparams, targs, params, args)                                       \
  template <ADVPROP_ISA_LIST_ tparams>                                                                          \
  void name##_default params { body<ADVPROP_ISA_LIST_ targs, isa_vector_bytes(kIsaBaseline)> args; }            \
  template <ADVPROP_ISA_LIST_ tparams>                                                                          \
  ADVPROP_TARGET_AVX2 void name##_avx2 params {                                                                 \
    body<ADVPROP_ISA_LIST_ targs, isa_vector_bytes(kIsaAvx2)> args;                                             \
  }                                                                                                             \
  template <ADVPROP_ISA_LIST_ tparams>                                                                          \
  ADVPROP_TARGET_AVX512 void name##_avx512 params {                                                             \
    body<ADVPROP_ISA_LIST_ targs, isa_vector_bytes(kIsaAvx512)> args;                                           \
  }                                                                                                             \
  template <ADVPROP_ISA_LIST_ tparams>                                                                          \
  auto name##_variant(int level) {                                                                              \
    return pick_isa(level, &name##_default<ADVPROP_ISA_LIST_ targs>,                                            \
                    &name##_avx2<ADVPROP_ISA_LIST_ targs>, &name##_avx512<ADVPROP_ISA_LIST_ targs>);            \
  }

// c + a * b per lane with one rounding (IEEE fusedMultiplyAdd), for kernels that fuse on purpose
// (the gemm micro-kernel): the same bits at every level, since each level's vectors do the
// same operation. AVX-512 and AVX2 (with FMA) have the instruction; the baseline level computes
// each lane with fma()/fmaf(), which libm does exactly (in hardware where the CPU has it), so a
// CPU without FMA still gives the same bits, slowly. Overloaded on the vector type, each under
// the target of the level that uses that width.
typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef double f64x2 __attribute__((vector_size(16)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));
#if ADVPROP_X86_GNU
// Not always_inline: the micro-kernel template that calls these has no target of its own, and g++
// refuses to force a target's function into it. It inlines them after the template itself is
// inlined into its level's variant, whose target includes theirs (objdump of gemm.cc.o when this
// was written: no call left in the gemm variants; a call would cost time, not bits).
ADVPROP_TARGET_AVX512 inline f32x16 fma_lanes(f32x16 a, f32x16 b, f32x16 c) {
  return (f32x16)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
}
ADVPROP_TARGET_AVX512 inline f64x8 fma_lanes(f64x8 a, f64x8 b, f64x8 c) {
  return (f64x8)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
}
ADVPROP_TARGET_AVX2 inline f32x8 fma_lanes(f32x8 a, f32x8 b, f32x8 c) {
  return (f32x8)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
}
ADVPROP_TARGET_AVX2 inline f64x4 fma_lanes(f64x4 a, f64x4 b, f64x4 c) {
  return (f64x4)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
}
#endif
__attribute__((always_inline)) inline f32x4 fma_lanes(f32x4 a, f32x4 b, f32x4 c) {
  f32x4 r;
  for (int l = 0; l < 4; ++l) r[l] = std::fma(a[l], b[l], c[l]);
  return r;
}
__attribute__((always_inline)) inline f64x2 fma_lanes(f64x2 a, f64x2 b, f64x2 c) {
  f64x2 r;
  for (int l = 0; l < 2; ++l) r[l] = std::fma(a[l], b[l], c[l]);
  return r;
}

// The common case: templates on the element type T alone, running body<T, vector bytes>`args`.
#define ADVPROP_ISA_VARIANTS(name, body, params, args)                                                          \
  ADVPROP_ISA_VARIANTS_OF(name, body, (typename T), (T), params, args)

// Elements per parallel chunk. Big enough that the pool's hand-off (a few microseconds) is noise
// next to streaming the chunk through memory, small enough to balance a few dozen cores.
constexpr int64_t kGrainCheap = int64_t(1) << 16;  // loads, stores and a flop or two per element
constexpr int64_t kGrainCostly = int64_t(1) << 13; // a libm call (exp, log) per element

// The bits of a float and back; memcpy is the defined way, and compiles to a register move.
inline uint32_t f32_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}
inline float f32_from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

// e^x = 2^n * e^r in f32 with x = n ln2 + r, |r| <= ln2/2 (Cody-Waite reduction) and the Cephes
// polynomial for e^r, for x already clamped to the range the caller serves. Returns e^r, and the
// float t whose low mantissa bits hold n (n = bits(t) - 0x4B400000); the caller scales by 2^n in
// the way its range needs. Shaped for the vectoriser: no branch and no float select (g++ pushes
// arithmetic after a select of a constant into the branches), no float-to-int conversion; callers
// keep to the same rules. That alone was not enough under the default -ftrapping-math, which
// forbids if-converting a float op under a condition: the AVX2 clones of the SiLU loops stayed
// scalar, so native/cpu is compiled with -fno-trapping-math (CMakeLists.txt).
inline float exp_f32_reduced(float x, uint32_t& t_bits) {
  // Adding 1.5 * 2^23 rounds x / ln2 to an integer n that then sits in the low mantissa bits.
  const float t = x * 1.44269504088896341f + 12582912.0f;
  const float n = t - 12582912.0f;
  float r = x - n * 0.693359375f;  // ln2 split in two so that n * hi is exact
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  t_bits = f32_bits(t);
  return p;
}

// e^x in f32 written so that g++ vectorises it (a libm call in a loop never is): within 1.01 ulp
// of the exact result over the whole float range (checked on every 7th float), including overflow
// to inf, gradual underflow to subnormals and 0, and NaN in -> NaN out.
inline float exp_f32(float x) {
  // Clamp x to [-104, 89], beyond which e^x is 0 or inf anyway, on the bit pattern: for a
  // fixed sign, integer order of the magnitude bits is float order. NaN (magnitude above inf)
  // is left alone and comes out as NaN.
  const uint32_t xb = f32_bits(x);
  const uint32_t sign = xb & 0x80000000u, mag = xb & 0x7FFFFFFFu;
  const uint32_t limit = sign ? 0x42D00000u : 0x42B20000u;  // 104.0f : 89.0f
  const uint32_t clamped = mag > 0x7F800000u ? mag : (mag < limit ? mag : limit);
  uint32_t tb;
  const float p = exp_f32_reduced(f32_from_bits(sign | clamped), tb);
  // 2^n as two factors so each is a normal float for every n in [-150, 129]; the last product
  // rounds to a subnormal, 0 or inf exactly as a single scaling would.
  const int32_t ni = static_cast<int32_t>(tb - 0x4B400000u);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const float s1 = f32_from_bits(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = f32_from_bits(static_cast<uint32_t>(n2 + 127) << 23);
  return p * s1 * s2;
}

// exp_f32_reduced with the reduction and the polynomial's steps fused (std::fma, one rounding
// each), and one degree lower: 1 + r + r^2 Q(r) with Q of degree 4, fitted for minimax relative
// error on |r| <= ln2 / 2 (4.4e-9 with the coefficients rounded to f32, far below f32's rounding).
// Loops of batch norm's affine and SiLU are bound by the count of vector operations, not by
// latency or memory: with this and exp_neg_abs_f32's unclamped x, 0.27 ns per value against the
// unfused, clamped form's 0.41 (one Zen 5 thread, L1-resident rows of 672 channels). Within
// 1.02 ulp of e^x on every float of [-87, 0] (the unfused one: 0.98 on every 7th).
inline float exp_f32_reduced_fused(float x, uint32_t& t_bits) {
  const float t = std::fma(x, 1.44269504088896341f, 12582912.0f);
  const float n = t - 12582912.0f;
  float r = std::fma(n, -0.693359375f, x);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.3814455597e-3f;
  p = std::fma(p, r, 8.3687854931e-3f);
  p = std::fma(p, r, 4.1668396443e-2f);
  p = std::fma(p, r, 1.6666519642e-1f);
  p = std::fma(p, r, 4.9999994040e-1f);
  p = std::fma(p, r * r, r) + 1.0f;
  t_bits = f32_bits(t);
  return p;
}

// e^-|z| in f32 for SiLU, which only needs the exponential of a non-positive number: exp_f32's
// polynomial (within ~1 ulp), and 0 once |z| >= 87 (or z is NaN), where the true value is below
// 1.7e-38. So 2^n is one exponent add, with no sign, overflow or subnormal handling, and SiLU's
// value and derivative there move by under 1e-35 absolute: the unary silu's slack for the same
// range (elementwise.cc). Bit operations and a compare, no float select, so g++ vectorises it.
// FUSED takes exp_f32_reduced_fused, for eval-mode batch norm and the inference epilogue only
// (bn_math.h). Training keeps the unfused rounding: the 2-rank = 1-rank equivalence test
// (test/distributed) follows PGD's sign() through ten steps, where a 1-ulp change in the
// activation flips signs and moves the loss by 1.8e-3: a new trajectory, not a precision loss,
// but one the test could not tell from a gradient-reduction bug.
template <bool FUSED = false>
inline float exp_neg_abs_f32(float z) {
  // x = -|z| unclamped: past 87 (and for NaN) the steps below make garbage, inf or NaN, which
  // `keep` masks to 0 anyway; the compare is on x, so no separate |z| is formed (one vector
  // operation fewer than clamping, the same bits).
  const float x = f32_from_bits(f32_bits(z) | 0x80000000u);
  const uint32_t keep = x > -87.0f ? 0xFFFFFFFFu : 0u;
  uint32_t tb;
  const float p = FUSED ? exp_f32_reduced_fused(x, tb) : exp_f32_reduced(x, tb);
  const uint32_t sb = static_cast<uint32_t>(static_cast<int32_t>(tb - 0x4B400000u) + 127) << 23;  // n in [-126, 0] where kept
  return f32_from_bits(f32_bits(p * f32_from_bits(sb)) & keep);
}

// z < 0 ? a : b on the bit patterns (z's sign bit; -0 counts as negative, where the callers' a == b).
inline float select_neg_bits(float z, float a, float b) {
  const uint32_t m = static_cast<uint32_t>(static_cast<int32_t>(f32_bits(z)) >> 31);
  return f32_from_bits((f32_bits(a) & m) | (f32_bits(b) & ~m));
}

}  // namespace cpu
}  // namespace advprop
