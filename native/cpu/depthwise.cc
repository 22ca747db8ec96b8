// CPU depthwise convolution kernels (contract: advprop/conv.h): NHWC activations, weights
// [C, KH, KW, 1]. Every loop runs with the channel innermost, one vector of channels at a time
// (GCC vector extensions at the ISA's width, picked at run time); the weights are first
// transposed to [KH, KW, C] for the same reason.
// Deterministic: each output element sums its terms in a fixed order (taps in (ky, kx) order;
// the weight gradient over rows in chunks whose boundaries depend only on the shape, combined in
// chunk order).
//
// The f32 forward of kernel width 3 or 5 at column stride 1 or 2 (every EfficientNet layer) runs
// the pixel-blocked kernel of depthwise_forward.cc instead of the rows below; same bits.
// bf16 and f16 (every operand in the one type) take the widened path of widen.h: the f32 kernels
// below on f32 copies of a few images at a time, each output rounded once (depthwise_half.cc).
//
// Contracting a * b + c into an FMA would make results depend on the ISA the compiler targets;
// with it off every CPU gives the same bits.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <memory>
#include <type_traits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/conv.h"
#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/invariants.h"
#include "advprop/parallel.h"
#include "epilogue.h"
#include "gemm_pack_cache.h"
#include "simd.h"
#include "channel_vectors.h"
#include "depthwise_f32.h"
#include "widen.h"

