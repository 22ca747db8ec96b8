// CPU GEMM (gemm.h) in f32 and f64: cache-blocked, threaded, with a register-blocked micro-kernel.
// bf16, f16 and tf32 go to gemm_tc.cc (f32 accumulation).
//
// (Panel widths and whether A is packed or read in place vary with the ISA and the shape; none of
// them changes which products are summed in which order, so none changes a bit of C.)
// C is cut into tiles of MC x NC; each tile is computed by one thread from start to end, so
// nothing is ever split over k across threads and the bits do not depend on the thread count or
// on how tiles are grouped into parallel chunks. Inside a tile, k runs in blocks of KC; for each
// block the tile's rows of op(A) are packed into MR-row micro-panels ([kc][MR], zero-padded) and
// its columns of op(B) into NR-column micro-panels ([kc][NR], zero-padded), so the micro-kernel
// reads both contiguously whatever the transposes and leading dimensions. The micro-kernel keeps
// an MR x NR block of C in vector registers (GCC vector extensions, instantiated per ISA at its
// register width: 4 xmm, 2 ymm or 1 zmm per row of 16 f32) and sums p = 0..kc-1 in order.
// Per element of C the sum is therefore: acc_b = fma(a_p, b_p, acc_b) over block b in p order,
// starting from 0, each step one fused multiply-add rounded once (fma_lanes, simd.h: the
// instruction at AVX2 and AVX-512, libm's exact fma at the baseline);
// C = alpha*acc_0 + beta*C (or alpha*acc_0 when beta == 0), then C += alpha*acc_b for b = 1, 2...
// That order is fixed by k alone. Products with few tiles and a long k (weight gradients) are
// instead split over k into chunks fixed by the shape (gemm_split_k below), summed in chunk order.
//
// The micro-kernel fuses on purpose (it is FP-throughput bound: 1.33x over multiply then add).
// Everywhere else, the compiler contracting a * b + c on its own would depend on the level's
// ISA; with contraction off, and the one fused step explicit, every CPU gives the same bits.
#pragma GCC optimize("fp-contract=off")
// fma_lanes (simd.h) takes and returns vectors wider than the baseline ABI's; g++ warns at each
// call although every call is inlined into a variant of the matching level.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/gemm.h"
#include "advprop/invariants.h"
#include "advprop/parallel.h"
#include "epilogue.h"
#include "gemm_pack_cache.h"
#include "gemm_rows.h"
#include "gemm_tc.h"
#include "pack_transpose.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

// WIDE: the AVX-512 micro-tile, two registers per row (6 x 32 f32 = 12 zmm accumulators, enough
// independent sums to keep both FP add pipes busy); the others keep one 64-byte row. Only the
// panel width changes; every element of C still sums the same products in the same order.
template <typename T, bool WIDE>
struct Blocking;
template <bool WIDE>
struct Blocking<float, WIDE> {
  static constexpr bool kWide = WIDE;
  static constexpr int MR = 6, NR = WIDE ? 32 : 16;
  static constexpr int64_t KC = 256, MC = 96, NC = 256;
};
template <bool WIDE>
struct Blocking<double, WIDE> {
  static constexpr bool kWide = WIDE;
  static constexpr int MR = 6, NR = WIDE ? 16 : 8;
  static constexpr int64_t KC = 256, MC = 96, NC = 128;
};

// Packing buffers: every element a kernel reads is written by a pack first, so they are left
// uninitialised (std::vector's zero fill was a memset of each buffer per call: 1.5 MB for B of
// a 1152->320 product).
template <typename T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(n > 0 ? new T[static_cast<size_t>(n)] : nullptr);
}

// Test hook (see set_gemm_tile_grain below): tiles per parallel chunk, 0 = automatic.
std::atomic<int64_t> g_tile_grain{0};

// ---- packing --------------------------------------------------------------------------------

