// See pack_transpose.h.
#include "pack_transpose.h"

#include "simd.h"

#if ADVPROP_X86_GNU
#include <immintrin.h>
// g++ 12 flags the _mm512_undefined_ps() pass-through inside the unpack and shuffle intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace advprop {
namespace cpu {
namespace {

#if ADVPROP_X86_GNU
// r[0..15] rows in, r[c] = column c of those rows out (row i in lane i).
ADVPROP_TARGET_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4i + c], 128-bit lane k: rows 4i..4i+3 at column 4k + c.
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // Gather lane k of u[c], u[4 + c], u[8 + c], u[12 + c] into column 4k + c.
  for (int c = 0; c < 4; ++c) {
    const __m512 a = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), b = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
    const __m512 e = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), f = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_shuffle_f32x4(a, e, 0x88);
    r[4 + c] = _mm512_shuffle_f32x4(b, f, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(a, e, 0xDD);
    r[12 + c] = _mm512_shuffle_f32x4(b, f, 0xDD);
  }
}

ADVPROP_TARGET_AVX512 void pack_rows_avx512(const float* src, int64_t ld, int64_t rows, int64_t kc, int R, float* dst) {
  for (int64_t ir = 0; ir < rows; ir += R) {
    float* panel = dst + ir * kc;
    for (int g = 0; g < R; g += 16) {
      const int64_t row0 = ir + g;
      for (int64_t p0 = 0; p0 < kc; p0 += 16) {
        const int64_t np = kc - p0 < 16 ? kc - p0 : 16;
        const __mmask16 m = static_cast<__mmask16>((1u << np) - 1u);
        __m512 r[16];
        for (int i = 0; i < 16; ++i)
          r[i] = row0 + i < rows ? _mm512_maskz_loadu_ps(m, src + (row0 + i) * ld + p0) : _mm512_setzero_ps();
        transpose16(r);
        for (int64_t pp = 0; pp < np; ++pp) _mm512_storeu_ps(panel + (p0 + pp) * R + g, r[pp]);
      }
    }
  }
}
#endif

}  // namespace

bool pack_rows_f32(const float* src, int64_t ld, int64_t rows, int64_t kc, int R, float* dst) {
#if ADVPROP_X86_GNU
  static const bool avx512 = serve_isa(kIsaAvx512) == kIsaAvx512;
  if (avx512 && R % 16 == 0) {
    pack_rows_avx512(src, ld, rows, kc, R, dst);
    return true;
  }
#endif
  (void)src, (void)ld, (void)rows, (void)kc, (void)R, (void)dst;
  return false;
}

}  // namespace cpu
}  // namespace advprop
