// Dense GEMM (contract: advprop/gemm.h). C = alpha * op(A) * op(B) + beta * C, row-major. This file
// is the f32/f64 CUDA-core kernel and the entry; bf16, f16 and tf32 go to gemm_tc.cu.
//
// Tiling: a block of 256 threads (16 x 16) computes a 64 x 64 tile of C. The k range is walked in
// slices of kBK = 16: each slice of op(A) (64 x 16) and op(B) (16 x 64) is staged in static shared
// memory, both stored k-major (As[k][m], Bs[k][n], rows padded by one element), and each thread
// accumulates a 4 x 4 register micro-tile. Thread (ty, tx) owns rows ty + 16 * i and columns
// tx + 16 * j (i, j < 4): strided ownership keeps the shared-memory reads of a warp conflict-free
// (consecutive tx read consecutive Bs columns; As reads are broadcasts). Loads are arranged per
// transpose case so that consecutive threads read consecutive addresses of the stored matrix.
// Out-of-range rows/columns/k (non-multiple shapes) are loaded as zeros and never stored.
//
// Split-k: a product with few output tiles and a long k (the weight gradients, which reduce over
// N*H*W) would leave most of the GPU idle, so k is cut into S chunks whose partial tiles go to a
// workspace [S, m, n]; a second kernel adds the S partials in increasing s and applies alpha/beta.
// S and the chunk length depend only on m, n and k.
//
// Determinism: every element of C (or of one partial) is accumulated by one thread, in increasing
// k, in the tensor's type (acc = acc + a * b; nvcc may fuse that into an FMA, the host compiler
// for cuda-sim usually does not, so cuda and cuda-sim agree within rounding, not bit for bit). No
// atomics. The result depends only on the shapes and values, never on timing.
#include "common.cuh"
#include "gemm_tc.cuh"

#include <algorithm>
#include <cstdint>
#include <string>

#include "advprop/epilogue.h"
#include "advprop/gemm.h"
#include "advprop/invariants.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16;
constexpr int kTX = 16, kTY = 16;        // threads per block along n and m
constexpr int kThreads = kTX * kTY;      // 256
constexpr int kRM = kBM / kTY;           // 4 rows of C per thread
constexpr int kRN = kBN / kTX;           // 4 columns of C per thread
constexpr int kLoads = kBM * kBK / kThreads;  // 4 elements of each operand tile per thread
constexpr int64_t kMaxGridX = 2147483647, kMaxGridY = 65535;
// Split-k kicks in below kSplitTiles output tiles when k is at least kSplitMinK; chunks are at
// least kSplitMinChunk long and at most kMaxSplits are made (enough blocks for ~2 waves on H100).
constexpr int64_t kSplitTiles = 64, kSplitMinK = 2048, kSplitMinChunk = 512, kMaxSplits = 128, kTargetBlocks = 264;

static_assert(kBM == kBN, "the load mapping assumes square block tiles");
static_assert(kBM * kBK % kThreads == 0, "tile loads must divide evenly among the threads");

// Element l of a thread block's load of one k slice of an operand: tile[kk][r] = M[r0 + r, k0 + kk]
// for the matrix M (rows x k) stored at src with leading dimension ld, k contiguous (M[r, kk] at
// src[r * ld + kk]) or not (at src[kk * ld + r]); 0 outside M. Consecutive l walk the stored
// matrix's contiguous index, so consecutive threads read consecutive addresses.
// gate (may be null, A only): the squeeze-excite scale, element [r, kk] read times
// gate[(r / gate_rows) * gate_ld + kk] (EpilogueView::in_scale), rounded as channel_scale rounds it.
template <typename T>
__device__ __forceinline__ void load_slice(const T* src, int64_t ld, bool k_contiguous, int64_t r0, int64_t rows,
                                           int64_t k0, int64_t k, int l, T (&tile)[kBK][kBM + 1],
                                           const T* gate = nullptr, int64_t gate_rows = 1, int64_t gate_ld = 0) {
  int rr, kk;
  if (k_contiguous) {
    rr = l / kBK;
    kk = l % kBK;
  } else {
    kk = l / kBM;
    rr = l % kBM;
  }
  const int64_t gr = r0 + rr, gk = k0 + kk;
  T v = T(0);
  if (gr < rows && gk < k) v = k_contiguous ? src[gr * ld + gk] : src[gk * ld + gr];
  if (gate && gr < rows && gk < k) v = v * gate[(gr / gate_rows) * gate_ld + gk];
  tile[kk][rr] = v;
}