namespace advprop {
namespace cpu {
namespace {

// w [C, KH, KW] -> wt [KH, KW, C].
template <typename T>
void transpose_weights_into(const Conv2dParams& p, const T* w, T* wt) {
  const int64_t C = p.c_in, taps = p.kh * p.kw;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < taps; ++t) wt[t * C + c] = w[c * taps + t];
}
template <typename T>
std::vector<T> transpose_weights(const Conv2dParams& p, const T* w) {
  std::vector<T> wt(static_cast<size_t>(p.kh * p.kw * p.c_in));
  transpose_weights_into(p, w, wt.data());
  return wt;
}

// Rows per chunk so that a chunk holds roughly `work` multiply-adds.
int64_t grain_for(int64_t rows, int64_t per_row, int64_t work = 1 << 15) {
  return std::max<int64_t>(1, std::min<int64_t>(rows, work / std::max<int64_t>(1, per_row)));
}

// ---- forward and input gradient: one row kernel ---------------------------------------------
//
// Both are gathers over a destination row: dst pixel j (at dst + j * dstep * C) is the sum over
// the row taps r (ascending ky) and column taps q (ascending kx) of src_r[j * sj + koff_q] * w_{r,q},
// with taps outside [0, wsrc) skipped, starting from 0 and adding the bias last. Forward: src =
// input rows, sj = stride, koff = kx * dil - pad_left. Input gradient, stride 1: src = dy rows,
// sj = 1, koff = pad_left - kx * dil. Input gradient, stride s: the input columns of one residue
// class iw = rho + j * s read dy column j + (rho + pad_left - kx * dil) / s for the kx where that
// divides, so each class is a row with dstep = s. That is the order of a plain per-pixel loop, so
// the bits are those of the earlier per-pixel code and the same on every ISA (no FMA, see above).
// The interior (every column tap in range) runs blocks of kP pixels with the accumulators in
// registers and each weight vector loaded once per block; the borders run pixel by pixel.
struct RowTaps {
  int nr = 0, nq = 0;
  int64_t sj = 1, dstep = 1, count = 0, wsrc = 0;
  int64_t* src_row;  // element offset of each row tap's source row (pixel 0, channel 0)
  int64_t* w_row;    // ky of each row tap
  int64_t *kx, *koff;
  // Room for kh row taps and kw column taps, one per parallel chunk.
  RowTaps(std::vector<int64_t>& buf, int64_t kh, int64_t kw) {
    buf.assign(static_cast<size_t>(2 * (kh + kw)), 0);
    src_row = buf.data(), w_row = src_row + kh, kx = w_row + kh, koff = kx + kw;
  }
};

constexpr int kP = 8;

// Channels [c0, c0 + width of V) of dst pixels [j0, j0 + P), all interior.
template <typename T, typename V, int P>
__attribute__((always_inline)) inline void interior_block(const RowTaps& t, int64_t C, int64_t KW, const T* src,
                                                          const T* wt, const T* bias, T* dst, int64_t j0, int64_t c0,
                                                          int64_t kmax) {
  V acc[P];
#pragma GCC unroll 8
  for (int q = 0; q < P; ++q) acc[q] = V{};
  for (int r = 0; r < t.nr; ++r) {
    const T* s = src + t.src_row[r] + c0;
    const T* w = wt + t.w_row[r] * KW * C + c0;
    // The source pixels the next block reads and this one does not.
    if (P > 1)
      for (int64_t u = 0; u < P * t.sj; ++u) __builtin_prefetch(s + ((j0 + P - 1) * t.sj + kmax + 1 + u) * C);
    for (int q = 0; q < t.nq; ++q) {
      const V wv = load<T, V>(w + t.kx[q] * C);
      const T* sq = s + (j0 * t.sj + t.koff[q]) * C;
#pragma GCC unroll 8
      for (int u = 0; u < P; ++u) acc[u] += load<T, V>(sq + u * t.sj * C) * wv;
    }
  }
#pragma GCC unroll 8
  for (int u = 0; u < P; ++u) {
    V out = acc[u];
    if (bias) out += load<T, V>(bias + c0);
    std::memcpy(dst + (j0 + u) * t.dstep * C + c0, &out, sizeof(V));
  }
}

template <typename T, typename V>
__attribute__((always_inline)) inline void border_pixel(const RowTaps& t, int64_t C, int64_t KW, const T* src,
                                                        const T* wt, const T* bias, T* dst, int64_t j, int64_t c0) {
  V acc = V{};
  for (int r = 0; r < t.nr; ++r) {
    const T* s = src + t.src_row[r] + c0;
    const T* w = wt + t.w_row[r] * KW * C + c0;
    for (int q = 0; q < t.nq; ++q) {
      const int64_t col = j * t.sj + t.koff[q];
      if (col < 0 || col >= t.wsrc) continue;
      acc += load<T, V>(s + col * C) * load<T, V>(w + t.kx[q] * C);
    }
  }
  if (bias) acc += load<T, V>(bias + c0);
  std::memcpy(dst + j * t.dstep * C + c0, &acc, sizeof(V));
}

// Short rows (under 32 pixels: the 28x28 to 7x7 layers, many of whose pixels are border ones;
// longer rows are memory-bound and do better with the blocks above): the row's K x K
// weight vectors of one channel vector are loaded into registers once and every pixel of the row
// reads only its source pixels. Same terms in the same order as border_pixel.
template <typename T, typename V, int K>
__attribute__((always_inline)) inline void short_row(const RowTaps& t, int64_t C, int64_t KW, const T* src,
                                                     const T* wt, const T* bias, T* dst, int64_t c0) {
  V wv[K][K];
#pragma GCC unroll 8
  for (int r = 0; r < K; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < K; ++q)
      wv[r][q] = r < t.nr ? load<T, V>(wt + t.w_row[r] * KW * C + t.kx[q] * C + c0) : V{};
  const V bv = bias ? load<T, V>(bias + c0) : V{};
  for (int64_t j = 0; j < t.count; ++j) {
    V acc = V{};
#pragma GCC unroll 8
    for (int r = 0; r < K; ++r) {
      if (r >= t.nr) break;
      const T* s = src + t.src_row[r] + c0;
#pragma GCC unroll 8
      for (int q = 0; q < K; ++q) {
        const int64_t col = j * t.sj + t.koff[q];
        if (col < 0 || col >= t.wsrc) continue;
        acc += load<T, V>(s + col * C) * wv[r][q];
      }
    }
    if (bias) acc += bv;
    std::memcpy(dst + j * t.dstep * C + c0, &acc, sizeof(V));
  }
}

template <typename T, int VB>
__attribute__((always_inline)) inline void row_body(const RowTaps& t, int64_t C, int64_t KW, const T* src,
                                                    const T* wt, const T* bias, T* dst) {
  if (t.count < 4 * kP && t.nq == KW && (KW == 3 || KW == 5) && t.nr <= KW) {
    channel_groups<T, VB>(C, [&](auto* tag, int64_t c) __attribute__((always_inline)) {
      using V = std::remove_pointer_t<decltype(tag)>;
      if (KW == 3) short_row<T, V, 3>(t, C, KW, src, wt, bias, dst, c);
      else short_row<T, V, 5>(t, C, KW, src, wt, bias, dst, c);
    });
    return;
  }
  // Interior: j * sj + min(koff) >= 0 and j * sj + max(koff) < wsrc.
  int64_t kmin = 0, kmax = 0;
  for (int q = 0; q < t.nq; ++q) {
    kmin = q == 0 ? t.koff[q] : std::min(kmin, t.koff[q]);
    kmax = q == 0 ? t.koff[q] : std::max(kmax, t.koff[q]);
  }
  int64_t lo = kmin >= 0 ? 0 : (-kmin + t.sj - 1) / t.sj;
  int64_t hi = t.wsrc - 1 - kmax < 0 ? 0 : (t.wsrc - 1 - kmax) / t.sj + 1;
  lo = std::min(lo, t.count);
  hi = std::max(lo, std::min(hi, t.count));
  auto border = [&](int64_t j) {
    channel_groups<T, VB>(C, [&](auto* tag, int64_t c) __attribute__((always_inline)) {
      border_pixel<T, std::remove_pointer_t<decltype(tag)>>(t, C, KW, src, wt, bias, dst, j, c);
    });
  };
  for (int64_t j = 0; j < lo; ++j) border(j);
  int64_t j = lo;
  for (; j + kP <= hi; j += kP)
    channel_groups<T, VB>(C, [&](auto* tag, int64_t c) __attribute__((always_inline)) {
      interior_block<T, std::remove_pointer_t<decltype(tag)>, kP>(t, C, KW, src, wt, bias, dst, j, c, kmax);
    });
  for (; j < hi; ++j)
    channel_groups<T, VB>(C, [&](auto* tag, int64_t c) __attribute__((always_inline)) {
      interior_block<T, std::remove_pointer_t<decltype(tag)>, 1>(t, C, KW, src, wt, bias, dst, j, c, kmax);
    });
  for (j = hi; j < t.count; ++j) border(j);
}

// ---- weight gradient: one chunk of output rows -------------------------------------------------
//
// acc[(ky*KW + kx)*C + c] = sum over the chunk's output pixels (rows r in [lo, hi), then ow, both
// ascending) of dy[r, ow, c] * x[n, ih, iw, c], taps in the padding skipped, starting from 0: the
// order of the plain loop below. For 3x3 and 5x5 the KH*KW accumulators of one vector of channels
// stay in registers over the whole chunk (9 or 25 of AVX-512's 32), so each term costs a load of
// x, a multiply and an add instead of also a load and a store of the accumulator.
template <typename T, typename V, int KH, int KW>
__attribute__((always_inline)) inline void wchunk_taps(const Conv2dParams& p, const T* x, const T* dy, int64_t lo,
                                                       int64_t hi, int64_t c0, T* acc_out) {
  const int64_t C = p.c_in, H = p.h, W = p.w, OH = p.out_h, OW = p.out_w;
  // Output columns whose KW taps are all inside the input.
  int64_t ow_lo = 0;
  while (ow_lo < OW && ow_lo * p.stride_w - p.pad_left < 0) ++ow_lo;
  int64_t ow_hi = ow_lo;
  while (ow_hi < OW && ow_hi * p.stride_w - p.pad_left + (KW - 1) * p.dil_w < W) ++ow_hi;
  V acc[KH * KW];
#pragma GCC unroll 32
  for (int t = 0; t < KH * KW; ++t) acc[t] = V{};
  for (int64_t r = lo; r < hi; ++r) {
    const int64_t n = r / OH, oh = r % OH;
    const T* xrow[KH];
    bool row_ok[KH];
#pragma GCC unroll 8
    for (int ky = 0; ky < KH; ++ky) {
      const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
      row_ok[ky] = ih >= 0 && ih < H;
      xrow[ky] = x + (n * H + (row_ok[ky] ? ih : 0)) * W * C + c0;
    }
    const T* g_row = dy + r * OW * C + c0;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const V g = load<T, V>(g_row + ow * C);
      const int64_t iw0 = ow * p.stride_w - p.pad_left;
      const bool inside = ow >= ow_lo && ow < ow_hi;
#pragma GCC unroll 8
      for (int ky = 0; ky < KH; ++ky) {
        if (!row_ok[ky]) continue;
#pragma GCC unroll 8
        for (int kx = 0; kx < KW; ++kx) {
          const int64_t iw = iw0 + kx * p.dil_w;
          if (!inside && (iw < 0 || iw >= W)) continue;
          acc[ky * KW + kx] += g * load<T, V>(xrow[ky] + iw * C);
        }
      }
    }
  }
#pragma GCC unroll 32
  for (int t = 0; t < KH * KW; ++t) std::memcpy(acc_out + t * C + c0, &acc[t], sizeof(V));
}

template <typename T, int VB>
__attribute__((always_inline)) inline void wchunk_body(const Conv2dParams& p, const T* x, const T* dy, int64_t lo,
                                                       int64_t hi, T* acc) {
  const int64_t C = p.c_in;
  if ((p.kh == 3 && p.kw == 3) || (p.kh == 5 && p.kw == 5)) {
    const bool k3 = p.kh == 3;
    channel_groups<T, VB>(C, [&](auto* tag, int64_t c) __attribute__((always_inline)) {
      using V = std::remove_pointer_t<decltype(tag)>;
      k3 ? wchunk_taps<T, V, 3, 3>(p, x, dy, lo, hi, c, acc) : wchunk_taps<T, V, 5, 5>(p, x, dy, lo, hi, c, acc);
    });
    return;
  }
  const int64_t H = p.h, W = p.w, OH = p.out_h, OW = p.out_w;
  for (int64_t i = 0; i < p.kh * p.kw * C; ++i) acc[i] = T(0);
  for (int64_t r = lo; r < hi; ++r) {
    const int64_t n = r / OH, oh = r % OH;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const T* __restrict g = dy + (r * OW + ow) * C;
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
        if (ih < 0 || ih >= H) continue;
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
          if (iw < 0 || iw >= W) continue;
          const T* __restrict in = x + ((n * H + ih) * W + iw) * C;
          T* __restrict a = acc + (ky * p.kw + kx) * C;
          for (int64_t c = 0; c < C; ++c) a[c] += g[c] * in[c];
        }
      }
    }
  }
}