// Rows r0.. r0 + rows - 1 and columns p0.. p0 + kc - 1 of a matrix M into micro-panels of R rows,
// dst[ir][p][r], zero-padded. M[r, p] is src[r * ld + p], or src[p * ld + r] when `trans`; for A,
// M = op(A) and the panels have MR rows.
template <typename T, int R>
void pack_panels(const T* src, int64_t ld, bool trans, int64_t r0, int64_t p0, int64_t rows, int64_t kc, T* dst) {
  if constexpr (std::is_same_v<T, float> && R % 16 == 0)
    if (!trans && pack_rows_f32(src + r0 * ld + p0, ld, rows, kc, R, dst)) return;
  for (int64_t ir = 0; ir < rows; ir += R) {
    const int64_t nr = std::min<int64_t>(R, rows - ir);
    T* d = dst + ir * kc;
    if (!trans) {
      for (int64_t i = 0; i < nr; ++i) {
        const T* s = src + (r0 + ir + i) * ld + p0;
        for (int64_t p = 0; p < kc; ++p) d[p * R + i] = s[p];
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const T* s = src + (p0 + p) * ld + r0 + ir;
        for (int64_t i = 0; i < nr; ++i) d[p * R + i] = s[i];
      }
    }
    if (nr < R)
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t i = nr; i < R; ++i) d[p * R + i] = T(0);
  }
}

// pack_panels of an untransposed A whose row r is read times the gate row s[r / srows] (the
// squeeze-excite scale, EpilogueView::in_scale): dst[ir][p][r] = A[r, p] * s[r / srows, p], the
// rounding of channel_scale_forward, so the micro-kernel multiplies the operands the plain path has.
template <typename T, int R>
void pack_a_scaled(const T* src, int64_t ld, int64_t r0, int64_t p0, int64_t rows, int64_t kc, T* dst, const T* s,
                   int64_t srows, int64_t sld) {
  for (int64_t ir = 0; ir < rows; ir += R) {
    const int64_t nr = std::min<int64_t>(R, rows - ir);
    T* d = dst + ir * kc;
    for (int64_t i = 0; i < nr; ++i) {
      const T* a = src + (r0 + ir + i) * ld + p0;
      const T* g = s + ((r0 + ir + i) / srows) * sld + p0;
      for (int64_t p = 0; p < kc; ++p) d[p * R + i] = a[p] * g[p];
    }
    if (nr < R)
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t i = nr; i < R; ++i) d[p * R + i] = T(0);
  }
}

// A's micro-panels for rows [i0, i0 + mc) and k block [p0, p0 + kc), gated when epi says so.
template <typename T, int MR>
void pack_a(const GemmArgs& g, const T* a, int64_t i0, int64_t p0, int64_t mc, int64_t kc, T* dst,
            const EpilogueView<T>& epi) {
  if (epi.in_scale) pack_a_scaled<T, MR>(a, g.lda, i0, p0, mc, kc, dst, epi.in_scale, epi.in_rows, g.k);
  else pack_panels<T, MR>(a, g.lda, g.trans_a, i0, p0, mc, kc, dst);
}

// op(B)[p0 + p, j0 + j] for p < kc, j < nc into micro-panels of NR columns: dst[jr][p][j], the
// panels of op(B)^T, which is B with the transpose flipped.
template <typename T, int NR>
void pack_b(const T* b, int64_t ldb, bool trans, int64_t p0, int64_t j0, int64_t kc, int64_t nc, T* dst) {
  pack_panels<T, NR>(b, ldb, !trans, j0, p0, nc, kc, dst);
}

// ---- macro / micro kernel -------------------------------------------------------------------

// A gate on A read in place: row r of the tile (global row row0 + r) takes s[(row0 + r) / rows * ld
// + p], s already offset to the tile's k block. s null: no gate. macro_body writes the gated rows
// into buf ([mc][kc], the caller's) with whole-vector multiplies, once per tile and k block, and
// the micro-kernel reads them from there: multiplying in the micro-kernel cost a scalar load,
// multiply and broadcast per element of A and micro-tile (a 480->112 product took 1.9x as long
// as without the gate).
template <typename T>
struct GateRows {
  const T* s = nullptr;
  int64_t rows = 1, ld = 0, row0 = 0;
  T* buf = nullptr;
};

// buf[i][p] = a[i][p] * s[(row0 + i) / rows][p], i < mc, p < kc: the product channel_scale rounds.
template <typename T>
__attribute__((always_inline)) inline void gate_rows(int64_t kc, int64_t mc, const T* a, int64_t lda,
                                                     const GateRows<T>& gate) {
  for (int64_t i = 0; i < mc; ++i) {
    const T* __restrict ar = a + i * lda;
    const T* __restrict gr = gate.s + ((gate.row0 + i) / gate.rows) * gate.ld;
    T* __restrict d = gate.buf + i * kc;
    for (int64_t p = 0; p < kc; ++p) d[p] = ar[p] * gr[p];
  }
}

