// Tensor-core GEMM (contract: advprop/gemm.h; entry: gemm_tc.cuh) for bf16 and f16 tensors
// (mma.sync m16n8k16, f32 accumulators) and f32 tensors in tf32 math (m16n8k8, operands rounded
// by cvt.rna.tf32). Every instruction goes through ptx.cuh, so cuda-sim runs this same source.
//
// Tiling: a block computes a BM x BN tile of C with 8 warps (128 x 128) or 4 (128 x 64, chosen
// when n <= 64, where a 128-wide tile would mostly compute padding); each warp a 64 x 32 piece,
// 4 x 4 mma tiles of 16 x 8. (cuda-sim runs these tiles fast enough, about a second for all of
// gemm_tc_test.cc in a release build, so the simulator needs no smaller tiling.) k is walked in
// slices of BK (32 16-bit elements or 16 f32, 64 bytes a row either way) through a 3-stage ring in
// dynamic shared memory filled by cp.async: while the warps multiply slice t, the copies of slices
// t + 1 and t + 2 are in flight. Each operand's slice is stored as it lies in global memory (its
// contiguous dimension contiguous), rows padded by 16 bytes (32 for the f32 m/n-contiguous case)
// so that the 8 rows an ldmatrix or a warp's fragment loads touch fall in distinct banks. 16-bit
// fragments come from ldmatrix: .x4 for a k-contiguous operand (A untransposed, B transposed),
// .x4.trans for an m- or n-contiguous one; tf32 fragments by plain 32-bit shared loads (ldmatrix's
// .trans moves 16-bit elements, and the loads cost the same shared-memory wavefronts), rounded
// with f32_to_tf32.
//
// Edges: a 16-byte copy that runs past the matrix (its rows, its columns, or this block's k
// range) reads only the bytes inside and zero-fills the rest (cp_async_16_zfill); rows outside
// copy nothing. Zeros in both operands keep a NaN or inf from the neighbouring split out of the
// products. When an operand's rows are not 16-byte aligned (a leading dimension that is not a
// multiple of 8 16-bit or 4 f32 elements, or a view that starts mid-row: the stem's k = 27, a
// grouped convolution's column block), that operand is loaded element by element with plain
// loads and stores into the same ring instead (synchronous, so the pipeline's barriers cover it).
//
// Split-k: with few tiles of C and a long k, k is cut into S chunks whose f32 partial tiles go to
// a workspace [S, m, n], and a second kernel adds them in increasing split index, then applies
// alpha and beta. S depends on m, n and k only (fixed constants, not the device's SM count).
//
// Determinism: each element of C is one f32 accumulator per split that takes the mma results of
// its k slices in increasing k; the rest of the tiling (BM, BN, the warp layout) never changes
// which products meet in which order, so the bits depend on the shapes and values only (and on
// the tensor cores' own summation inside one mma, fixed per GPU architecture). No atomics.
// C = alpha * acc + beta * C is formed in f32 with unfused operations and rounded once to the
// 16-bit type, as the cpu twin (native/cpu/gemm_tc.cc) does.
#include "common.cuh"
#include "gemm_tc.cuh"
#include "ptx.cuh"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

#include "advprop/invariants.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

enum class TcKind : int { bf16, f16, tf32 };

// T: the tensors' storage type; E: the element as the kernel moves it; kK: k of one mma.
template <TcKind K>
struct Kind {
  using T = typename std::conditional<K == TcKind::bf16, advprop::bf16, advprop::f16>::type;
  using E = uint16_t;
  static constexpr int kK = 16;
};
template <>
struct Kind<TcKind::tf32> {
  using T = float;
  using E = float;
  static constexpr int kK = 8;
};

template <int BM_, int BN_, int WARPS_M_, int WARPS_N_>
struct Tile {
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_;
  static constexpr int kThreads = 32 * WARPS_M * WARPS_N;
  static constexpr int WTM = BM / WARPS_M, WTN = BN / WARPS_N;  // a warp's piece of the tile
  static constexpr int MT = WTM / 16, NT = WTN / 8;             // its mma tiles
  static_assert(WTM % 16 == 0 && WTN % 16 == 0, "warp tiles are whole pairs of mma tiles");
};
using TileWide = Tile<128, 128, 2, 4>;
using TileNarrow = Tile<128, 64, 2, 2>;