// Run-time ISA dispatch (simd.h): the vector width has to match the ISA to stay in registers.
template <typename T>
using WChunkFn = void (*)(const Conv2dParams&, const T*, const T*, int64_t, int64_t, T*);
template <typename T>
using RowFn = void (*)(const RowTaps&, int64_t, int64_t, const T*, const T*, const T*, T*);
ADVPROP_ISA_VARIANTS(wchunk, wchunk_body,
                     (const Conv2dParams& p, const T* x, const T* dy, int64_t lo, int64_t hi, T* acc),
                     (p, x, dy, lo, hi, acc))
ADVPROP_ISA_VARIANTS(row, row_body,
                     (const RowTaps& t, int64_t C, int64_t KW, const T* src, const T* wt, const T* bias, T* dst),
                     (t, C, KW, src, wt, bias, dst))

IsaChoice g_isa;

template <typename T>
RowFn<T> row_kernel() {
  return pick_isa<RowFn<T>>(g_isa.level(), &row_default<T>, &row_avx2<T>, &row_avx512<T>);
}

template <typename T>
WChunkFn<T> wchunk_kernel() {
  return pick_isa<WChunkFn<T>>(g_isa.level(), &wchunk_default<T>, &wchunk_avx2<T>, &wchunk_avx512<T>);
}