// One k block of one tile: C[mc x nc] (leading dim ldc) updated from packed panels. `first`
// says this is the tile's first k block (where beta is applied). VB is the vector width in bytes
// the instantiation is written for: each row of the MR x NR accumulator block is NR*sizeof(T)/VB
// native vectors, which g++ keeps in registers (a generic vector wider than the ISA's would be
// lowered through the stack). Every lane does the same IEEE multiply and add in the same order,
// so the width does not change a bit of the result.
// AMODE 0: packed micro-panels; 1: op(A) = A read in place (rows lda apart); 2: op(A) = A^T read
// in place (op(A)'s columns lda apart).
template <typename T, int VB, int AMODE, typename BK>
__attribute__((always_inline)) inline void macro_loops(int64_t kc, int64_t mc, int64_t nc, const T* ap, int64_t lda,
                                                       const T* bp, T* c, int64_t ldc, T alpha, T beta, bool first) {
  constexpr int MR = BK::MR, NR = BK::NR;
  constexpr int VL = VB / static_cast<int>(sizeof(T)), NV = NR / VL;
  static_assert(NR % VL == 0, "NR must be a multiple of the vector length");
  typedef T vec __attribute__((vector_size(VB)));
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - jr);
    const T* bpan = bp + jr * kc;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int64_t mr = std::min<int64_t>(MR, mc - ir);
      const T* apan = ap + ir * kc;
      // Direct: row i of the micro-tile read in place (rows past mc repeat the last one; their
      // results are never stored), instead of from the packed panel.
      const T* arow[MR];
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) arow[i] = ap + (ir + std::min<int64_t>(i, mr - 1)) * (AMODE == 1 ? lda : 1);
      // In place, the next micro-tile's rows of A are other cache lines than this one's: ask for
      // them now (the hardware prefetcher sees only short runs per row).
      if (AMODE == 1 && jr == 0 && ir + MR < mc)
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i)
          for (int64_t p = 0; p < kc; p += 64 / static_cast<int64_t>(sizeof(T)))
            __builtin_prefetch(arow[i] + MR * lda + p);
      vec acc[MR][NV];
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[i][v] = vec{};
      for (int64_t p = 0; p < kc; ++p) {
        vec bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], bpan + p * NR + v * VL, sizeof(vec));
        const T* av = apan + p * MR;
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
          const T a = AMODE == 1 ? arow[i][p] : AMODE == 2 ? arow[i][p * lda] : av[i];
          const vec ab = a - vec{};  // a in every lane (x - +0 is x exactly, -0 and NaN included)
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[i][v] = fma_lanes(ab, bv[v], acc[i][v]);
        }
      }
      T* cb = c + ir * ldc + jr;
      if (mr == MR && nr == NR) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) {
            T* cp = cb + i * ldc + v * VL;
            vec r = alpha * acc[i][v];
            if (first) {
              if (beta != T(0)) {
                vec cv;
                std::memcpy(&cv, cp, sizeof(vec));
                r = r + beta * cv;
              }
            } else {
              vec cv;
              std::memcpy(&cv, cp, sizeof(vec));
              r = cv + r;
            }
            std::memcpy(cp, &r, sizeof(vec));
          }
        }
      } else {
        T tmp[MR][NR];
        std::memcpy(tmp, acc, sizeof(tmp));
        for (int64_t i = 0; i < mr; ++i) {
          T* crow = cb + i * ldc;
          for (int64_t j = 0; j < nr; ++j) {
            const T r = alpha * tmp[i][j];
            if (first) crow[j] = beta != T(0) ? r + beta * crow[j] : r;
            else crow[j] = crow[j] + r;
          }
        }
      }
    }
  }
}

