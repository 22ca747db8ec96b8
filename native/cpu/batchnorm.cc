// CPU multi-domain batch norm (contract: advprop/batchnorm.h). NHWC, so every segment is a
// contiguous [rows, C] block with rows = count*H*W; every loop runs over C innermost.
// forward: one statistics pass (shifted sums, f64 accumulators, over row chunks combined in chunk order),
// then one normalise + affine + activation pass. backward: one pass for sum(g) and sum(g * xhat)
// per (segment, channel), then one elementwise dx pass; both recompute xhat and the activation's
// derivative from x and the saved mean/invstd. Chunks depend only on the shape: results do not
// depend on the thread count.
// bf16 and f16 (storage T, arithmetic A = Accum<T> = f32): the loops widen each element as they
// read it and round once as they write, with the parameters and statistics in f32; a 16-bit x
// gives the bits the f32 path gives for x widened to f32 (stats_vec, the f32 register fast path,
// sums in the same order as the plain loop the 16-bit types take), then one rounding of y and dx.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

#include "advprop/batchnorm.h"
#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/parallel.h"
#include "advprop/pointwise.h"
#include "bn_math.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

using Math = BnMath;  // bn_math.h; the eval-mode forward takes BnMathEval (as the inference epilogue does) unless BnArgs::training_math

// Rows per chunk so that a chunk holds about kGrainCheap elements.
int64_t row_grain(int64_t rows, int64_t c) {
  return std::max<int64_t>(1, std::min<int64_t>(rows, kGrainCheap / std::max<int64_t>(1, c)));
}

// The f32 statistics hold up to 8 vectors of 16 channels' partial sums in registers while they run
// along the rows of a block (the plain loop below reloads and stores its two partial sums for every
// element, and paid per-row loop overhead at C = 32: it read x at about half the speed the
// normalise pass does). Same per-channel order of operations as the plain loop, so the same bits.
// V16 values never cross a call: a baseline helper passes them differently from an AVX-512 clone,
// hence always_inline (and the ABI note g++ gives for them does not apply).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float V16 __attribute__((vector_size(64)));
inline __attribute__((always_inline)) V16 load16(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// s1/s2[c] += sums over rows [r0, r1) of channels [c0, c0 + 16 NV), f32 within the block.
template <int NV>
inline __attribute__((always_inline)) void stats_group(const float* __restrict x, int64_t r0, int64_t r1, int64_t C,
                                                       int64_t c0, const float* __restrict shift,
                                                       double* __restrict s1, double* __restrict s2) {
  V16 sh[NV], a1[NV], a2[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) sh[v] = load16(shift + c0 + 16 * v), a1[v] = a2[v] = V16{};
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict row = x + r * C + c0;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const V16 d = load16(row + 16 * v) - sh[v];
      a1[v] += d;
      a2[v] += d * d;
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v)
    for (int j = 0; j < 16; ++j) {
      s1[c0 + 16 * v + j] += static_cast<double>(a1[v][j]);
      s2[c0 + 16 * v + j] += static_cast<double>(a2[v][j]);
    }
}

// Channels [0, 16 * (C / 16)) of rows [r0, r1), in groups of at most 8 vectors.
inline __attribute__((always_inline)) void stats_vec(const float* __restrict x, int64_t r0, int64_t r1, int64_t C,
                                                     const float* __restrict shift, double* __restrict s1,
                                                     double* __restrict s2) {
  const int64_t nv = C / 16;
  int64_t v0 = 0;
  for (; v0 + 8 <= nv; v0 += 8) stats_group<8>(x, r0, r1, C, 16 * v0, shift, s1, s2);
  switch (nv - v0) {
    case 1: stats_group<1>(x, r0, r1, C, 16 * v0, shift, s1, s2); break;
    case 2: stats_group<2>(x, r0, r1, C, 16 * v0, shift, s1, s2); break;
    case 3: stats_group<3>(x, r0, r1, C, 16 * v0, shift, s1, s2); break;
    case 4: stats_group<4>(x, r0, r1, C, 16 * v0, shift, s1, s2); break;
    case 5: stats_group<5>(x, r0, r1, C, 16 * v0, shift, s1, s2); break;
    case 6: stats_group<6>(x, r0, r1, C, 16 * v0, shift, s1, s2); break;
    case 7: stats_group<7>(x, r0, r1, C, 16 * v0, shift, s1, s2); break;
    default: break;
  }
}