// Calls fill(t, n, i, r) for every destination row r of the batch, n = r / per_image and
// i = r % per_image, in parallel chunks of rows sized by a row's multiply-adds (width pixels of
// C channels, every tap), each chunk with RowTaps of its own for fill to set.
template <typename Fill>
void for_each_row(const Conv2dParams& p, int64_t per_image, int64_t width, Fill&& fill) {
  const int64_t rows = p.n * per_image;
  parallel_for(0, rows, grain_for(rows, width * p.c_in * p.kh * p.kw), [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> buf;
    RowTaps t(buf, p.kh, p.kw);
    for (int64_t r = lo; r < hi; ++r) fill(t, r / per_image, r % per_image, r);
  });
}

// epi: the inference epilogue (epilogue.h), only ever non-null for f32 and f64 (the validator),
// on each output row while it is in cache.
// kept: the weights already transposed (the packed-weights cache's, for the inference path), or
// null to transpose them here.
template <typename T>
void forward_typed(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* y, const Epilogue* epi = nullptr,
                   const T* kept = nullptr) {
  const int64_t C = p.c_in, H = p.h, W = p.w, OW = p.out_w;
  const std::vector<T> wt_own = kept ? std::vector<T>() : transpose_weights(p, w);
  const T* const wt = kept ? kept : wt_own.data();
  if constexpr (std::is_same_v<T, float>)
    if (depthwise_detail::forward_blocked_f32(p, x, wt, bias, y, epi, g_isa.level())) return;
  const RowFn<T> row = row_kernel<T>();
  for_each_row(p, p.out_h, OW, [&](RowTaps& t, int64_t n, int64_t oh, int64_t r) {
    t.nr = t.nq = 0;
    t.sj = p.stride_w, t.dstep = 1, t.count = OW, t.wsrc = W;
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
      if (ih < 0 || ih >= H) continue;
      t.src_row[t.nr] = (n * H + ih) * W * C;
      t.w_row[t.nr++] = ky;
    }
    for (int64_t kx = 0; kx < p.kw; ++kx) {
      t.kx[t.nq] = kx;
      t.koff[t.nq++] = kx * p.dil_w - p.pad_left;
    }
    row(t, C, p.kw, x, wt, bias, y + r * OW * C);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
      if (epi) apply_epilogue_rows(epilogue_view<T>(epi, C, C), y + r * OW * C, C, r * OW, OW, 0, C);
  });
}

