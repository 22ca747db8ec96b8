// Packing for the cpu GEMM with f32 accumulation (gemm_tc.cc): operand elements widened to f32
// (or rounded to tf32) or paired as bf16 for vdpbf16ps, laid out in the micro-panels its
// micro-kernels read. Internal to native/cpu; included by gemm_tc.cc only.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "advprop/half.h"

namespace advprop {
namespace cpu {
namespace lowp {

constexpr int kMR = 6;  // rows of a micro-tile, both paths

inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// An operand element as the product uses it, in f32: bf16 widened (a shift), f16 through a
// table of all 65,536 patterns (the exact conversion has a loop for subnormals), f32 as is or
// rounded to tf32.
inline const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t u = 0; u < 65536; ++u) t[u] = f16_bits_to_f32(static_cast<uint16_t>(u));
    return t;
  }();
  return table.data();
}
template <typename S>
struct Widen;
template <>
struct Widen<bf16> {
  float operator()(bf16 v) const { return bf16_bits_to_f32(v.bits); }
};
template <>
struct Widen<f16> {
  const float* table = f16_table();
  float operator()(f16 v) const { return table[v.bits]; }
};
template <>
struct Widen<float> {
  bool tf32;
  float operator()(float v) const { return tf32 ? round_to_tf32(v) : v; }
};

// Rows r0 .. r0 + rows - 1, columns p0 .. p0 + kc - 1 of a matrix M (M[r, p] at src[r * ld + p],
// or src[p * ld + r] when `trans`) into micro-panels of R rows, dst[ir][p][r] for p below kc
// rounded up to even, widened to f32; zero outside M. For A, M = op(A); for B, M = op(B)^T. Both
// loops write dst in order (R fixed at compile time, so the row pointers stay in registers).
template <int R, typename S>
void pack_f32(const S* src, int64_t ld, bool trans, int64_t r0, int64_t p0, int64_t rows, int64_t kc,
              const Widen<S>& widen, float* dst) {
  const int64_t kcp = round_up(kc, 2);
  for (int64_t ir = 0; ir < rows; ir += R) {
    const int64_t nr = std::min<int64_t>(R, rows - ir);
    float* d = dst + ir * kcp;
    if (nr < R || kc < kcp) std::fill(d, d + kcp * R, 0.0f);
    if (!trans && nr == R) {
      const S* s[R];
      for (int i = 0; i < R; ++i) s[i] = src + (r0 + ir + i) * ld + p0;
      for (int64_t p = 0; p < kc; ++p)
#pragma GCC unroll 32
        for (int i = 0; i < R; ++i) d[p * R + i] = widen(s[i][p]);
    } else if (!trans) {
      for (int64_t i = 0; i < nr; ++i) {
        const S* s = src + (r0 + ir + i) * ld + p0;
        for (int64_t p = 0; p < kc; ++p) d[p * R + i] = widen(s[p]);
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const S* s = src + (p0 + p) * ld + r0 + ir;
        float* dp = d + p * R;
        for (int64_t i = 0; i < nr; ++i) dp[i] = widen(s[i]);
      }
    }
  }
}

// The same panels as bf16 pairs for vdpbf16ps: dst[ir][q][r] holds M[r, p0 + 2q] in bits 0-15
// and M[r, p0 + 2q + 1] in bits 16-31.
template <int R>
void pack_pairs(const bf16* src, int64_t ld, bool trans, int64_t r0, int64_t p0, int64_t rows, int64_t kc,
                uint32_t* dst) {
  const int64_t kq = (kc + 1) / 2, full = kc / 2;
  for (int64_t ir = 0; ir < rows; ir += R) {
    const int64_t nr = std::min<int64_t>(R, rows - ir);
    uint32_t* d = dst + ir * kq;
    if (nr < R || full < kq) std::fill(d, d + kq * R, 0u);
    if (!trans) {
      // A pair of k-adjacent elements is one 32-bit word of the row.
      const bf16* s[R];
      for (int i = 0; i < R; ++i) s[i] = src + (r0 + ir + std::min<int64_t>(i, nr - 1)) * ld + p0;
      for (int64_t q = 0; q < full; ++q)
#pragma GCC unroll 32
        for (int i = 0; i < R; ++i) {
          uint32_t w;
          std::memcpy(&w, s[i] + 2 * q, 4);
          d[q * R + i] = i < nr ? w : 0u;
        }
      if (full < kq)
        for (int64_t i = 0; i < nr; ++i) d[full * R + i] = s[i][kc - 1].bits;
    } else {
      for (int64_t q = 0; q < kq; ++q) {
        const bf16* s0 = src + (p0 + 2 * q) * ld + r0 + ir;
        uint32_t* dq = d + q * R;
        if (q < full) {
          const bf16* s1 = s0 + ld;
          for (int64_t i = 0; i < nr; ++i) dq[i] = s0[i].bits | static_cast<uint32_t>(s1[i].bits) << 16;
        } else {
          for (int64_t i = 0; i < nr; ++i) dq[i] = s0[i].bits;
        }
      }
    }
  }
}

// An untransposed A (k contiguous) in row panels instead: panel ir holds rows ir .. ir + kMR - 1,
// each kc (rounded up to even) elements long, dst[ir][r][p]; the micro-kernels read it by rows.
// A plain widening copy per row, which vectorises, where [p][r] panels would gather.
template <typename S>
void pack_a_rows(const S* src, int64_t ld, int64_t r0, int64_t p0, int64_t rows, int64_t kc, const Widen<S>& widen,
                 float* dst) {
  const int64_t kcp = round_up(kc, 2), rows_p = round_up(rows, kMR);
  for (int64_t i = 0; i < rows_p; ++i) {
    float* d = dst + i * kcp;
    if (i < rows) {
      const S* s = src + (r0 + i) * ld + p0;
      for (int64_t p = 0; p < kc; ++p) d[p] = widen(s[p]);
      if (kc < kcp) d[kc] = 0.0f;
    } else {
      std::fill(d, d + kcp, 0.0f);
    }
  }
}
inline void pack_a_row_pairs(const bf16* src, int64_t ld, int64_t r0, int64_t p0, int64_t rows, int64_t kc,
                             uint32_t* dst) {
  const int64_t kq = (kc + 1) / 2, full = kc / 2, rows_p = round_up(rows, kMR);
  for (int64_t i = 0; i < rows_p; ++i) {
    uint32_t* d = dst + i * kq;
    if (i < rows) {
      const bf16* s = src + (r0 + i) * ld + p0;
      std::memcpy(d, s, static_cast<size_t>(full) * 4);  // a k-adjacent pair is one 32-bit word
      if (full < kq) d[full] = s[kc - 1].bits;
    } else {
      std::fill(d, d + kq, 0u);
    }
  }
}

// pack_f32 for the panel widths a path uses.
template <typename S>
void pack_f32_r(int R, const S* src, int64_t ld, bool trans, int64_t r0, int64_t p0, int64_t rows, int64_t kc,
                const Widen<S>& widen, float* dst) {
  switch (R) {
    case kMR: return pack_f32<kMR>(src, ld, trans, r0, p0, rows, kc, widen, dst);
    case 8: return pack_f32<8>(src, ld, trans, r0, p0, rows, kc, widen, dst);
    case 16: return pack_f32<16>(src, ld, trans, r0, p0, rows, kc, widen, dst);
    default: return pack_f32<32>(src, ld, trans, r0, p0, rows, kc, widen, dst);
  }
}

}  // namespace lowp
}  // namespace cpu
}  // namespace advprop