// Two per-channel sums over rows [lo, hi) into the f64 accumulators acc[0..C) and acc[C..2C), in
// blocks of rows summed in T: f32 input sums 16 rows at a time in f32 (a few ulp of error each)
// and adds the block sums into the f64 accumulators (f64 arithmetic on every element made these
// passes compute-bound); f64 input is one block. For each block, head(r0, r1, s1, s2) runs first
// and returns the channel c0 from which on the block is left to row(r, c0, b1, b2), which adds
// row r's terms into b1, b2 (zeroed for the block). Inlined into the ISA clones that call it.
template <typename T, typename Head, typename Row>
__attribute__((always_inline)) inline void block_sums(int64_t lo, int64_t hi, int64_t C, double* __restrict acc,
                                                      T* __restrict blk, Head&& head, Row&& row) {
  constexpr int64_t kBlock = std::is_same_v<T, float> ? 16 : int64_t(1) << 40;
  double* __restrict s1 = acc;
  double* __restrict s2 = acc + C;
  T* __restrict b1 = blk;
  T* __restrict b2 = blk + C;
  for (int64_t r0 = lo; r0 < hi; r0 += kBlock) {
    const int64_t r1 = std::min(hi, r0 + kBlock);
    const int64_t c0 = head(r0, r1, s1, s2);
    if (c0 == C) continue;
    for (int64_t c = c0; c < C; ++c) b1[c] = b2[c] = T(0);
    for (int64_t r = r0; r < r1; ++r) row(r, c0, b1, b2);
    for (int64_t c = c0; c < C; ++c) {
      s1[c] += static_cast<double>(b1[c]);
      s2[c] += static_cast<double>(b2[c]);
    }
  }
}

// acc[0..C) += sum of (x - shift), acc[C..2C) += sum of (x - shift)^2 over rows [lo, hi); f32
// takes the whole vectors of 16 channels in registers first (stats_vec).
template <typename T, typename A = Accum<T>>
ADVPROP_CPU_CLONES void stats_rows(const T* __restrict x, int64_t lo, int64_t hi, int64_t C,
                                   const A* __restrict shift, double* __restrict acc, A* __restrict blk) {
  block_sums<A>(
      lo, hi, C, acc, blk,
      [&](int64_t r0, int64_t r1, double* __restrict s1, double* __restrict s2) __attribute__((always_inline)) {
        if constexpr (std::is_same_v<T, float>) {
          stats_vec(x, r0, r1, C, shift, s1, s2);
          return C / 16 * 16;
        }
        return int64_t(0);
      },
      [&](int64_t r, int64_t c0, A* __restrict b1, A* __restrict b2) __attribute__((always_inline)) {
        const T* __restrict in = x + r * C;
        for (int64_t c = c0; c < C; ++c) {
          const A d = to_accum(in[c]) - shift[c];
          b1[c] += d;
          b2[c] += d * d;
        }
      });
}

template <BnAct ACT, typename M, typename T, typename A = Accum<T>>
ADVPROP_CPU_CLONES void apply_rows(const T* __restrict x, T* __restrict y, int64_t lo, int64_t hi, int64_t C,
                                   const A* __restrict mean, const A* __restrict scale, const A* __restrict beta) {
  for (int64_t r = lo; r < hi; ++r) {
    const T* __restrict in = x + r * C;
    T* __restrict out = y + r * C;
    for (int64_t c = 0; c < C; ++c)
      out[c] = from_accum<T>(bn_act_forward<ACT, M>((to_accum(in[c]) - mean[c]) * scale[c] + beta[c]));
  }
}