constexpr int kStages = 3;
constexpr int kSliceBytes = 64;  // bytes of k per operand row and slice

// The shared-memory ring of one kernel: per stage A's slice then B's, in elements of E.
template <typename KD, typename TL, bool TA, bool TB>
struct Ring {
  using E = typename KD::E;
  static constexpr int CH = 16 / static_cast<int>(sizeof(E));  // elements per 16-byte copy
  static constexpr int BK = kSliceBytes / static_cast<int>(sizeof(E));
  static constexpr int kPadK = CH, kPadMN = 8;
  // Row strides: k-contiguous rows hold BK (+ pad), m/n-contiguous rows BM or BN (+ pad).
  static constexpr int SA = TA ? TL::BM + kPadMN : BK + kPadK;
  static constexpr int SB = TB ? BK + kPadK : TL::BN + kPadMN;
  static constexpr int A_ELEMS = TA ? BK * SA : TL::BM * SA;
  static constexpr int B_ELEMS = TB ? TL::BN * SB : BK * SB;
  static constexpr int STAGE = A_ELEMS + B_ELEMS;
  static constexpr size_t BYTES = sizeof(E) * static_cast<size_t>(kStages) * STAGE;
  static_assert((A_ELEMS * sizeof(E)) % 16 == 0 && (STAGE * sizeof(E)) % 16 == 0, "16-byte aligned regions");
  static_assert(BK % KD::kK == 0, "whole mma steps per slice");
};

struct TcArgs {
  const void* a;
  const void* b;
  void* c;
  float* ws;  // split-k partials [splits, m, n], or null: write C
  int64_t m, n, k, lda, ldb, ldc;
  int64_t kchunk;  // k per split, a multiple of BK
  int64_t ntiles;  // tiles of C along n
  float alpha, beta;
  int a_vec, b_vec;  // the operand's rows are 16-byte aligned: cp.async
  int c_pair;        // two adjacent elements of C may be stored as one aligned word
};

// One operand's slice: tile rows r0 .. r0 + R - 1 (m for A, n for B) of `rows`, k from k0 (this
// block's k range ends at kend). K_CONTIG: the operand's element (r, k) is at src[r * ld + k] and
// the slice is stored s[r * STRIDE + kk]; else at src[k * ld + r], stored s[kk * STRIDE + r].
// Consecutive threads take consecutive 16-byte chunks along the contiguous dimension.
template <typename E, int R, int BK, bool K_CONTIG, int STRIDE, int THREADS>
__device__ __forceinline__ void load_slice(E* s, const E* src, int64_t ld, int64_t r0, int64_t rows, int64_t k0,
                                           int64_t kend, bool vec, int tid) {
  constexpr int CH = 16 / static_cast<int>(sizeof(E));
  constexpr int PER_ROW = (K_CONTIG ? BK : R) / CH;
  constexpr int CHUNKS = R * BK / CH;
  static_assert(CHUNKS % THREADS == 0, "whole chunks per thread");
#pragma unroll
  for (int it = 0; it < CHUNKS / THREADS; ++it) {
    const int ci = tid + it * THREADS;
    const int outer = ci / PER_ROW, inner = (ci % PER_ROW) * CH;
    // (gr, gk): the chunk's first element; `valid`: how many of its CH elements lie inside.
    const int64_t gr = r0 + (K_CONTIG ? outer : inner), gk = k0 + (K_CONTIG ? inner : outer);
    int64_t valid = K_CONTIG ? (gr < rows ? kend - gk : 0) : (gk < kend ? rows - gr : 0);
    valid = valid < 0 ? 0 : valid > CH ? CH : valid;
    E* dst = s + outer * STRIDE + inner;
    const E* from = valid > 0 ? src + (K_CONTIG ? gr * ld + gk : gk * ld + gr) : src;
    if (vec) {
      ptx::cp_async_16_zfill(dst, from, static_cast<int>(valid * static_cast<int64_t>(sizeof(E))));
    } else {
#pragma unroll
      for (int e = 0; e < CH; ++e) dst[e] = e < valid ? from[e] : E(0);
    }
  }
}