// lda == 0: ap holds packed micro-panels (pack_panels). lda > 0: ap points at op(A)[i0, p0] of an
// untransposed A with leading dimension lda, read in place; lda < 0: likewise for a transposed A
// with leading dimension -lda. For the 1x1 convolutions' short k or long k and
// narrow n, packing A costs about as much as the product. Same products in the same order.
template <typename T, bool WIDE, int VB>
__attribute__((always_inline)) inline void macro_body(int64_t kc, int64_t mc, int64_t nc, const T* ap, int64_t lda,
                                                      const T* bp, T* c, int64_t ldc, T alpha, T beta, bool first,
                                                      const GateRows<T>& gate) {
  using BK = Blocking<T, WIDE>;
  if constexpr (WIDE && VB != isa_vector_bytes(kIsaAvx512)) {
    // Never picked (gemm_typed): at narrower vectors the wide micro-tile would not fit in registers.
    fail(ErrorCode::Internal, "gemm: wide panels below AVX-512");
  } else if (lda > 0 && gate.s) {
    gate_rows(kc, mc, ap, lda, gate);
    macro_loops<T, VB, 1, BK>(kc, mc, nc, gate.buf, kc, bp, c, ldc, alpha, beta, first);
  } else if (lda > 0) {
    macro_loops<T, VB, 1, BK>(kc, mc, nc, ap, lda, bp, c, ldc, alpha, beta, first);
  } else if (lda < 0) {
    macro_loops<T, VB, 2, BK>(kc, mc, nc, ap, -lda, bp, c, ldc, alpha, beta, first);
  } else {
    macro_loops<T, VB, 0, BK>(kc, mc, nc, ap, 0, bp, c, ldc, alpha, beta, first);
  }
}

// Run-time ISA dispatch (simd.h): the accumulator width differs per ISA to stay in registers.
// macro_variant<T, WIDE>(level) is the kernel for a served level and the panel width.
ADVPROP_ISA_VARIANTS_OF(macro, macro_body, (typename T, bool WIDE), (T, WIDE),
                        (int64_t kc, int64_t mc, int64_t nc, const T* ap, int64_t lda, const T* bp, T* c,
                         int64_t ldc, T alpha, T beta, bool first, const GateRows<T>& gate),
                        (kc, mc, nc, ap, lda, bp, c, ldc, alpha, beta, first, gate))

IsaChoice g_isa;

// Where op(A)[i, p] is stored, and the lda argument that has macro_body read A there in place.
template <typename T>
const T* a_at(const T* a, const GemmArgs& g, int64_t i, int64_t p) {
  return g.trans_a ? a + p * g.lda + i : a + i * g.lda + p;
}
inline int64_t a_lda(const GemmArgs& g) { return g.trans_a ? -g.lda : g.lda; }

// Split over k, for products whose C is a handful of tiles but whose k is long: the weight
// gradient of a 1x1 convolution, dw[Cout, Cin] = dy^T x, sums over every pixel of the batch
// (k = N*H*W, up to 10^5) into as little as one tile, which would leave all but one thread idle.
// k is cut into chunks of ks (a multiple of KC, chosen from the shape alone); chunk c's partial
// product P_c is summed exactly like a tile above into its own buffer, and then
// C = alpha * (((P_0 + P_1) + P_2) + ...) (+ beta * C), chunks in order. The chunking depends
// only on (m, n, k), so the bits do not depend on the thread count. Returns k when not splitting.
template <typename T, typename BK>
int64_t split_k_chunk(int64_t m, int64_t n, int64_t k, int64_t tiles) {
  constexpr int64_t kMaxChunks = 16, kMinChunk = 4 * BK::KC;
  if (tiles > 4 || k < 2 * kMinChunk || m * n > (int64_t(1) << 20)) return k;
  int64_t ks = (k + kMaxChunks - 1) / kMaxChunks;
  ks = std::max(kMinChunk, (ks + BK::KC - 1) / BK::KC * BK::KC);
  return ks;
}