// acc[0..C) += sum of g, acc[C..2C) += sum of g * xhat over rows [lo, hi), in f32 row blocks
// under f64 accumulators as in stats_rows. With STORE, g is also written to gout (dx's memory)
// for dx_from_g_rows (only where T is its own arithmetic type: a 16-bit g would be rounded twice).
template <BnAct ACT, bool STORE, typename T, typename A = Accum<T>>
ADVPROP_CPU_CLONES void grad_sums_rows(const T* __restrict dy, const T* __restrict x, int64_t lo, int64_t hi,
                                       int64_t C, const A* __restrict mean, const A* __restrict invstd,
                                       const A* __restrict gamma, const A* __restrict beta, double* __restrict acc,
                                       T* __restrict gout, A* __restrict blk) {
  static_assert(!STORE || std::is_same_v<T, A>, "g is stored only in its arithmetic type");
  block_sums<A>(
      lo, hi, C, acc, blk, [](int64_t, int64_t, double*, double*) __attribute__((always_inline)) { return int64_t(0); },
      [&](int64_t r, int64_t, A* __restrict b1, A* __restrict b2) __attribute__((always_inline)) {
        const T* __restrict xr = x + r * C;
        const T* __restrict gr = dy + r * C;
        for (int64_t c = 0; c < C; ++c) {
          const A xhat = (to_accum(xr[c]) - mean[c]) * invstd[c];
          const A g = bn_act_backward<ACT, Math>(xhat * gamma[c] + beta[c], to_accum(gr[c]));
          if constexpr (STORE) gout[r * C + c] = g;
          b1[c] += g;
          b2[c] += g * xhat;
        }
      });
}

// dx = k * (g - a - xhat * b) with k = gamma * invstd, a = mean(g), b = mean(g * xhat); eval
// passes a = b = 0.
template <BnAct ACT, typename T, typename A = Accum<T>>
ADVPROP_CPU_CLONES void dx_rows(const T* __restrict dy, const T* __restrict x, T* __restrict dx, int64_t lo,
                                int64_t hi, int64_t C, const A* __restrict mean, const A* __restrict invstd,
                                const A* __restrict gamma, const A* __restrict beta, const A* __restrict k,
                                const A* __restrict a, const A* __restrict b) {
  for (int64_t r = lo; r < hi; ++r) {
    const T* __restrict xr = x + r * C;
    const T* __restrict gr = dy + r * C;
    T* __restrict out = dx + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const A xhat = (to_accum(xr[c]) - mean[c]) * invstd[c];
      const A g = bn_act_backward<ACT, Math>(xhat * gamma[c] + beta[c], to_accum(gr[c]));
      out[c] = from_accum<T>(k[c] * (g - a[c] - xhat * b[c]));
    }
  }
}

// dx = k * (g - a - xhat * b) in place over dx, which holds g.
template <typename T>
ADVPROP_CPU_CLONES void dx_from_g_rows(const T* __restrict x, T* __restrict dx, int64_t lo, int64_t hi, int64_t C,
                                       const T* __restrict mean, const T* __restrict invstd, const T* __restrict k,
                                       const T* __restrict a, const T* __restrict b) {
  for (int64_t r = lo; r < hi; ++r) {
    const T* __restrict xr = x + r * C;
    T* __restrict out = dx + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const T xhat = (xr[c] - mean[c]) * invstd[c];
      out[c] = k[c] * (out[c] - a[c] - xhat * b[c]);
    }
  }
}

// Sums a per-row quantity over `rows` rows into total[0..2C) with chunk partials combined in
// chunk order. body(lo, hi, acc) adds rows [lo, hi) into acc.
template <typename F>
void chunked_sums(int64_t rows, int64_t C, double* total, const F& body) {
  const int64_t grain = row_grain(rows, C);
  const int64_t nchunks = (rows + grain - 1) / grain;
  std::vector<double> partial(static_cast<size_t>(nchunks * 2 * C), 0.0);
  parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) { body(lo, hi, partial.data() + (lo / grain) * 2 * C); });
  std::fill(total, total + 2 * C, 0.0);
  for (int64_t k = 0; k < nchunks; ++k) {
    const double* p = partial.data() + k * 2 * C;
    for (int64_t i = 0; i < 2 * C; ++i) total[i] += p[i];
  }
}