// The A fragments (row-major 16 x k-step per mma tile) of a warp's MT tiles at k offset kk.
template <TcKind K, bool TA, int SA, int MT>
__device__ __forceinline__ void a_frags(uint32_t (&af)[MT][4], const typename Kind<K>::E* As, int wm0, int kk,
                                        int lane) {
#pragma unroll
  for (int i = 0; i < MT; ++i) {
    const int m = wm0 + i * 16;
    if constexpr (K == TcKind::tf32) {
      const int g = lane >> 2, t = lane & 3;
      auto at = [&](int r, int c) { return TA ? As[(kk + c) * SA + m + r] : As[(m + r) * SA + kk + c]; };
      af[i][0] = ptx::f32_to_tf32(at(g, t));
      af[i][1] = ptx::f32_to_tf32(at(g + 8, t));
      af[i][2] = ptx::f32_to_tf32(at(g, t + 4));
      af[i][3] = ptx::f32_to_tf32(at(g + 8, t + 4));
    } else if constexpr (!TA) {
      // Matrices: rows 0-7 / 8-15 at k 0, then the same at k 8 (lanes 16-31).
      ptx::ldmatrix_x4(af[i], As + (m + (lane & 15)) * SA + kk + 8 * (lane >> 4));
    } else {
      // Stored [k][m]: matrix j covers m 8 (j & 1) .. +7, k 8 (j >> 1) .. +7; .trans turns it.
      const int j = lane >> 3, r = lane & 7;
      ptx::ldmatrix_x4_trans(af[i], As + (kk + r + 8 * (j >> 1)) * SA + m + 8 * (j & 1));
    }
  }
}

// The B fragments (k-step x 8, "column-major") of a warp's NT tiles at k offset kk; 16-bit ones
// come two tiles per ldmatrix.x4.
template <TcKind K, bool TB, int SB, int NT>
__device__ __forceinline__ void b_frags(uint32_t (&bf)[NT][2], const typename Kind<K>::E* Bs, int wn0, int kk,
                                        int lane) {
  if constexpr (K == TcKind::tf32) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const int n = wn0 + j * 8 + g;
      bf[j][0] = ptx::f32_to_tf32(TB ? Bs[n * SB + kk + t] : Bs[(kk + t) * SB + n]);
      bf[j][1] = ptx::f32_to_tf32(TB ? Bs[n * SB + kk + t + 4] : Bs[(kk + t + 4) * SB + n]);
    }
  } else {
    const int j4 = lane >> 3, r = lane & 7;
#pragma unroll
    for (int jp = 0; jp < NT / 2; ++jp) {
      const int n = wn0 + jp * 16;
      uint32_t q[4];
      if constexpr (TB)  // stored [n][k]: matrices (n 0-7, k 0), (n 0-7, k 8), (n 8-15, k 0), (n 8-15, k 8)
        ptx::ldmatrix_x4(q, Bs + (n + r + 8 * (j4 >> 1)) * SB + kk + 8 * (j4 & 1));
      else  // stored [k][n]: the same four matrices, transposed by ldmatrix
        ptx::ldmatrix_x4_trans(q, Bs + (kk + r + 8 * (j4 & 1)) * SB + n + 8 * (j4 >> 1));
      bf[2 * jp][0] = q[0];
      bf[2 * jp][1] = q[1];
      bf[2 * jp + 1][0] = q[2];
      bf[2 * jp + 1][1] = q[3];
    }
  }
}

template <TcKind K>
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (K == TcKind::bf16) ptx::mma_m16n8k16_bf16_f32(d, a, b, d);
  else if constexpr (K == TcKind::f16) ptx::mma_m16n8k16_f16_f32(d, a, b, d);
  else ptx::mma_m16n8k8_tf32_f32(d, a, b, d);
}

