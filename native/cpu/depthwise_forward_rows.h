// The cpu depthwise forward's row kernel for the common shapes (kernel width 3 or 5, column
// stride 1 or 2, column dilation 1: every depthwise layer of EfficientNet and MobileNet). Included
// by depthwise.cc only, whose fp-contract=off pragma and ISA variants it relies on; the other
// shapes, and the input gradient, take depthwise.cc's general row kernel.
//
// Output pixel j of a row is the sum over the row taps r (ascending ky) and the column taps q
// (ascending kx) of in_r[j * S + q - pad] * w[r][q], taps outside the input skipped, starting
// from 0, the bias added last: the order of the plain per-pixel loop, so the bits are those of
// the general kernel on every ISA. What differs is the loop: a block of P output pixels of one
// channel vector keeps its P accumulators and the K weight vectors of the row tap in registers and
// walks the (P - 1) * S + K input pixels the block reads once each, in ascending column order,
// adding each into every accumulator it feeds. Walking by input column keeps each accumulator's
// terms in ascending q (its own taps are the columns j * S - pad + q), and reads every input
// vector once per block instead of once per tap (K times at stride 1), so the kernel issues about
// one load per multiply-add pair where the general one issued two.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "channel_vectors.h"

namespace advprop {
namespace cpu {
namespace depthwise_detail {

// One output row of the forward.
struct FwdRow {
  int nr = 0;                          // row taps inside the input
  const int64_t* src_row = nullptr;    // element offset of each one's input row (pixel 0, channel 0)
  const int64_t* w_row = nullptr;      // its ky
  int64_t count = 0, wsrc = 0, pad = 0;  // output pixels, input pixels, left padding
  int npf = 0;
  const int64_t* pf_row = nullptr;
  int64_t pf_pixels = 0;
};

// Output pixels per block: P accumulators, K weights, the input and a product fit in the 16
// registers of SSE and AVX2 (8 + 5 + 2 at 5x5).
constexpr int kFwdP = 8;

// Channels [c0, c0 + width of V) of output pixels [j0, j0 + P). EDGE: some of the block's input
// columns may lie outside the row (they are skipped) and pixels from `count` on are not stored.
template <typename T, typename V, int K, int S, int P, bool EDGE>
__attribute__((always_inline)) inline void fwd_block(const FwdRow& t, int64_t C, const T* src, const T* wt,
                                                     const T* bias, T* dst, int64_t j0, int64_t c0) {
  constexpr int kSpan = (P - 1) * S + K;
  const int64_t col0 = j0 * S - t.pad;
  V acc[P];
#pragma GCC unroll 16
  for (int u = 0; u < P; ++u) acc[u] = V{};
  for (int k = 0; k < t.npf; ++k) {
    const T* s = src + t.pf_row[k] + c0 + (j0 * S + t.pf_pixels) * C;
    for (int u = 0; u < P * S; ++u) __builtin_prefetch(s + u * C);
  }
  for (int r = 0; r < t.nr; ++r) {
    const T* s = src + t.src_row[r] + c0;
    const T* w = wt + t.w_row[r] * K * C + c0;
    V wv[K];
#pragma GCC unroll 8
    for (int q = 0; q < K; ++q) wv[q] = load<T, V>(w + q * C);
#pragma GCC unroll 64
    for (int i = 0; i < kSpan; ++i) {
      const int64_t col = col0 + i;
      if (EDGE && (col < 0 || col >= t.wsrc)) continue;
      const V v = load<T, V>(s + col * C);
#pragma GCC unroll 16
      for (int u = 0; u < P; ++u) {
        const int q = i - u * S;
        if (q >= 0 && q < K) acc[u] += v * wv[q];
      }
    }
  }
#pragma GCC unroll 16
  for (int u = 0; u < P; ++u) {
    if (EDGE && j0 + u >= t.count) break;
    V out = acc[u];
    if (bias) out += load<T, V>(bias + c0);
    std::memcpy(dst + (j0 + u) * C + c0, &out, sizeof(V));
  }
}

// The row in blocks of kFwdP pixels; the last block of a row whose length is not a multiple ends
// at the row's end and recomputes (bit for bit the same) pixels of the one before.
template <typename T, int K, int S, int VB>
__attribute__((always_inline)) inline void fwd_row_body(const FwdRow& t, int64_t C, const T* src, const T* wt,
                                                        const T* bias, T* dst) {
  constexpr int P = kFwdP, kSpan = (P - 1) * S + K;
  auto block = [&](int64_t j0) __attribute__((always_inline)) {
    const int64_t col0 = j0 * S - t.pad;
    const bool edge = col0 < 0 || col0 + kSpan > t.wsrc || j0 + P > t.count;
    channel_groups<T, VB>(C, [&](auto* tag, int64_t c) __attribute__((always_inline)) {
      using V = std::remove_pointer_t<decltype(tag)>;
      if (edge) fwd_block<T, V, K, S, P, true>(t, C, src, wt, bias, dst, j0, c);
      else fwd_block<T, V, K, S, P, false>(t, C, src, wt, bias, dst, j0, c);
    });
  };
  if (t.count <= P) return block(0);
  int64_t j0 = 0;
  for (; j0 + P <= t.count; j0 += P) block(j0);
  if (j0 < t.count) block(t.count - P);
}

}  // namespace depthwise_detail
}  // namespace cpu
}  // namespace advprop