template <typename T, typename BK>
void gemm_split_k(const GemmArgs& g, const T* a, const T* b, T* c, int64_t ks, int level, const EpilogueView<T>& epi) {
  const int64_t m = g.m, n = g.n, k = g.k, ldc = g.ldc;
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  const int64_t tiles_n = (n + BK::NC - 1) / BK::NC;
  const int64_t chunks = (k + ks - 1) / ks;
  std::vector<T> partial(static_cast<size_t>(chunks * m * n));
  const int64_t kc_max = std::min(k, BK::KC);
  const int64_t a_size = ((std::min(m, BK::MC) + BK::MR - 1) / BK::MR) * BK::MR * kc_max;
  const int64_t b_size = ((std::min(n, BK::NC) + BK::NR - 1) / BK::NR) * BK::NR * kc_max;
  const auto macro = macro_variant<T, BK::kWide>(level);
  const bool direct_a = n <= 128 && !epi.in_scale;  // a gated A is packed (pack_a)
  // One work item per (chunk, tile column): each k block of B is packed once and used for every
  // tile row (the weight gradient's m = Cout spans up to 4 tile rows).
  parallel_for(0, chunks * tiles_n, 1, [&](int64_t lo, int64_t hi) {
    const auto ap = scratch<T>(direct_a ? 0 : a_size), bp = scratch<T>(b_size);
    for (int64_t w = lo; w < hi; ++w) {
      const int64_t chunk = w / tiles_n, jc = (w % tiles_n) * BK::NC;
      const int64_t nc = std::min(BK::NC, n - jc);
      const int64_t k0 = chunk * ks, k1 = std::min(k, k0 + ks);
      for (int64_t pc = k0; pc < k1; pc += BK::KC) {
        const int64_t kc = std::min(BK::KC, k1 - pc);
        pack_b<T, BK::NR>(b, g.ldb, g.trans_b, pc, jc, kc, nc, bp.get());
        for (int64_t ic = 0; ic < m; ic += BK::MC) {
          const int64_t mc = std::min(BK::MC, m - ic);
          T* pc_out = partial.data() + chunk * m * n + ic * n + jc;
          if (direct_a) {
            macro(kc, mc, nc, a_at(a, g, ic, pc), a_lda(g), bp.get(), pc_out, n, T(1), T(0), pc == k0, GateRows<T>{});
          } else {
            pack_a<T, BK::MR>(g, a, ic, pc, mc, kc, ap.get(), epi);
            macro(kc, mc, nc, ap.get(), 0, bp.get(), pc_out, n, T(1), T(0), pc == k0, GateRows<T>{});
          }
        }
      }
    }
  });
  parallel_for(0, m, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n * chunks)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T* crow = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) {
        T s = partial[static_cast<size_t>(i * n + j)];
        for (int64_t ch = 1; ch < chunks; ++ch) s += partial[static_cast<size_t>((ch * m + i) * n + j)];
        const T r = alpha * s;
        crow[j] = beta != T(0) ? r + beta * crow[j] : r;
      }
      if (epi.mean) apply_epilogue_rows(epi, crow, ldc, i, 1, 0, n);
    }
  });
}

// Tile sizes for one product: at most MC x NC, multiples of MR and NR, the tiles along each
// dimension of near-equal size, and enough of them (when m allows) to give each thread about
// four, so that no thread waits long on another's last tile. B0's late 1x1 convolutions (m = 392
// at batch 8) had ten tiles of very different sizes for two threads. Tile sizes change no bit
// of C: every element still sums its k blocks of KC in order.
struct TileSizes {
  int64_t mc, nc;
};
template <typename BK>
TileSizes tile_sizes(int64_t m, int64_t n) {
  const int64_t panels = (n + BK::NR - 1) / BK::NR, max_panels = BK::NC / BK::NR;
  int64_t tn = (panels + max_panels - 1) / max_panels;
  // Prefer a column tile count that splits the panels evenly, if one is close.
  for (int64_t t = tn; t <= tn + 2 && t <= panels; ++t)
    if (panels % t == 0) {
      tn = t;
      break;
    }
  const int64_t nc = (panels + tn - 1) / tn * BK::NR;
  const int64_t want = 4 * static_cast<int64_t>(num_threads());
  int64_t tm = (m + BK::MC - 1) / BK::MC;
  while (tm * tn < want && (m + tm) / (tm + 1) >= 4 * BK::MR) ++tm;
  const int64_t mc = ((m + tm - 1) / tm + BK::MR - 1) / BK::MR * BK::MR;
  return {std::min<int64_t>(mc, BK::MC), nc};
}

