// CPU GEMM with f32 accumulation for bf16 and f16 tensors and for f32 tensors in tf32 math
// (contract: advprop/gemm.h); the cpu twin of the tensor-core kernels (native/cuda/gemm_tc.cu).
//
// The order of the sum, which fixes every bit: each element of C is one f32 accumulator that
// starts at +0 and takes the products op(A)[i, p] * op(B)[p, j] two at a time, p = 2q + 1 first
// and then p = 2q, for q = 0, 1, ... in increasing order, every addition rounded to f32 (an odd k
// is padded with a zero product, which changes nothing: the accumulator is never -0). The products
// are exact in f32 (8 x 8 or 11 x 11 significant bits; tf32 ones unless they overflow or
// underflow f32's range), so fusing them or not changes nothing either. Then
// C = round(alpha * acc + beta * C) in f32, rounded once to the 16-bit type (gemm.h).
//
// Why odd before even: it is what AVX512-BF16's vdpbf16ps does (acc += a.odd * b.odd, then
// acc += a.even * b.even, each rounded to nearest even; the Intel SDM's pseudo-code, checked bit
// for bit on this project's Xeon), so the portable loop and the bf16 dot-product kernel below give
// the same bits. The one difference is vdpbf16ps's DAZ/FTZ: it reads subnormal inputs and
// accumulators as zero and flushes subnormal results. Tolerance of the dot path against the
// portable one, as native/tests/gemm_tc_cpu_test.cc checks: equal bits when no input, product or
// partial sum is subnormal (below 2^-126 in magnitude); in general, both being within
// gamma_k * S of their own exact sums (S = sum |a b|, gamma_k = k * 2^-24) and flushing moving each
// of the k products and k partial sums by less than 2^-126,
// |acc_dot - acc_portable| <= 2 gamma_k S + 2k * 2^-126, and after the rounding to bf16 one bf16
// ulp more.
//
// Blocking (none of it changes the order above): C in tiles of kMC x kNC, each computed from
// start to end by one thread into an f32 tile buffer; k in blocks of kKC (even, so pairs never
// straddle a block), for which op(A)'s rows are packed into kMR-row micro-panels (row by row when
// A is untransposed) and op(B)'s columns into NR-column ones (once for the whole product when B is
// small enough), widened to f32 (portable) or as bf16 pairs (dot); the micro-kernel
// loads its block of the tile buffer (except in the first k block), adds the block's products in
// the order above and stores it back. Products with few tiles and a long k split k into chunks
// fixed by the shape, each chunk's tile sums go to a buffer and are added in chunk order (the
// same policy as gemm.cc's f32 split). So bits depend on the shapes and values only.
#pragma GCC optimize("fp-contract=off")

#include "gemm_tc.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "advprop/dtype_dispatch.h"
#include "advprop/invariants.h"
#include "advprop/parallel.h"
#include "gemm_tc_pack.h"
#include "simd.h"
#if ADVPROP_HAVE_AVX512_BF16
#include <immintrin.h>
#endif