template <typename T>
__global__ void gemm_kernel(const T* a, const T* b, T* c, GemmArgs g, T alpha, T beta, int64_t mtiles,
                            int64_t ntiles, int64_t kchunk, int64_t split_stride, EpilogueView<T> epi) {
  __shared__ T As[kBK][kBM + 1];
  __shared__ T Bs[kBK][kBN + 1];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int tid = ty * kTX + tx;
  const int64_t m = g.m, n = g.n, lda = g.lda, ldb = g.ldb, ldc = g.ldc;
  // This block's k chunk (the whole of k without split-k) and where its partial C goes.
  const int64_t kbeg = static_cast<int64_t>(blockIdx.z) * kchunk;
  const int64_t k = kbeg + kchunk < g.k ? kbeg + kchunk : g.k;
  c += static_cast<int64_t>(blockIdx.z) * split_stride;
  for (int64_t tm = blockIdx.x; tm < mtiles; tm += gridDim.x) {
    for (int64_t tn = blockIdx.y; tn < ntiles; tn += gridDim.y) {
      const int64_t m0 = tm * kBM, n0 = tn * kBN;
      T acc[kRM][kRN];
      for (int i = 0; i < kRM; ++i)
        for (int j = 0; j < kRN; ++j) acc[i][j] = T(0);

      for (int64_t k0 = kbeg; k0 < k; k0 += kBK) {
        for (int r = 0; r < kLoads; ++r) {
          const int l = tid + r * kThreads;
          // op(A) is A [m, k] (k contiguous) or A^T, stored [k, m]; op(B)^T is B^T, stored [n, k]
          // (k contiguous), or B [k, n].
          load_slice(a, lda, !g.trans_a, m0, m, k0, k, l, As, epi.in_scale, epi.in_rows, g.k);
          load_slice(b, ldb, g.trans_b, n0, n, k0, k, l, Bs);
        }
        __syncthreads();
        for (int kk = 0; kk < kBK; ++kk) {
          T ra[kRM], rb[kRN];
          for (int i = 0; i < kRM; ++i) ra[i] = As[kk][ty + i * kTY];
          for (int j = 0; j < kRN; ++j) rb[j] = Bs[kk][tx + j * kTX];
          for (int i = 0; i < kRM; ++i)
            for (int j = 0; j < kRN; ++j) acc[i][j] = acc[i][j] + ra[i] * rb[j];
        }
        __syncthreads();  // the tiles are overwritten by the next slice
      }

      for (int i = 0; i < kRM; ++i) {
        const int64_t gm = m0 + ty + i * kTY;
        if (gm >= m) continue;
        T* crow = c + gm * ldc;
        for (int j = 0; j < kRN; ++j) {
          const int64_t gn = n0 + tx + j * kTX;
          if (gn >= n) continue;
          const T v = alpha * acc[i][j];
          const T r = beta == T(0) ? v : v + beta * crow[gn];
          crow[gn] = epi.mean ? epilogue_value<BnMath>(epi, r, gm, gn) : r;
        }
      }
    }
  }
}

// c[i, j] = alpha * sum over s (in increasing s) of ws[s, i, j] + beta * c[i, j].
template <typename T>
__global__ void split_reduce_kernel(const T* ws, T* c, int64_t m, int64_t n, int64_t ldc, int64_t splits, T alpha, T beta,
                                    EpilogueView<T> epi) {
  const int64_t mn = m * n;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < mn;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T acc = ws[idx];
    for (int64_t s = 1; s < splits; ++s) acc = acc + ws[s * mn + idx];
    T* out = c + (idx / n) * ldc + idx % n;
    const T v = alpha * acc;
    const T r = beta == T(0) ? v : v + beta * *out;
    *out = epi.mean ? epilogue_value<BnMath>(epi, r, idx / n, idx % n) : r;
  }
}