// alpha * acc + beta * c in f32, each operation rounded (no FMA), as the cpu twin.
template <typename T>
__device__ __forceinline__ float epilogue(float acc, const T* c, float alpha, float beta) {
  float v = __fmul_rn(alpha, acc);
  if (beta != 0.0f) v = __fadd_rn(v, __fmul_rn(beta, load_f32(*c)));
  return v;
}

template <typename W>
__device__ __forceinline__ void store_word(void* p, W w) {
#if defined(ADVPROP_SIM)
  std::memcpy(p, &w, sizeof w);
#else
  *static_cast<W*>(p) = w;
#endif
}

template <typename T>
__device__ __forceinline__ uint32_t bits_of(float v) {
  if constexpr (sizeof(T) == 2) return store_as<T>(v).bits;
  else return __float_as_uint(v);
}

// C elements (row, col) and (row, col + 1), where ok0 / ok1 say they exist.
template <typename T>
__device__ __forceinline__ void store_c2(T* c, float a0, float a1, bool ok0, bool ok1, bool pair, float alpha,
                                         float beta) {
  if (pair && ok0 && ok1) {
    const uint64_t lo = bits_of<T>(epilogue(a0, c, alpha, beta)), hi = bits_of<T>(epilogue(a1, c + 1, alpha, beta));
    if constexpr (sizeof(T) == 2) store_word<uint32_t>(c, static_cast<uint32_t>(lo | hi << 16));
    else store_word<uint64_t>(c, lo | hi << 32);
    return;
  }
  if (ok0) c[0] = store_as<T>(epilogue(a0, c, alpha, beta));
  if (ok1) c[1] = store_as<T>(epilogue(a1, c + 1, alpha, beta));
}

template <TcKind K, typename TL, bool TA, bool TB>
__global__ void __launch_bounds__(TL::kThreads) gemm_tc_kernel(TcArgs p) {
  using KD = Kind<K>;
  using E = typename KD::E;
  using T = typename KD::T;
  using RG = Ring<KD, TL, TA, TB>;
  constexpr int BK = RG::BK;
  ADVPROP_DYNAMIC_SMEM(E, ring);
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const int wm0 = (warp / TL::WARPS_N) * TL::WTM, wn0 = (warp % TL::WARPS_N) * TL::WTN;
  const int64_t tile = blockIdx.x;
  const int64_t m0 = (tile / p.ntiles) * TL::BM, n0 = (tile % p.ntiles) * TL::BN;
  const int64_t kbeg = static_cast<int64_t>(blockIdx.z) * p.kchunk;
  const int64_t kend = kbeg + p.kchunk < p.k ? kbeg + p.kchunk : p.k;
  const int64_t nkt = (kend - kbeg + BK - 1) / BK;
  const E* A = static_cast<const E*>(p.a);
  const E* B = static_cast<const E*>(p.b);

  // Slice kt of this block's k range into ring stage `stage` (A untransposed is k-contiguous,
  // B transposed too).
  auto load_stage = [&](int64_t stage, int64_t kt) {
    E* as = ring + stage * RG::STAGE;
    const int64_t k0 = kbeg + kt * BK;
    load_slice<E, TL::BM, BK, !TA, RG::SA, TL::kThreads>(as, A, p.lda, m0, p.m, k0, kend, p.a_vec, tid);
    load_slice<E, TL::BN, BK, TB, RG::SB, TL::kThreads>(as + RG::A_ELEMS, B, p.ldb, n0, p.n, k0, kend, p.b_vec, tid);
  };

  float acc[TL::MT][TL::NT][4];
#pragma unroll
  for (int i = 0; i < TL::MT; ++i)
#pragma unroll
    for (int j = 0; j < TL::NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  // One commit group per slice (empty past the end), so "slice kt has landed" is "at most
  // kStages - 2 groups pending" at iteration kt.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nkt) load_stage(s, s);
    ptx::cp_async_commit();
  }
  for (int64_t kt = 0; kt < nkt; ++kt) {
    ptx::cp_async_wait<kStages - 2>();
    // Slice kt is visible to every thread, and every warp is done with slice kt - 1, whose
    // stage the next copy overwrites.
    __syncthreads();
    const int64_t next = kt + kStages - 1;
    if (next < nkt) load_stage(next % kStages, next);
    ptx::cp_async_commit();
    const E* as = ring + (kt % kStages) * RG::STAGE;
    const E* bs = as + RG::A_ELEMS;
#pragma unroll
    for (int kk = 0; kk < BK; kk += KD::kK) {
      uint32_t af[TL::MT][4], bf[TL::NT][2];
      a_frags<K, TA, RG::SA, TL::MT>(af, as, wm0, kk, lane);
      b_frags<K, TB, RG::SB, TL::NT>(bf, bs, wn0, kk, lane);
#pragma unroll
      for (int i = 0; i < TL::MT; ++i)
#pragma unroll
        for (int j = 0; j < TL::NT; ++j) mma<K>(acc[i][j], af[i], bf[j]);
    }
  }

  // Accumulator e of tile (i, j): row g + 8 (e / 2), column 2t + e % 2 of the 16 x 8 tile.
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < TL::MT; ++i)
#pragma unroll
    for (int j = 0; j < TL::NT; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t row = m0 + wm0 + i * 16 + g + 8 * h, col = n0 + wn0 + j * 8 + 2 * t;
        if (row >= p.m) continue;
        const bool ok0 = col < p.n, ok1 = col + 1 < p.n;
        if (p.ws) {
          float* w = p.ws + static_cast<int64_t>(blockIdx.z) * p.m * p.n + row * p.n + col;
          if (ok0) w[0] = acc[i][j][2 * h];
          if (ok1) w[1] = acc[i][j][2 * h + 1];
        } else {
          store_c2(static_cast<T*>(p.c) + row * p.ldc + col, acc[i][j][2 * h], acc[i][j][2 * h + 1], ok0, ok1,
                   p.c_pair != 0, p.alpha, p.beta);
        }
      }
}