// op(B) whole in micro-panels, from the packed-weights cache (gemm_pack_cache.h): k block kb at
// kb * n_pad * KC, and in it the panel of column j (a multiple of NR) at j * kc, which is
// pack_b's layout for a tile that starts at column 0. Packed in column groups in parallel.
template <typename T, typename BK>
std::shared_ptr<const void> cached_b(const GemmArgs& g, const Tensor& bt, const T* b) {
  const int64_t n_pad = (g.n + BK::NR - 1) / BK::NR * BK::NR, kblocks = (g.k + BK::KC - 1) / BK::KC;
  PackKey key;
  key.storage = bt.storage().get(), key.stamp = bt.storage()->stamp(), key.offset = bt.offset();
  key.k = g.k, key.n = g.n, key.ldb = g.ldb, key.trans = g.trans_b;
  key.elem = static_cast<int>(sizeof(T)), key.nr = BK::NR, key.kc = BK::KC;
  constexpr int64_t kGroup = 256;  // columns per work item, a multiple of every NR
  const int64_t groups = (g.n + kGroup - 1) / kGroup;
  return packed_weights(bt, key, static_cast<size_t>(n_pad * kblocks * BK::KC) * sizeof(T), [&](void* dst) {
    T* d = static_cast<T*>(dst);
    parallel_for(0, kblocks * groups, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t w = lo; w < hi; ++w) {
        const int64_t pc = (w / groups) * BK::KC, j0 = (w % groups) * kGroup;
        const int64_t kc = std::min(BK::KC, g.k - pc), nj = std::min(kGroup, g.n - j0);
        pack_b<T, BK::NR>(b, g.ldb, g.trans_b, pc, j0, kc, nj, d + (pc / BK::KC) * n_pad * BK::KC + j0 * kc);
      }
    });
  });
}