// The partial products of split-k read the gated A too; the affine waits for the reduction.
template <typename T>
EpilogueView<T> gate_only(const EpilogueView<T>& e) {
  EpilogueView<T> v;
  v.in_scale = e.in_scale, v.in_rows = e.in_rows;
  return v;
}

template <typename T>
void gemm_typed(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c, const Epilogue* e) {
  const EpilogueView<T> epi = epilogue_view<T>(e, g.n, g.ldc);
  const int64_t mtiles = (g.m + kBM - 1) / kBM, ntiles = (g.n + kBN - 1) / kBN;
  const dim3 block(kTX, kTY);
  const int64_t tiles = mtiles * ntiles;
  int64_t splits = 1, kchunk = std::max<int64_t>(g.k, 1);
  if (tiles < kSplitTiles && g.k >= kSplitMinK) {
    splits = std::min({(g.k + kSplitMinChunk - 1) / kSplitMinChunk, (kTargetBlocks + tiles - 1) / tiles, kMaxSplits});
    kchunk = ((g.k + splits - 1) / splits + kBK - 1) / kBK * kBK;
    splits = (g.k + kchunk - 1) / kchunk;
  }
  const dim3 grid(static_cast<unsigned>(std::min(mtiles, kMaxGridX)), static_cast<unsigned>(std::min(ntiles, kMaxGridY)),
                  static_cast<unsigned>(splits));
  if (splits == 1) {
    ADVPROP_LAUNCH((gemm_kernel<T>), grid, block, 0, stream_of(c))(
        a.data_as<const T>(), b.data_as<const T>(), c.data_as<T>(), g, static_cast<T>(g.alpha), static_cast<T>(g.beta),
        mtiles, ntiles, kchunk, int64_t{0}, epi);
    return;
  }
  // Partials are plain [m, n] tiles: alpha 1, beta 0, leading dimension n.
  Tensor ws = Tensor::empty({splits * g.m * g.n}, c.dtype(), c.device());
  GemmArgs part = g;
  part.ldc = g.n;
  ADVPROP_LAUNCH((gemm_kernel<T>), grid, block, 0, stream_of(c))(
      a.data_as<const T>(), b.data_as<const T>(), ws.data_as<T>(), part, T(1), T(0), mtiles, ntiles, kchunk, g.m * g.n,
      gate_only(epi));
  const int64_t threads = 256, blocks = std::min<int64_t>((g.m * g.n + threads - 1) / threads, 4096);
  ADVPROP_LAUNCH((split_reduce_kernel<T>), dim3(static_cast<unsigned>(blocks)), dim3(threads), 0, stream_of(c))(
      ws.data_as<const T>(), c.data_as<T>(), g.m, g.n, g.ldc, splits, static_cast<T>(g.alpha), static_cast<T>(g.beta), epi);
}

}  // namespace

void gemm(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) { gemm(g, a, b, c, nullptr); }

void gemm(const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c, const Epilogue* epi) {
  ADVPROP_ASSERT(passes(check_gemm_args, g, a, b, c, kDeviceType, epi));
  if (g.m == 0 || g.n == 0) return;
  // bf16, f16 and tf32 run on the tensor cores (gemm_tc.cu). Without them (before sm_80) tf32
  // falls back to the f32 kernel below, which it permits; the 16-bit types have no fallback.
  if (c.dtype() == DType::bf16 || c.dtype() == DType::f16 || g.tf32) {
    if (gemm_tc_usable(c.device().index)) return gemm_tc(g, a, b, c);
    if (!g.tf32)
      fail(ErrorCode::Device, std::string("gemm: ") + dtype_name(c.dtype()) + " needs tensor cores (compute capability " +
                                  "8.0 or newer), which " + device_str(c.device()) + " lacks");
  }
  dispatch_dtype(c.dtype(), "gemm", [&](auto t) { gemm_typed<decltype(t)>(g, a, b, c, epi); });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