// c[i, j] = alpha * (ws[0, i, j] + ws[1, i, j] + ... in increasing split) + beta * c[i, j];
// with no splits (k == 0) the sum is 0.
template <typename T>
__global__ void tc_split_reduce_kernel(const float* ws, T* c, int64_t m, int64_t n, int64_t ldc, int64_t splits,
                                       float alpha, float beta) {
  const int64_t mn = m * n;
  for (int64_t idx = grid_start(); idx < mn; idx += grid_step()) {
    float s = splits ? ws[idx] : 0.0f;
    for (int64_t z = 1; z < splits; ++z) s = __fadd_rn(s, ws[z * mn + idx]);
    T* out = c + (idx / n) * ldc + idx % n;
    *out = store_as<T>(epilogue(s, out, alpha, beta));
  }
}

// Split-k below kSplitTiles tiles of C when k >= kSplitMinK: chunks of at least kSplitMinChunk,
// enough splits for about kTargetBlocks blocks (two waves of an H100's 132 SMs), at most kMaxSplits.
constexpr int64_t kSplitTiles = 66, kSplitMinK = 1024, kSplitMinChunk = 512, kTargetBlocks = 264, kMaxSplits = 64;

bool aligned16(const void* p, int64_t ld, size_t elem) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && (ld * static_cast<int64_t>(elem)) % 16 == 0;
}

template <TcKind K, typename TL, bool TA, bool TB>
void launch(const TcArgs& p, dim3 grid, int device, cudaStream_t s) {
  using RG = Ring<Kind<K>, TL, TA, TB>;
  // The ring exceeds the default 48 KiB: raise the kernel's limit once per device.
  static std::atomic<uint64_t> allowed{0};
  const uint64_t bit = uint64_t(1) << (device & 63);
  if (!(allowed.load(std::memory_order_relaxed) & bit)) {
    check_cuda(cudaFuncSetAttribute(gemm_tc_kernel<K, TL, TA, TB>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(RG::BYTES)),
               "cudaFuncSetAttribute (gemm_tc)");
    allowed.fetch_or(bit, std::memory_order_relaxed);
  }
  ADVPROP_LAUNCH((gemm_tc_kernel<K, TL, TA, TB>), grid, dim3(TL::kThreads), RG::BYTES, s)(p);
}