// `level`: the ISA level that runs the micro-kernel (gemm_typed).
// epi.mean non-null: the epilogue on each tile once its last k block is in (the tile is hot in cache).
// rows non-null: A is gathered a tile of rows at a time by rows->fill (gemm_rows.h), a ignored.
// bt non-null: the tensor B is read from, whose packs the cache keeps (an inference GEMM's weights).
template <typename T, typename BK>
void gemm_blocked(const GemmArgs& g, const T* a, const T* b, T* c, int level, const EpilogueView<T>& epi,
                  const GemmRows<T>* rows = nullptr, const Tensor* bt = nullptr) {
  const int64_t m = g.m, n = g.n, k = g.k, ldc = g.ldc;
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) {
      T* crow = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) crow[j] = beta != T(0) ? beta * crow[j] : T(0);
      if (epi.mean) apply_epilogue_rows(epi, crow, ldc, i, 1, 0, n);
    }
    return;
  }
  {
    const int64_t tiles = ((m + BK::MC - 1) / BK::MC) * ((n + BK::NC - 1) / BK::NC);
    const int64_t ks = split_k_chunk<T, BK>(m, n, k, tiles);
    if (ks < k && rows) {
      // At most four tiles, so at most 4 * MC rows: gathered whole, then split like any A.
      const auto whole = scratch<T>(m * k);
      rows->fill(rows->ctx, 0, m, whole.get());
      return gemm_split_k<T, BK>(g, whole.get(), b, c, ks, level, epi);
    }
    if (ks < k) return gemm_split_k<T, BK>(g, a, b, c, ks, level, epi);
  }
  const TileSizes ts = tile_sizes<BK>(m, n);
  const int64_t MC = ts.mc, NC = ts.nc;
  const int64_t tiles_m = (m + MC - 1) / MC, tiles_n = (n + NC - 1) / NC;
  const int64_t tiles = tiles_m * tiles_n;
  int64_t grain = g_tile_grain.load(std::memory_order_relaxed);
  if (grain <= 0) {
    // Enough tiles per chunk for about 2^22 flops, so tiny products are not spread thin.
    const double tile_flops = 2.0 * double(std::min(m, MC)) * double(std::min(n, NC)) * double(k);
    grain = std::max<int64_t>(1, static_cast<int64_t>(double(int64_t(1) << 22) / tile_flops));
  }
  const int64_t kc_max = std::min(k, BK::KC);
  const int64_t a_size = ((std::min(m, MC) + BK::MR - 1) / BK::MR) * BK::MR * kc_max;
  const int64_t b_size = ((std::min(n, NC) + BK::NR - 1) / BK::NR) * BK::NR * kc_max;
  const auto macro = macro_variant<T, BK::kWide>(level);
  // A is read in place when C is narrow (few column panels to reuse a pack), and whenever A is
  // untransposed: its micro-tile's rows are then MR contiguous runs of kc, which the micro-kernel
  // streams as well as a packed panel, and the scalar transposes of packing cost more than the
  // reuse over a tile's nc / NR panels saves (B0's forward 1x1 products with n > 128: 6-16 %
  // faster each in bench/gemm). A gated A is first gated into ap (macro_body).
  // Gathered rows are read in place from their buffer, [mc][k].
  const bool direct_a = n <= 128 || !g.trans_a || rows;
  // B is packed once up front, block (tile column, k block) at (tn * kblocks + kb) * b_size, when
  // several tile rows would otherwise each repack it: for M = N*H*W >> K, N that repacking is a
  // large share of the work.
  const int64_t kblocks = (k + BK::KC - 1) / BK::KC;
  const std::shared_ptr<const void> bcached = bt ? cached_b<T, BK>(g, *bt, b) : nullptr;
  const T* const bcache = static_cast<const T*>(bcached.get());
  const int64_t n_pad = (n + BK::NR - 1) / BK::NR * BK::NR;
  const bool prepack_b = !bcache && tiles_m > 1 && tiles_n * kblocks * b_size <= (int64_t(1) << 22);
  const auto bpre = scratch<T>(prepack_b ? tiles_n * kblocks * b_size : 0);
  if (prepack_b) {
    parallel_for(0, tiles_n * kblocks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t blk = lo; blk < hi; ++blk) {
        const int64_t jc = (blk / kblocks) * NC, pc = (blk % kblocks) * BK::KC;
        pack_b<T, BK::NR>(b, g.ldb, g.trans_b, pc, jc, std::min(BK::KC, k - pc), std::min(NC, n - jc),
                          bpre.get() + blk * b_size);
      }
    });
  }
  parallel_for(0, tiles, grain, [&](int64_t lo, int64_t hi) {
    const auto ap = scratch<T>(direct_a && !epi.in_scale ? 0 : a_size), bp = scratch<T>(prepack_b || bcache ? 0 : b_size);
    const auto gathered = scratch<T>(rows ? std::min(m, MC) * k : 0);
    int64_t gathered_ic = -1;
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t tn = t % tiles_n, ic = (t / tiles_n) * MC, jc = tn * NC;
      const int64_t mc = std::min(MC, m - ic), nc = std::min(NC, n - jc);
      // A chunk's tiles run along a tile row first, so each row tile is gathered once per chunk.
      if (rows && ic != gathered_ic) rows->fill(rows->ctx, ic, mc, gathered.get()), gathered_ic = ic;
      for (int64_t pc = 0; pc < k; pc += BK::KC) {
        const int64_t kc = std::min(BK::KC, k - pc);
        if (!direct_a) pack_a<T, BK::MR>(g, a, ic, pc, mc, kc, ap.get(), epi);
        const T* bpan = bp.get();
        if (bcache) bpan = bcache + (pc / BK::KC) * n_pad * BK::KC + jc * kc;
        else if (prepack_b) bpan = bpre.get() + (tn * kblocks + pc / BK::KC) * b_size;
        else pack_b<T, BK::NR>(b, g.ldb, g.trans_b, pc, jc, kc, nc, bp.get());
        if (rows) {
          macro(kc, mc, nc, gathered.get() + pc, k, bpan, c + ic * ldc + jc, ldc, alpha, beta, pc == 0, GateRows<T>{});
        } else if (direct_a) {
          GateRows<T> gate;
          if (epi.in_scale)
            gate.s = epi.in_scale + pc, gate.rows = epi.in_rows, gate.ld = k, gate.row0 = ic, gate.buf = ap.get();
          macro(kc, mc, nc, a_at(a, g, ic, pc), a_lda(g), bpan, c + ic * ldc + jc, ldc, alpha, beta, pc == 0, gate);
        } else {
          macro(kc, mc, nc, ap.get(), 0, bpan, c + ic * ldc + jc, ldc, alpha, beta, pc == 0, GateRows<T>{});
        }
      }
      if (epi.mean) apply_epilogue_rows(epi, c + ic * ldc + jc, ldc, ic, mc, jc, nc);
    }
  });
}