// Output index o with o*s - pad + k*d == i, or -1.
inline int64_t source_index(int64_t i, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t out) {
  const int64_t num = i + pad - k * d;
  if (num < 0 || num % s != 0) return -1;
  const int64_t o = num / s;
  return o < out ? o : -1;
}

template <typename T>
void backward_input_typed(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t C = p.c_in, H = p.h, W = p.w, OH = p.out_h, OW = p.out_w, S = p.stride_w;
  const std::vector<T> wt = transpose_weights(p, w);
  const RowFn<T> row = row_kernel<T>();
  for_each_row(p, H, W, [&](RowTaps& t, int64_t n, int64_t ih, int64_t r) {
    t.nr = 0;
    t.sj = 1, t.dstep = S, t.wsrc = OW;
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t oh = source_index(ih, ky, p.stride_h, p.dil_h, p.pad_top, OH);
      if (oh < 0) continue;
      t.src_row[t.nr] = (n * OH + oh) * OW * C;
      t.w_row[t.nr++] = ky;
    }
    for (int64_t rho = 0; rho < std::min(S, W); ++rho) {
      t.nq = 0;
      t.count = (W - rho + S - 1) / S;
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t num = rho + p.pad_left - kx * p.dil_w;
        if (((num % S) + S) % S != 0) continue;
        t.kx[t.nq] = kx;
        t.koff[t.nq++] = num / S;  // exact, so truncation is floor here
      }
      row(t, C, p.kw, dy, wt.data(), nullptr, dx + (r * W + rho) * C);
    }
  });
}