template <TcKind K, typename TL>
void run(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  using T = typename Kind<K>::T;
  using RG = Ring<Kind<K>, TL, false, false>;
  const int device = c.device().index;
  cudaStream_t s = stream_of(c);
  const float alpha = static_cast<float>(g.alpha), beta = static_cast<float>(g.beta);
  const int64_t mtiles = (g.m + TL::BM - 1) / TL::BM, ntiles = (g.n + TL::BN - 1) / TL::BN, tiles = mtiles * ntiles;
  int64_t splits = g.k > 0 ? 1 : 0, kchunk = std::max<int64_t>(g.k, 1);
  if (tiles < kSplitTiles && g.k >= kSplitMinK) {
    splits = std::min({(g.k + kSplitMinChunk - 1) / kSplitMinChunk, (kTargetBlocks + tiles - 1) / tiles, kMaxSplits});
    kchunk = ((g.k + splits - 1) / splits + RG::BK - 1) / RG::BK * RG::BK;
    splits = (g.k + kchunk - 1) / kchunk;
  }
  if (tiles > 2147483647) fail(ErrorCode::Shape, "gemm: " + std::to_string(tiles) + " tiles of C exceed one grid");
  TcArgs p{};
  p.a = a.data(), p.b = b.data(), p.c = c.data();
  p.m = g.m, p.n = g.n, p.k = g.k, p.lda = g.lda, p.ldb = g.ldb, p.ldc = g.ldc;
  p.kchunk = kchunk, p.ntiles = ntiles, p.alpha = alpha, p.beta = beta;
  p.a_vec = aligned16(a.data(), g.lda, sizeof(T)), p.b_vec = aligned16(b.data(), g.ldb, sizeof(T));
  p.c_pair = reinterpret_cast<uintptr_t>(c.data()) % (2 * sizeof(T)) == 0 && g.ldc % 2 == 0;
  Tensor ws;
  if (splits != 1) {
    ws = Tensor::empty({std::max<int64_t>(1, splits * g.m * g.n)}, DType::f32, c.device());
    p.ws = ws.data_as<float>();
  }
  if (splits > 0) {
    const dim3 grid(static_cast<unsigned>(tiles), 1, static_cast<unsigned>(splits));
    const int which = (g.trans_a ? 1 : 0) | (g.trans_b ? 2 : 0);
    switch (which) {
      case 0: launch<K, TL, false, false>(p, grid, device, s); break;
      case 1: launch<K, TL, true, false>(p, grid, device, s); break;
      case 2: launch<K, TL, false, true>(p, grid, device, s); break;
      default: launch<K, TL, true, true>(p, grid, device, s); break;
    }
  }
  if (splits != 1)
    ADVPROP_LAUNCH((tc_split_reduce_kernel<T>), grid_for(g.m * g.n, 256), 256, 0, s)(
        p.ws, c.data_as<T>(), g.m, g.n, g.ldc, splits, alpha, beta);
}

template <TcKind K>
void run_kind(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  if (g.n <= TileNarrow::BN) run<K, TileNarrow>(g, a, b, c);
  else run<K, TileWide>(g, a, b, c);
}

}  // namespace

bool gemm_tc_usable(int device) {
#if defined(ADVPROP_SIM)
  (void)device;
  return true;
#else
  // 0 unknown, 1 yes, 2 no, per device index.
  static std::atomic<int> known[64];
  if (device < 0 || device >= 64) return false;
  const int k = known[device].load(std::memory_order_relaxed);
  if (k) return k == 1;
  int major = 0;
  const bool yes = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 8;
  known[device].store(yes ? 1 : 2, std::memory_order_relaxed);
  return yes;
#endif
}

void gemm_tc(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
  ADVPROP_ASSERT(g.m > 0 && g.n > 0);
  switch (c.dtype()) {
    case DType::bf16: return run_kind<TcKind::bf16>(g, a, b, c);
    case DType::f16: return run_kind<TcKind::f16>(g, a, b, c);
    case DType::f32: ADVPROP_ASSERT(g.tf32); return run_kind<TcKind::tf32>(g, a, b, c);
    default: fail(ErrorCode::Internal, std::string("gemm_tc: dtype ") + dtype_name(c.dtype()));
  }
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