// The wide panels where vectors are 64 bytes (AVX-512), unless padding n up to a whole wide panel
// adds more than a fifth to the columns computed (n = 16 would compute twice the work). The level
// is read once, so that the panels and the micro-kernel agree even if a test forces another.
template <typename T>
void gemm_typed(const GemmArgs& g, const T* a, const T* b, T* c, const EpilogueView<T>& epi,
                const GemmRows<T>* rows = nullptr, const Tensor* bt = nullptr) {
  constexpr int64_t nw = Blocking<T, true>::NR, nn = Blocking<T, false>::NR;
  const int64_t cols_wide = (g.n + nw - 1) / nw * nw, cols_narrow = (g.n + nn - 1) / nn * nn;
  const int level = g_isa.level();
  const bool wide = isa_vector_bytes(level) == isa_vector_bytes(kIsaAvx512) && 5 * cols_wide <= 6 * cols_narrow;
  if (wide) gemm_blocked<T, Blocking<T, true>>(g, a, b, c, level, epi, rows, bt);
  else gemm_blocked<T, Blocking<T, false>>(g, a, b, c, level, epi, rows, bt);
}

template <typename T>
void gemm_rows_typed(const GemmArgs& g, const GemmRows<T>& a, const Tensor& b, Tensor& c, const Epilogue* epi) {
  // There is no A for check_gemm_args: the caller asserts its own validator (conv2d_gemm_forward's)
  // and this the invariants of B and C that the kernel relies on.
  ADVPROP_ASSERT(a.fill && !g.trans_a && g.lda == g.k && !g.tf32 && c.dtype() == DTypeOf<T>::value && b.dtype() == c.dtype() &&
                 b.is_contiguous() && c.is_contiguous() && (!epi || !epi->in_scale) &&
                 b.numel() >= (g.trans_b ? g.n * g.ldb : g.k * g.ldb) && c.numel() >= (g.m > 0 ? (g.m - 1) * g.ldc + g.n : 0));
  gemm_typed<T>(g, nullptr, b.data_as<const T>(), c.data_as<T>(), epilogue_view<T>(epi, g.n, g.ldc), &a, epi ? &b : nullptr);
}

}  // namespace

// Tiles of C per parallel chunk for later gemm calls; 0 restores the automatic choice. Results
// do not depend on it (each tile is computed whole by one thread); tests use it to check that.
// Not in a public header: declared where it is used.
void set_gemm_tile_grain(int64_t grain) { g_tile_grain.store(grain, std::memory_order_relaxed); }

// Forces the micro-kernel's ISA for later gemm calls (1 baseline, 2 AVX2, 3 AVX-512, 0 the best
// available); returns false, changing nothing, when this CPU or build lacks that level. For tests
// that check every ISA gives the same bits; not in a public header.
bool set_gemm_isa(int level) { return g_isa.force(level); }

void gemm_rows(const GemmArgs& g, const GemmRows<float>& a, const Tensor& b, Tensor& c, const Epilogue* epi) {
  gemm_rows_typed(g, a, b, c, epi);
}
void gemm_rows(const GemmArgs& g, const GemmRows<double>& a, const Tensor& b, Tensor& c, const Epilogue* epi) {
  gemm_rows_typed(g, a, b, c, epi);
}

void gemm(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) { gemm(g, a, b, c, nullptr); }

void gemm(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c, const Epilogue* epi) {
  ADVPROP_ASSERT(passes(check_gemm_args, g, a, b, c, DeviceType::cpu, epi));
  // f32 accumulation of 16-bit or tf32 inputs: gemm_tc.cc (never with an epilogue: the validator).
  if (c.dtype() == DType::bf16 || c.dtype() == DType::f16 || g.tf32) return gemm_tc(g, a, b, c);
  dispatch_dtype(c.dtype(), "gemm", [&](auto t) {
    using T = decltype(t);
    // An epilogue means the inference path, whose B is a layer's weights: their packs are kept.
    gemm_typed<T>(g, a.data_as<const T>(), b.data_as<const T>(), c.data_as<T>(), epilogue_view<T>(epi, g.n, g.ldc), nullptr,
                  epi || g.keep_b ? &b : nullptr);
  });
}

}  // namespace cpu
}  // namespace advprop
