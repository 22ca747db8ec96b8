// The cpu depthwise forward for the common f32 shapes (kernel width 3 or 5, column stride 1 or 2,
// column dilation 1: every depthwise layer of EfficientNet and MobileNet); other shapes and
// dtypes, and the input gradient, take depthwise.cc's general row kernel.
//
// Output pixel j of a row is the sum over the row taps r (ascending ky) and the column taps q
// (ascending kx) of in_r[j * S + q - pad] * w[r][q], taps outside the input skipped, starting
// from 0, the bias added last: the order of the plain per-pixel loop, so the bits are those of the
// general kernel, on every ISA (no FMA, as there). Only the loop differs: a block of P output
// pixels of one channel vector keeps its P accumulators and the row tap's K weight vectors in
// registers and walks the (P - 1) * S + K input pixels the block reads once each, in ascending
// column order, adding each into every accumulator it feeds. Walking by input column keeps each
// accumulator's terms in ascending q (its taps are the columns j * S - pad + q), and reads each
// input vector once per block instead of once per tap: about one load per multiply-add pair where
// the general kernel issued two.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "advprop/conv.h"
#include "advprop/parallel.h"
#include "channel_vectors.h"
#include "depthwise_f32.h"
#include "epilogue.h"
#include "pool_sums.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace depthwise_detail {
namespace {

// One output row of the forward.
struct FwdRow {
  int nr = 0;                            // row taps inside the input
  const int64_t* src_row = nullptr;      // element offset of each one's input row (pixel 0, channel 0)
  const int64_t* w_row = nullptr;        // its ky
  int npf = 0;                           // input rows to prefetch (see fwd_row_taps)
  const int64_t* pf_row = nullptr;       // their element offsets
  int64_t count = 0, wsrc = 0, pad = 0;  // output pixels, input pixels, left padding
  bool channels_outer = false;           // the loop order (see fwd_row_taps)
};

// Channels [c0, c0 + width of V) of output pixels [j0, j0 + P). Input columns outside the row
// are skipped, and pixels from `count` on are not stored (a row shorter than P). Every block
// checks: the checks are integer work beside the vector multiplies and adds, and a second,
// unchecked copy for the interior blocks doubled the code for no time measured.
template <typename T, typename V, int K, int S, int P>
__attribute__((always_inline)) inline void fwd_block(const FwdRow& t, int64_t C, const T* src, const T* wt,
                                                     const T* bias, T* dst, int64_t j0, int64_t c0) {
  constexpr int kSpan = (P - 1) * S + K;
  const int64_t col0 = j0 * S - t.pad;
  for (int k = 0; k < t.npf; ++k) {
    const T* s = src + t.pf_row[k] + c0 + j0 * S * C;
    for (int u = 0; u < P * S; ++u) __builtin_prefetch(s + u * C);
  }
  V acc[P];
#pragma GCC unroll 16
  for (int u = 0; u < P; ++u) acc[u] = V{};
  for (int r = 0; r < t.nr; ++r) {
    const T* s = src + t.src_row[r] + c0;
    const T* w = wt + t.w_row[r] * K * C + c0;
    V wv[K];
#pragma GCC unroll 8
    for (int q = 0; q < K; ++q) wv[q] = load<T, V>(w + q * C);
#pragma GCC unroll 64
    for (int i = 0; i < kSpan; ++i) {
      const int64_t col = col0 + i;
      if (col < 0 || col >= t.wsrc) continue;
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
    if (j0 + u >= t.count) break;
    V out = acc[u];
    if (bias) out += load<T, V>(bias + c0);
    std::memcpy(dst + (j0 + u) * C + c0, &out, sizeof(V));
  }
}

// The row in blocks of P pixels; where the length is not a multiple of P the last block ends at
// the row's end and recomputes (bit for bit the same) pixels of the one before.
template <typename T, int K, int S, int P, int VB>
__attribute__((always_inline)) inline void fwd_row_p(const FwdRow& t, int64_t C, const T* src, const T* wt,
                                                     const T* bias, T* dst) {
  auto blocks = [&](auto&& f) __attribute__((always_inline)) {
    if (t.count <= P) return f(0);
    int64_t j0 = 0;
    for (; j0 + P <= t.count; j0 += P) f(j0);
    if (j0 < t.count) f(t.count - P);
  };
  // Channel tiles of one vector (channels outside the blocks) or of all C (inside); one loop
  // nest for both, so each block is compiled once per vector width.
  const int64_t tile = t.channels_outer ? VB / static_cast<int64_t>(sizeof(T)) : C;
  for (int64_t c0 = 0; c0 < C; c0 += tile)
    blocks([&](int64_t j0) __attribute__((always_inline)) {
      channel_groups<T, VB>(std::min(tile, C - c0), [&](auto* tag, int64_t c) __attribute__((always_inline)) {
        fwd_block<T, std::remove_pointer_t<decltype(tag)>, K, S, P>(t, C, src, wt, bias, dst, j0, c0 + c);
      });
    });
}

// P = 8 (accumulators, K weights, the input and a product fit SSE's and AVX2's 16 registers), or
// 7 where that wastes fewer recomputed pixels: every B0 row length (112 down to 7) is a multiple
// of 7, and the 28 to 7 pixel rows spent 12 % of their time on pixels computed twice.
template <typename T, int K, int S, int VB>
__attribute__((always_inline)) inline void fwd_row_body(const FwdRow& t, int64_t C, const T* src, const T* wt,
                                                        const T* bias, T* dst) {
  if ((t.count + 6) / 7 * 7 < (t.count + 7) / 8 * 8) fwd_row_p<T, K, S, 7, VB>(t, C, src, wt, bias, dst);
  else fwd_row_p<T, K, S, 8, VB>(t, C, src, wt, bias, dst);
}

// Fills f for output row oh of image n; rows has room for 3 * p.kh offsets. The rows to prefetch
// are those the next output row reads and this one does not (1 at stride 1, 2 at stride 2),
// fetched a block at a time a whole row ahead: the hardware prefetcher alone left the wide
// stride-2 layer waiting on memory (112x112x96 at batch 8, 2 threads: 1.3 ms, 1.0 with these).
// The last row of a chunk fetches for a row another thread may compute; no harm.
void fwd_row_taps(const Conv2dParams& p, int64_t n, int64_t oh, int64_t* rows, FwdRow& f) {
  const int64_t H = p.h, W = p.w, C = p.c_in;
  int64_t *src_row = rows, *w_row = rows + p.kh, *pf_row = rows + 2 * p.kh;
  f.nr = f.npf = 0;
  for (int64_t ky = 0; ky < p.kh; ++ky) {
    const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
    if (ih < 0 || ih >= H) continue;
    src_row[f.nr] = (n * H + ih) * W * C;
    w_row[f.nr++] = ky;
  }
  const int64_t last = oh * p.stride_h - p.pad_top + (p.kh - 1) * p.dil_h;
  for (int64_t ky = 0; ky < p.kh && oh + 1 < p.out_h; ++ky) {
    const int64_t ih = (oh + 1) * p.stride_h - p.pad_top + ky * p.dil_h;
    if (ih > last && ih >= 0 && ih < H) pf_row[f.npf++] = (n * H + ih) * W * C;
  }
  f.src_row = src_row, f.w_row = w_row, f.pf_row = pf_row;
  f.count = p.out_w, f.wsrc = W, f.pad = p.pad_left;
  // The pixel blocks loop inside each channel vector (each vector's pass over the row finds the
  // block's overlap with the one before in L1) unless a block of all channels is mid-sized: then
  // the channels loop inside and the pixels are read whole. Measured on the B0 shapes: the 3x3
  // layers at C 96 s2 and C 144 s1 (blocks of 17 to 20 KiB) were 10-20 % faster with the channels
  // inside, 112x112x32 (4 KiB) and the 5x5 layers (55 KiB and up) 10-20 % faster with them outside.
  const int64_t block_bytes = (7 * p.stride_w + p.kw) * p.kh * C * static_cast<int64_t>(sizeof(float));
  f.channels_outer = block_bytes < (12 << 10) || block_bytes > (32 << 10);
}

ADVPROP_ISA_VARIANTS_OF(fwd_row, fwd_row_body, (typename T, int K, int S), (T, K, S),
                        (const FwdRow& t, int64_t C, const T* src, const T* wt, const T* bias, T* dst),
                        (t, C, src, wt, bias, dst))

using FwdRowFn = void (*)(const FwdRow&, int64_t, const float*, const float*, const float*, float*);

FwdRowFn fwd_row_kernel(const Conv2dParams& p, int isa) {
  if (p.dil_w != 1) return nullptr;
  if (p.kw == 3 && p.stride_w == 1) return fwd_row_variant<float, 3, 1>(isa);
  if (p.kw == 3 && p.stride_w == 2) return fwd_row_variant<float, 3, 2>(isa);
  if (p.kw == 5 && p.stride_w == 1) return fwd_row_variant<float, 5, 1>(isa);
  if (p.kw == 5 && p.stride_w == 2) return fwd_row_variant<float, 5, 2>(isa);
  return nullptr;
}

}  // namespace

// The rows go out in contiguous runs, about 8 per thread, so that a thread finds the input rows
// its previous output row read (K - S of them) in its own cache; one-row chunks (what the general
// kernel's grain gives these shapes) alternated the rows between the threads and made both read
// every input row (batch 8, 2 threads: 112x112x32 1.0 ms with them, 0.5 without; 112x112x96 s2
// 2.0 and 1.1). 4 and 16 runs per thread timed alike; 8 keeps the threads even when one is slowed.
//
// With epi->pool (squeeze-excite's pool of this output, next in the block) and at least two images
// per thread, the work goes out an image at a time instead, so each image's rows are computed in
// order by one thread, which adds each finished row into the pool's chunk sums (pool_sums.h) while
// it is in cache: the same sums in the same order as global_avg_pool_forward, without reading the
// output back from memory. (Batch 8 on 2 threads gives 4 images per thread; row runs of 4 and 16
// per thread had timed alike, and the B0 forward is 5-8 % faster with this, bench/RESULTS.md.)
bool forward_blocked_f32(const Conv2dParams& p, const float* x, const float* wt, const float* bias, float* y,
                         const Epilogue* epi, int isa) {
  const FwdRowFn fwd_row = fwd_row_kernel(p, isa);
  if (!fwd_row) return false;
  const int64_t rows = p.n * p.out_h, OW = p.out_w, C = p.c_in, chunks = 8 * num_threads();
  if (epi && epi->pool && p.n >= 2 * num_threads()) {
    const int64_t P = p.out_h * OW, chunk = spatial_chunk(C), nchunks = (P + chunk - 1) / chunk;
    std::vector<float> partial(static_cast<size_t>(p.n * nchunks * C), 0.0f);
    parallel_for(0, p.n, 1, [&](int64_t lo, int64_t hi) {
      std::vector<int64_t> rows_buf(static_cast<size_t>(3 * p.kh));
      FwdRow f;
      for (int64_t n = lo; n < hi; ++n)
        for (int64_t oh = 0; oh < p.out_h; ++oh) {
          const int64_t r = n * p.out_h + oh;
          float* yr = y + r * OW * C;
          fwd_row_taps(p, n, oh, rows_buf.data(), f);
          fwd_row(f, C, x, wt, bias, yr);
          apply_epilogue_rows(epilogue_view<float>(epi, C, C), yr, C, r * OW, OW, 0, C);
          // The row's positions oh*OW.. split where the pool's chunks end.
          for (int64_t q = 0; q < OW;) {
            const int64_t pos = oh * OW + q, k = pos / chunk, end = std::min(OW, (k + 1) * chunk - oh * OW);
            spatial_accumulate(yr + q * C, partial.data() + (n * nchunks + k) * C, end - q, C);
            q = end;
          }
        }
    });
    spatial_finish(partial.data(), p.n, P, C, epi->pool->data_as<float>());
    *epi->pool_done = true;
    return true;
  }
  const int64_t min_rows = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, OW * C * p.kh * p.kw));
  const int64_t grain = std::max(min_rows, (rows + chunks - 1) / chunks);
  parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> rows_buf(static_cast<size_t>(3 * p.kh));
    FwdRow f;
    for (int64_t r = lo; r < hi; ++r) {
      fwd_row_taps(p, r / p.out_h, r % p.out_h, rows_buf.data(), f);
      fwd_row(f, C, x, wt, bias, y + r * OW * C);
      if (epi) apply_epilogue_rows(epilogue_view<float>(epi, C, C), y + r * OW * C, C, r * OW, OW, 0, C);
    }
  });
  return true;
}

}  // namespace depthwise_detail
}  // namespace cpu
}  // namespace advprop
