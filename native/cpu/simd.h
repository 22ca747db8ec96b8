// Helpers shared by the CPU kernels: runtime ISA dispatch, parallel grain sizes, a vectorisable exp.
//
// The library is built for baseline x86-64 so one binary runs everywhere; hot loops are cloned
// for AVX2 and AVX-512 and the loader picks a clone once (an ifunc), so a kernel pays one
// indirect call per chunk, never per element. Put ADVPROP_CPU_CLONES on functions that loop over
// a whole chunk, and keep per-element helpers inline so they are compiled into every clone.
// Results must not depend on which clone ran: nothing uses -ffast-math (so the vectoriser never
// reorders a sum), and since the AVX-512F ISA includes FMA, files with cloned loops turn off
// contraction of a * b + c with #pragma GCC optimize("fp-contract=off") above their includes.
#pragma once
#include <cstdint>
#include <cstring>

// A build may define ADVPROP_CPU_CLONES itself, e.g. empty to test the baseline code alone.
#ifndef ADVPROP_CPU_CLONES
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#define ADVPROP_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ADVPROP_CPU_CLONES
#endif
#endif

namespace advprop {
namespace cpu {

// Elements per parallel chunk. Big enough that the pool's hand-off (a few microseconds) is noise
// next to streaming the chunk through memory, small enough to balance a few dozen cores.
constexpr int64_t kGrainCheap = int64_t(1) << 16;  // loads, stores and a flop or two per element
constexpr int64_t kGrainCostly = int64_t(1) << 13; // a libm call (exp, log) per element

// e^x in f32 written so that g++ vectorises it (a libm call in a loop never is). Cody-Waite
// reduction x = n ln2 + r with |r| <= ln2/2 and the Cephes polynomial for e^r: within 1.01 ulp of
// the exact result over the whole float range (checked on every 7th float), including overflow
// to inf, gradual underflow to subnormals and 0, and NaN in -> NaN out.
//
// Shaped for the vectoriser under the default -ftrapping-math, which forbids it to if-convert a
// float op that sits under a condition: no branch and no float select (g++ pushes arithmetic
// after a select of a constant into the branches), no float-to-int conversion.
inline float exp_f32(float x) {
  // Clamp x to [-104, 89], beyond which e^x is 0 or inf anyway, on the bit pattern: for a
  // fixed sign, integer order of the magnitude bits is float order. NaN (magnitude above inf)
  // is left alone and comes out as NaN.
  uint32_t xb;
  std::memcpy(&xb, &x, 4);
  const uint32_t sign = xb & 0x80000000u, mag = xb & 0x7FFFFFFFu;
  const uint32_t limit = sign ? 0x42D00000u : 0x42B20000u;  // 104.0f : 89.0f
  const uint32_t clamped = mag > 0x7F800000u ? mag : (mag < limit ? mag : limit);
  const uint32_t cb = sign | clamped;
  float xc;
  std::memcpy(&xc, &cb, 4);
  // Adding 1.5 * 2^23 rounds x / ln2 to an integer n that then sits in the low mantissa bits.
  const float t = xc * 1.44269504088896341f + 12582912.0f;
  const float n = t - 12582912.0f;
  float r = xc - n * 0.693359375f;  // ln2 split in two so that n * hi is exact
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // 2^n as two factors so each is a normal float for every n in [-150, 129]; the last product
  // rounds to a subnormal, 0 or inf exactly as a single scaling would.
  uint32_t tb;
  std::memcpy(&tb, &t, 4);
  const int32_t ni = static_cast<int32_t>(tb - 0x4B400000u);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const uint32_t b1 = static_cast<uint32_t>(n1 + 127) << 23, b2 = static_cast<uint32_t>(n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  return p * s1 * s2;
}

}  // namespace cpu
}  // namespace advprop