namespace advprop {
namespace cpu {
namespace {

using namespace lowp;

// A micro-tile has kMR rows (gemm_tc_pack.h) and NR columns: two vectors per row (12
// accumulators, enough independent sums for both FP pipes), so 8, 16 or 32 f32 on the portable
// path at 16-, 32- or 64-byte vectors, and two zmm for vdpbf16ps.
constexpr int kNRDot = 32, kNRMax = 32;
constexpr int64_t kKC = 256, kMC = 96, kNC = 256;
static_assert(kKC % 2 == 0 && kMC % kMR == 0 && kNC % kNRMax == 0, "blocking");
constexpr int nr_portable(int level) { return isa_vector_bytes(level) / 2; }

std::atomic<int> g_path{0};  // set_gemm_tc_path
IsaChoice g_isa;

bool dot_available() {
  static const bool has = cpu_has_avx512_bf16();
  return has;
}

// ---- micro-kernels --------------------------------------------------------------------------

// One k block of a tile: for every kMR x NR micro-tile of the padded tile (mcp x ncp,
// rows ldt apart in ct), acc = (first ? 0 : ct) plus the block's products in pair order. A is in
// [p][r] panels, or in row panels when AROWS (pack_a_rows). VB: the vector width in bytes of the
// ISA the instantiation is compiled for (simd.h); every lane does the same IEEE operations in the
// same order, so the width changes no bit.
template <typename T, bool AROWS, int VB>
__attribute__((always_inline)) inline void macro_portable_body(int64_t kcp, int64_t mcp, int64_t ncp, const T* ap,
                                                               const T* bp, T* ct, int64_t ldt, bool first) {
  constexpr int VL = VB / static_cast<int>(sizeof(T)), NV = 2, NR = NV * VL;
  static_assert(NR == nr_portable(VB == 64 ? kIsaAvx512 : VB == 32 ? kIsaAvx2 : kIsaBaseline), "panel width");
  typedef T vec __attribute__((vector_size(VB)));
  for (int64_t jr = 0; jr < ncp; jr += NR) {
    const T* bpan = bp + jr * kcp;
    for (int64_t ir = 0; ir < mcp; ir += kMR) {
      const T* apan = ap + ir * kcp;
      T* cb = ct + ir * ldt + jr;
      vec acc[kMR][NV];
#pragma GCC unroll 8
      for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          if (first) acc[i][v] = vec{};
          else std::memcpy(&acc[i][v], cb + i * ldt + v * VL, sizeof(vec));
        }
      for (int64_t p = 0; p < kcp; p += 2) {
#pragma GCC unroll 2
        for (int64_t s = p + 1; s >= p; --s) {  // odd, then even
          vec bv[NV];
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], bpan + s * NR + v * VL, sizeof(vec));
#pragma GCC unroll 8
          for (int i = 0; i < kMR; ++i) {
            const T a = AROWS ? apan[i * kcp + s] : apan[s * kMR + i];
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[i][v] = acc[i][v] + a * bv[v];
          }
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) std::memcpy(cb + i * ldt + v * VL, &acc[i][v], sizeof(vec));
    }
  }
}

ADVPROP_ISA_VARIANTS_OF(macro_portable, macro_portable_body, (typename T, bool AROWS), (T, AROWS),
                        (int64_t kcp, int64_t mcp, int64_t ncp, const T* ap, const T* bp, T* ct, int64_t ldt, bool first),
                        (kcp, mcp, ncp, ap, bp, ct, ldt, first))

#if ADVPROP_HAVE_AVX512_BF16
// The same over bf16 pair panels with vdpbf16ps: kMR x kNRDot micro-tiles, 12 zmm accumulators.
ADVPROP_TARGET_AVX512_BF16 void macro_dot(int64_t kq, int64_t mcp, int64_t ncp, const uint32_t* ap, bool arows,
                                          const uint32_t* bp, float* ct, int64_t ldt, bool first) {
  const int64_t si = arows ? kq : 1, sq = arows ? 1 : kMR;  // A's pair (r, q) at apan[r * si + q * sq]
  for (int64_t jr = 0; jr < ncp; jr += kNRDot) {
    const uint32_t* bpan = bp + jr * kq;
    for (int64_t ir = 0; ir < mcp; ir += kMR) {
      const uint32_t* apan = ap + ir * kq;
      float* cb = ct + ir * ldt + jr;
      __m512 acc[kMR][2];
#pragma GCC unroll 8
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < 2; ++v) acc[i][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(cb + i * ldt + 16 * v);
      for (int64_t q = 0; q < kq; ++q) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bpan + q * kNRDot);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bpan + q * kNRDot + 16);
#pragma GCC unroll 8
        for (int i = 0; i < kMR; ++i) {
          const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(apan[i * si + q * sq]));
          acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
          acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < 2; ++v) _mm512_storeu_ps(cb + i * ldt + 16 * v, acc[i][v]);
    }
  }
}
#endif