// A channel count that is not a multiple of 16 leaves every per-row loop short, with a scalar
// tail (C = 24: one vector and 8 scalars per row; C = 8: no vector at all), which ran 10-40x
// slower than a copy. Such a [rows, C] block is processed as [rows / m, m C] wide rows, with the
// per-channel parameters tiled m times (m = 16 / gcd(C, 16), so m C is a multiple of 16), and the
// last rows % m rows as they are. The elementwise passes compute exactly what they did; the
// sums gather each channel's m lanes, in lane order, after the chunk sums: an order fixed by the
// shape alone.
struct Wide {
  int64_t m = 1, L = 0, rows = 0, rem = 0;  // L = m C; rows: wide rows; rem: narrow rows after them
};

Wide wide_for(int64_t C, int64_t rows) {
  Wide w;
  w.L = C;
  w.rows = rows;
  if (C <= 0 || C % 16 == 0 || C >= 256) return w;
  const int64_t m = 16 / std::gcd<int64_t>(C, 16);
  if (rows < m) return w;
  w.m = m;
  w.L = m * C;
  w.rows = rows / m;
  w.rem = rows % m;
  return w;
}

// v[0..C) repeated m times.
template <typename T>
std::vector<T> tiled(const T* v, int64_t C, int64_t m) {
  std::vector<T> out(static_cast<size_t>(m * C));
  for (int64_t r = 0; r < m; ++r) std::copy(v, v + C, out.begin() + r * C);
  return out;
}

// Per-channel sums [s1 | s2] (2C) from wide-lane sums [s1 | s2] (2L), lanes in order.
void fold_lanes(const double* lanes, int64_t C, int64_t m, double* total) {
  for (int64_t c = 0; c < 2 * C; ++c) total[c] = 0.0;
  const int64_t L = m * C;
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < C; ++c) total[h * C + c] += lanes[h * L + r * C + c];
}

// Tiled copy of v for the wide view, empty when there is none.
template <typename T>
std::vector<T> tiled_for(const Wide& w, const T* v, int64_t C) {
  return w.m > 1 ? tiled(v, C, w.m) : std::vector<T>();
}

// sums[0..2C) over a segment: chunked over its wide rows, lanes folded into channels (or over all
// its rows when w.m == 1), then its narrow remainder rows. body(base, lo, hi, cc, wide, acc, blk)
// adds rows [lo, hi) of width cc, starting at element `base` of the segment; `wide` says which
// parameters (tiled or not) go with cc; blk is room for the row blocks' sums in A.
template <typename A, typename F>
void segment_sums(const Wide& w, int64_t C, double* sums, const F& body) {
  std::vector<double> lanes(w.m > 1 ? static_cast<size_t>(2 * w.L) : 0);
  chunked_sums(w.rows, w.L, w.m > 1 ? lanes.data() : sums, [&](int64_t lo, int64_t hi, double* acc) {
    std::vector<A> blk(static_cast<size_t>(2 * w.L));
    body(int64_t(0), lo, hi, w.L, w.m > 1, acc, blk.data());
  });
  if (w.m == 1) return;
  fold_lanes(lanes.data(), C, w.m, sums);
  if (w.rem == 0) return;
  std::vector<double> tail(static_cast<size_t>(2 * C), 0.0);
  std::vector<A> blk(static_cast<size_t>(2 * C));
  body(w.rows * w.L, 0, w.rem, C, false, tail.data(), blk.data());
  for (int64_t c = 0; c < 2 * C; ++c) sums[c] += tail[c];
}

// An elementwise pass over a segment in the same views: body(base, lo, hi, cc, wide).
template <typename F>
void segment_rows(const Wide& w, int64_t C, const F& body) {
  parallel_for(0, w.rows, row_grain(w.rows, w.L), [&](int64_t lo, int64_t hi) { body(int64_t(0), lo, hi, w.L, w.m > 1); });
  if (w.rem > 0) body(w.rows * w.L, 0, w.rem, C, false);
}