// Multiply-adds per weight-gradient chunk, at least (where there are enough).
constexpr int64_t kMinChunkMacs = int64_t(1) << 18;

// The weight gradient's chunks of output rows, each with its own [KH, KW, C] partial sum,
// combined in chunk order. The chunking depends only on the shape, so the result does not depend
// on the thread count: at most 64 chunks, and few enough that each one's work outweighs writing
// and re-reading its partial. With 64 chunks regardless, the 7x7 and 1x1 layers (64 rows, 25 x
// 1152 taps) spent most of their time zeroing, writing and serially summing megabytes of partials.
using depthwise_detail::WChunks;
WChunks wchunks(const Conv2dParams& p) {
  const int64_t rows = p.n * p.out_h;
  const int64_t macs = rows * p.out_w * p.kh * p.kw * p.c_in;
  const int64_t want = std::min<int64_t>(64, std::max<int64_t>(1, macs / kMinChunkMacs));
  const int64_t grain = std::max<int64_t>(1, (rows + want - 1) / want);
  return {rows, grain, rows == 0 ? 0 : (rows + grain - 1) / grain};
}

// dw[c, ky, kx] = store(the sum of the chunks' partials from chunk 0 in order). The entries are
// independent, so they are shared out over the threads, written straight into dw's [C, KH, KW]
// order.
template <typename A, typename T, typename Store>
void combine_chunks(const Conv2dParams& p, const A* part, int64_t nchunks, T* dw, Store store) {
  const int64_t C = p.c_in, taps = p.kh * p.kw, tc = taps * C;
  constexpr int64_t kBlock = 512;
  parallel_for(0, tc, std::max<int64_t>(kBlock, grain_for(tc, nchunks)), [&](int64_t lo, int64_t hi) {
    A sum[kBlock];
    for (int64_t i0 = lo; i0 < hi; i0 += kBlock) {
      const int64_t len = std::min<int64_t>(kBlock, hi - i0);
      for (int64_t j = 0; j < len; ++j) sum[j] = A(0);
      for (int64_t k = 0; k < nchunks; ++k)
        for (int64_t j = 0; j < len; ++j) sum[j] += part[k * tc + i0 + j];
      for (int64_t j = 0; j < len; ++j) dw[((i0 + j) % C) * taps + (i0 + j) / C] = store(sum[j]);
    }
  });
}

template <typename T>
void backward_weight_typed(const Conv2dParams& p, const T* x, const T* dy, T* dw) {
  const WChunks ch = wchunks(p);
  const int64_t tc = p.kh * p.kw * p.c_in;
  std::unique_ptr<T[]> partial(new T[static_cast<size_t>(ch.count * tc)]);  // each chunk writes all of its part
  const WChunkFn<T> chunk = wchunk_kernel<T>();
  parallel_for(0, ch.rows, ch.grain,
               [&](int64_t lo, int64_t hi) { chunk(p, x, dy, lo, hi, partial.get() + (lo / ch.grain) * tc); });
  combine_chunks(p, partial.get(), ch.count, dw, [](T v) { return v; });
}

}  // namespace