// ---- driver ---------------------------------------------------------------------------------

struct Plan {
  bool dot;   // vdpbf16ps (bf16 only)
  int level;  // the portable path's ISA level
  int nr;     // micro-tile columns of the path
};

template <typename S>
Plan plan_for() {
  const bool dot = std::is_same<S, bf16>::value && dot_available() && g_path.load(std::memory_order_relaxed) != 1;
  const int level = g_isa.level();
  return Plan{dot, level, dot ? kNRDot : nr_portable(level)};
}

// Per-thread buffers: packed panels of A (and of B when it is not prepacked) and the f32 tile.
// Kept per thread across calls (parallel_for runs a chunk on one thread; nested calls run
// serially), so a call does not allocate and clear them per chunk.
struct Work {
  std::vector<float>& af;
  std::vector<float>& bf;
  std::vector<float>& tile;
  std::vector<uint32_t>& aq;
  std::vector<uint32_t>& bq;
  static Work mine() {
    thread_local std::vector<float> af, bf, tile;
    thread_local std::vector<uint32_t> aq, bq;
    return Work{af, bf, tile, aq, bq};
  }
  void fit(const Plan& pl, bool pack_b) {
    grow(tile, kMC * kNC);
    if (pl.dot) {
      grow(aq, kMC * kKC / 2);
      if (pack_b) grow(bq, kNC * kKC / 2);
    } else {
      grow(af, kMC * kKC);
      if (pack_b) grow(bf, kNC * kKC);
    }
  }
  template <typename V>
  static void grow(V& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  }
};

// Panels of op(B) for k block [pc, pc + kc) and tile columns [jc, jc + nc), into dst (f32 or
// pairs, 4 bytes an element). op(B)^T[j, p] is B [n, k] (k contiguous) when trans_b, else B [k, n].
template <typename S>
void pack_b(const GemmArgs& g, const S* b, int64_t pc, int64_t kc, int64_t jc, int64_t nc, const Plan& pl,
            const Widen<S>& widen, void* dst) {
  if constexpr (std::is_same<S, bf16>::value)
    if (pl.dot) return pack_pairs<kNRDot>(b, g.ldb, !g.trans_b, jc, pc, nc, kc, static_cast<uint32_t*>(dst));
  pack_f32_r(pl.nr, b, g.ldb, !g.trans_b, jc, pc, nc, kc, widen, static_cast<float*>(dst));
}

// The sums over p in [k0, k1) (k0 a multiple of kKC) of tile (ic, jc) of size mc x nc into
// w.tile (rows kNC apart, padded to whole micro-tiles). bpre: B's panels packed up front, block
// (tile column tn, k block kb) at bpre + (tn * kblocks + kb) * kNC * kKC elements; else null.
template <typename S>
void tile_sums(const GemmArgs& g, const S* a, const S* b, int64_t ic, int64_t jc, int64_t mc, int64_t nc, int64_t k0,
               int64_t k1, const Plan& pl, const Widen<S>& widen, const void* bpre, int64_t kblocks, Work& w) {
  const int64_t mcp = round_up(mc, kMR), ncp = round_up(nc, pl.nr);
  for (int64_t pc = k0; pc < k1; pc += kKC) {
    const int64_t kc = std::min(kKC, k1 - pc), kcp = round_up(kc, 2);
    const bool first = pc == k0;
    const int64_t block = bpre ? ((jc / kNC) * kblocks + pc / kKC) * kNC * kKC : 0;
    const void* bp = pl.dot ? static_cast<const void*>(bpre ? static_cast<const uint32_t*>(bpre) + block : w.bq.data())
                            : static_cast<const void*>(bpre ? static_cast<const float*>(bpre) + block : w.bf.data());
    if (!bpre) pack_b(g, b, pc, kc, jc, nc, pl, widen, const_cast<void*>(bp));
#if ADVPROP_HAVE_AVX512_BF16
    if constexpr (std::is_same<S, bf16>::value) {
      if (pl.dot) {
        if (g.trans_a) pack_pairs<kMR>(a, g.lda, true, ic, pc, mc, kc, w.aq.data());
        else pack_a_row_pairs(a, g.lda, ic, pc, mc, kc, w.aq.data());
        macro_dot(kcp / 2, mcp, ncp, w.aq.data(), !g.trans_a, static_cast<const uint32_t*>(bp), w.tile.data(), kNC,
                  first);
        continue;
      }
    }
#endif
    const auto macro =
        g.trans_a ? macro_portable_variant<float, false>(pl.level) : macro_portable_variant<float, true>(pl.level);
    if (g.trans_a) pack_f32<kMR>(a, g.lda, true, ic, pc, mc, kc, widen, w.af.data());
    else pack_a_rows(a, g.lda, ic, pc, mc, kc, widen, w.af.data());
    macro(kcp, mcp, ncp, w.af.data(), static_cast<const float*>(bp), w.tile.data(), kNC, first);
  }
}