template <typename T, BnAct ACT, typename A = Accum<T>>
void forward_typed(const BnArgs& a, const T* x, const A* gamma, const A* beta, A* rmean, A* rvar, T* y, A* mean,
                   A* invstd) {
  const int64_t C = a.c, hw = a.h * a.w;
  std::vector<double> sums(2 * C);
  std::vector<A> shift(C), scale(C);
  for (size_t s = 0; s < a.segments.size(); ++s) {
    const BnSegment& seg = a.segments[s];
    const int64_t rows = seg.count * hw, d = seg.domain;
    const T* xs = x + seg.start * hw * C;
    A* ms = mean + s * C;
    A* is = invstd + s * C;
    const Wide w = wide_for(C, rows);
    if (a.mode == BnMode::eval) {
      for (int64_t c = 0; c < C; ++c) {
        ms[c] = rmean[d * C + c];
        is[c] = static_cast<A>(1.0 / std::sqrt(static_cast<double>(rvar[d * C + c]) + a.eps));
      }
    } else {
      for (int64_t c = 0; c < C; ++c) shift[c] = to_accum(xs[c]);
      const std::vector<A> shift_w = tiled_for(w, shift.data(), C);
      segment_sums<A>(w, C, sums.data(), [&](int64_t base, int64_t lo, int64_t hi, int64_t cc, bool wide, double* acc, A* blk) {
        stats_rows<T>(xs + base, lo, hi, cc, (wide ? shift_w : shift).data(), acc, blk);
      });
      const double m = static_cast<double>(rows);
      for (int64_t c = 0; c < C; ++c) {
        const double s1 = sums[c], s2 = sums[C + c];
        const double mu = static_cast<double>(shift[c]) + s1 / m;
        const double var = std::max(0.0, (s2 - s1 * (s1 / m)) / m);
        ms[c] = static_cast<A>(mu);
        is[c] = static_cast<A>(1.0 / std::sqrt(var + a.eps));
        if (a.mode == BnMode::train) {
          const double unbiased = rows > 1 ? var * (m / (m - 1)) : var;
          A& rm = rmean[d * C + c];
          A& rv = rvar[d * C + c];
          rm = static_cast<A>(a.momentum * static_cast<double>(rm) + (1 - a.momentum) * mu);
          rv = static_cast<A>(a.momentum * static_cast<double>(rv) + (1 - a.momentum) * unbiased);
        }
      }
    }
    for (int64_t c = 0; c < C; ++c) scale[c] = gamma[d * C + c] * is[c];
    T* ys = y + seg.start * hw * C;
    const std::vector<A> ms_w = tiled_for(w, static_cast<const A*>(ms), C), scale_w = tiled_for(w, scale.data(), C),
                         beta_w = tiled_for(w, beta + d * C, C);
    const auto apply = [&](auto math) {
      using M = decltype(math);
      segment_rows(w, C, [&](int64_t base, int64_t lo, int64_t hi, int64_t cc, bool wide) {
        if (wide) apply_rows<ACT, M, T>(xs + base, ys + base, lo, hi, cc, ms_w.data(), scale_w.data(), beta_w.data());
        else apply_rows<ACT, M, T>(xs + base, ys + base, lo, hi, cc, ms, scale.data(), beta + d * C);
      });
    };
    if (a.mode == BnMode::eval && !a.training_math) apply(BnMathEval{});
    else apply(Math{});
  }
}