namespace depthwise_detail {
void forward_f32(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y) {
  forward_typed<float>(p, x, w, bias, y);
}
void backward_input_f32(const Conv2dParams& p, const float* dy, const float* w, float* dx) {
  backward_input_typed<float>(p, dy, w, dx);
}
WChunks weight_chunks(const Conv2dParams& p) { return wchunks(p); }
WChunkF32 wchunk_f32() { return wchunk_kernel<float>(); }
void combine_chunks_half(const Conv2dParams& p, const float* part, int64_t nchunks, Tensor& dw) {
  dispatch_dtype<HalfTypes>(dw.dtype(), "depthwise_backward_weight", [&](auto tag) {
    using T = decltype(tag);
    combine_chunks(p, part, nchunks, dw.data_as<T>(), [](float v) { return from_accum<T>(v); });
  });
}
}  // namespace depthwise_detail

// Forces the row kernel's ISA for later calls (1 baseline, 2 AVX2, 3 AVX-512, 0 the best
// available); false, changing nothing, when this CPU or build lacks it. For the test that every
// ISA gives the same bits; not in a public header.
bool set_depthwise_isa(int level) { return g_isa.force(level); }

void depthwise_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  depthwise_forward(p, x, w, bias, y, nullptr);
}

void depthwise_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                       const Epilogue* epi) {
  const char* op = "depthwise_forward";
  ADVPROP_ASSERT(passes(check_depthwise_forward, op, p, DeviceType::cpu, x, w, bias, y, epi));
  if (y.numel() == 0) return;
  if (is_half(y.dtype())) return depthwise_detail::forward_half(p, x, w, bias, y);
  dispatch_dtype(y.dtype(), op, [&](auto t) {
    using T = decltype(t);
    const T* wp = w.data_as<T>();
    // The inference path (an epilogue) keeps the transposed weights between calls, as the GEMM
    // keeps its packs (gemm_pack_cache.h; nr -1 tells this layout from the GEMM's).
    std::shared_ptr<const void> kept;
    if (epi) {
      PackKey key;
      key.storage = w.storage().get(), key.stamp = w.storage()->stamp(), key.offset = w.offset();
      key.k = p.kh * p.kw, key.n = p.c_in, key.elem = static_cast<int>(sizeof(T)), key.nr = -1;
      kept = packed_weights(w, key, static_cast<size_t>(key.k * key.n) * sizeof(T),
                            [&](void* dst) { transpose_weights_into(p, wp, static_cast<T*>(dst)); });
    }
    forward_typed<T>(p, x.data_as<T>(), wp, bias ? bias->data_as<T>() : nullptr, y.data_as<T>(), epi,
                     static_cast<const T*>(kept.get()));
  });
}

void depthwise_backward_input(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  const char* op = "depthwise_backward_input";
  ADVPROP_ASSERT(passes(check_depthwise_backward_input, op, p, DeviceType::cpu, dy, w, dx));
  if (dx.numel() == 0) return;
  if (is_half(dx.dtype())) return depthwise_detail::backward_input_half(p, dy, w, dx);
  dispatch_dtype(dx.dtype(), op, [&](auto t) {
    using T = decltype(t);
    backward_input_typed<T>(p, dy.data_as<T>(), w.data_as<T>(), dx.data_as<T>());
  });
}

void depthwise_backward_weight(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw) {
  const char* op = "depthwise_backward_weight";
  ADVPROP_ASSERT(passes(check_depthwise_backward_weight, op, p, DeviceType::cpu, x, dy, dw));
  if (dw.numel() == 0) return;
  if (is_half(dw.dtype())) return depthwise_detail::backward_weight_half(p, x, dy, dw);
  dispatch_dtype(dw.dtype(), op, [&](auto t) {
    using T = decltype(t);
    backward_weight_typed<T>(p, x.data_as<T>(), dy.data_as<T>(), dw.data_as<T>());
  });
}

}  // namespace cpu
}  // namespace advprop