// A row of C: c[j] = alpha * acc[j] + beta * c[j] in f32, rounded once to S (gemm.h); beta's
// test is outside the loops so that they vectorise.
template <typename S>
void store_row(S* c, const float* acc, int64_t n, float alpha, float beta) {
  if (beta == 0.0f)
    for (int64_t j = 0; j < n; ++j) c[j] = from_accum<S>(alpha * acc[j]);
  else
    for (int64_t j = 0; j < n; ++j) c[j] = from_accum<S>(alpha * acc[j] + beta * to_accum(c[j]));
}

template <typename S>
Widen<S> make_widen(const GemmArgs& g) {
  if constexpr (std::is_same<S, float>::value) return Widen<float>{g.tf32};
  else return Widen<S>{};
}

// k split into chunks of ks (a multiple of kKC) for few tiles and a long k; k when not splitting.
int64_t split_chunk(int64_t m, int64_t n, int64_t k, int64_t tiles) {
  constexpr int64_t kMaxChunks = 16, kMinChunk = 4 * kKC;
  if (tiles > 4 || k < 2 * kMinChunk || m * n > (int64_t(1) << 20)) return k;
  return std::max(kMinChunk, round_up((k + kMaxChunks - 1) / kMaxChunks, kKC));
}

template <typename S>
void gemm_typed(const GemmArgs& g, const S* a, const S* b, S* c) {
  const int64_t m = g.m, n = g.n, k = g.k, ldc = g.ldc;
  const float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    const std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
    parallel_for(0, m, std::max<int64_t>(1, kGrainCheap / n), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) store_row(c + i * ldc, zeros.data(), n, alpha, beta);
    });
    return;
  }
  const Plan pl = plan_for<S>();
  const Widen<S> widen = make_widen<S>(g);
  const int64_t tiles_m = (m + kMC - 1) / kMC, tiles_n = (n + kNC - 1) / kNC, tiles = tiles_m * tiles_n;
  const int64_t ks = split_chunk(m, n, k, tiles), chunks = (k + ks - 1) / ks;
  // B is packed once up front when several tile rows would each repack it and it is not large.
  const int64_t kblocks = (k + kKC - 1) / kKC, block_elems = kNC * kKC;
  const bool prepack = tiles_m > 1 && tiles_n * kblocks * block_elems <= (int64_t(1) << 22);
  const size_t pre_elems = prepack ? static_cast<size_t>(tiles_n * kblocks * block_elems) : 0;
  std::vector<float> pre_f(pl.dot ? 0 : pre_elems);
  std::vector<uint32_t> pre_q(pl.dot ? pre_elems : 0);
  if (prepack)
    parallel_for(0, tiles_n * kblocks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t blk = lo; blk < hi; ++blk) {
        const int64_t jc = (blk / kblocks) * kNC, pc = (blk % kblocks) * kKC;
        void* dst = pl.dot ? static_cast<void*>(pre_q.data() + blk * block_elems)
                           : static_cast<void*>(pre_f.data() + blk * block_elems);
        pack_b(g, b, pc, std::min(kKC, k - pc), jc, std::min(kNC, n - jc), pl, widen, dst);
      }
    });
  const void* bp = !prepack ? nullptr
                   : pl.dot  ? static_cast<const void*>(pre_q.data())
                             : static_cast<const void*>(pre_f.data());
  // Tile t's corner and size.
  auto tile = [&](int64_t t, int64_t& ic, int64_t& jc, int64_t& mc, int64_t& nc) {
    ic = (t / tiles_n) * kMC, jc = (t % tiles_n) * kNC;
    mc = std::min(kMC, m - ic), nc = std::min(kNC, n - jc);
  };
  if (chunks == 1) {
    // Enough tiles per parallel chunk for about 2^22 flops, so tiny products are not spread thin.
    const double tile_flops = 2.0 * double(std::min(m, kMC)) * double(std::min(n, kNC)) * double(k);
    const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(double(int64_t(1) << 22) / tile_flops));
    parallel_for(0, tiles, grain, [&](int64_t lo, int64_t hi) {
      Work w = Work::mine();
      w.fit(pl, !prepack);
      for (int64_t t = lo; t < hi; ++t) {
        int64_t ic, jc, mc, nc;
        tile(t, ic, jc, mc, nc);
        tile_sums(g, a, b, ic, jc, mc, nc, 0, k, pl, widen, bp, kblocks, w);
        for (int64_t i = 0; i < mc; ++i) store_row(c + (ic + i) * ldc + jc, &w.tile[i * kNC], nc, alpha, beta);
      }
    });
    return;
  }
  std::vector<float> partial(static_cast<size_t>(chunks * m * n));
  parallel_for(0, chunks * tiles, 1, [&](int64_t lo, int64_t hi) {
    Work w = Work::mine();
    w.fit(pl, !prepack);
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t chunk = item / tiles, k0 = chunk * ks;
      int64_t ic, jc, mc, nc;
      tile(item % tiles, ic, jc, mc, nc);
      tile_sums(g, a, b, ic, jc, mc, nc, k0, std::min(k, k0 + ks), pl, widen, bp, kblocks, w);
      for (int64_t i = 0; i < mc; ++i)
        std::memcpy(&partial[static_cast<size_t>((chunk * m + ic + i) * n + jc)], &w.tile[i * kNC], sizeof(float) * nc);
    }
  });
  parallel_for(0, m, std::max<int64_t>(1, kGrainCheap / (n * chunks)), [&](int64_t lo, int64_t hi) {
    std::vector<float> sum(static_cast<size_t>(n));
    for (int64_t i = lo; i < hi; ++i) {
      std::memcpy(sum.data(), &partial[static_cast<size_t>(i * n)], sizeof(float) * n);
      for (int64_t ch = 1; ch < chunks; ++ch) {
        const float* p = &partial[static_cast<size_t>((ch * m + i) * n)];
        for (int64_t j = 0; j < n; ++j) sum[j] = sum[j] + p[j];
      }
      store_row(c + i * ldc, sum.data(), n, alpha, beta);
    }
  });
}

}  // namespace

void gemm_tc(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  ADVPROP_ASSERT(passes(check_gemm_args, g, a, b, c, DeviceType::cpu, nullptr));
  ADVPROP_ASSERT(c.dtype() == DType::bf16 || c.dtype() == DType::f16 || (c.dtype() == DType::f32 && g.tf32));
  dispatch_dtype<TypeList<bf16, f16, float>>(c.dtype(), "gemm", [&](auto t) {
    using S = decltype(t);
    gemm_typed<S>(g, a.data_as<const S>(), b.data_as<const S>(), c.data_as<S>());
  });
}

bool set_gemm_tc_path(int path) {
  if (path < 0 || path > 2 || (path == 2 && !dot_available())) return false;
  g_path.store(path, std::memory_order_relaxed);
  return true;
}

bool set_gemm_tc_isa(int level) { return g_isa.force(level); }

}  // namespace cpu
}  // namespace advprop