template <typename T, BnAct ACT, typename A = Accum<T>>
void backward_typed(const BnArgs& a, const T* dy, const T* x, const A* gamma, const A* beta, const A* mean,
                    const A* invstd, T* dx, A* dgamma, A* dbeta) {
  const int64_t C = a.c, hw = a.h * a.w;
  std::vector<double> sums(2 * C), dg(a.k * C, 0.0), db(a.k * C, 0.0);
  std::vector<A> k(C), ma(C), mb(C);
  for (size_t s = 0; s < a.segments.size(); ++s) {
    const BnSegment& seg = a.segments[s];
    const int64_t rows = seg.count * hw, d = seg.domain;
    const int64_t off = seg.start * hw * C;
    const A *ms = mean + s * C, *is = invstd + s * C, *gd = gamma + d * C, *bd = beta + d * C;
    // SiLU's derivative costs an exp and a division: compute it once and keep g in dx's memory
    // for the second pass (one more write, but this kernel is compute-bound on the CPU). Not for
    // 16-bit dx, which cannot hold g unrounded: those recompute it.
    constexpr bool kStore = ACT == BnAct::silu && std::is_same_v<T, A>;
    const Wide w = wide_for(C, rows);
    const std::vector<A> ms_w = tiled_for(w, ms, C), is_w = tiled_for(w, is, C), gd_w = tiled_for(w, gd, C),
                         bd_w = tiled_for(w, bd, C);
    segment_sums<A>(w, C, sums.data(), [&](int64_t base, int64_t lo, int64_t hi, int64_t cc, bool wide, double* acc, A* blk) {
      const int64_t o = off + base;
      if (wide)
        grad_sums_rows<ACT, kStore, T>(dy + o, x + o, lo, hi, cc, ms_w.data(), is_w.data(), gd_w.data(), bd_w.data(), acc,
                                       dx + o, blk);
      else grad_sums_rows<ACT, kStore, T>(dy + o, x + o, lo, hi, cc, ms, is, gd, bd, acc, dx + o, blk);
    });
    const double m = static_cast<double>(rows);
    const bool eval = a.mode == BnMode::eval;
    for (int64_t c = 0; c < C; ++c) {
      db[d * C + c] += sums[c];
      dg[d * C + c] += sums[C + c];
      k[c] = gd[c] * is[c];
      ma[c] = eval ? A(0) : static_cast<A>(sums[c] / m);
      mb[c] = eval ? A(0) : static_cast<A>(sums[C + c] / m);
    }
    // The dx pass in the same views as the sums (same tiling, so the same rows).
    const std::vector<A> k_w = tiled_for(w, k.data(), C), ma_w = tiled_for(w, ma.data(), C), mb_w = tiled_for(w, mb.data(), C);
    segment_rows(w, C, [&](int64_t base, int64_t lo, int64_t hi, int64_t cc, bool wide) {
      const int64_t o = off + base;
      const A *m_ = wide ? ms_w.data() : ms, *i_ = wide ? is_w.data() : is, *g_ = wide ? gd_w.data() : gd,
              *b_ = wide ? bd_w.data() : bd, *k_ = (wide ? k_w : k).data(), *a_ = (wide ? ma_w : ma).data(),
              *bb_ = (wide ? mb_w : mb).data();
      if constexpr (kStore) dx_from_g_rows<T>(x + o, dx + o, lo, hi, cc, m_, i_, k_, a_, bb_);
      else dx_rows<ACT, T>(dy + o, x + o, dx + o, lo, hi, cc, m_, i_, g_, b_, k_, a_, bb_);
    });
  }
  for (int64_t i = 0; i < a.k * C; ++i) {
    dgamma[i] = static_cast<A>(dg[i]);
    dbeta[i] = static_cast<A>(db[i]);
  }
}

}  // namespace

void multi_batch_norm_forward(const BnArgs& a, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              Tensor& running_mean, Tensor& running_var, Tensor& y, Tensor& mean, Tensor& invstd) {
  const char* op = "multi_batch_norm_forward";
  ADVPROP_ASSERT(bn_args_hold(op, a, x, {&x, &y}, {&gamma, &beta, &running_mean, &running_var}, {&mean, &invstd}));
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    using A = Accum<T>;
    with_enum(a.act, op, [&](auto act) {
      forward_typed<T, decltype(act)::value>(a, x.data_as<T>(), gamma.data_as<A>(), beta.data_as<A>(),
                                             running_mean.data_as<A>(), running_var.data_as<A>(), y.data_as<T>(),
                                             mean.data_as<A>(), invstd.data_as<A>());
    });
  });
}

void multi_batch_norm_backward(const BnArgs& a, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& beta, const Tensor& mean, const Tensor& invstd, Tensor& dx,
                               Tensor& dgamma, Tensor& dbeta) {
  const char* op = "multi_batch_norm_backward";
  ADVPROP_ASSERT(bn_args_hold(op, a, x, {&dy, &x, &dx}, {&gamma, &beta, &dgamma, &dbeta}, {&mean, &invstd}));
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    using A = Accum<T>;
    with_enum(a.act, op, [&](auto act) {
      backward_typed<T, decltype(act)::value>(a, dy.data_as<T>(), x.data_as<T>(), gamma.data_as<A>(),
                                              beta.data_as<A>(), mean.data_as<A>(), invstd.data_as<A>(),
                                              dx.data_as<T>(), dgamma.data_as<A>(), dbeta.data_as<A>());
    });
  });
}

}  // namespace cpu
}  // namespace advprop
