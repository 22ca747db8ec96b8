// Softmax cross-entropy and row argmax on CUDA (contract: advprop/loss.h; reference:
// native/cpu/loss.cc). Forward and argmax: one block per row (a grid-stride loop over rows);
// each thread scans a strided subset of the row's K classes and the block combines the partial
// results in a fixed shared-memory tree, so every row's result is deterministic. Backward: one
// thread per logit, a grid-stride loop. 16-bit logits are widened to f32 on the load and every
// sum runs in f32 (Accum<T>), as for f32 logits; the loss and lse are f32, dlogits rounded to T.
#include "common.cuh"

#include <cmath>
#include <cstdint>
#include <string>

#include "advprop/device.h"
#include "advprop/loss.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr int kRowThreads = 256;  // a power of two (tree reductions)
constexpr unsigned kThreads = 256;
constexpr unsigned kMaxRowBlocks = 8192;

__device__ __forceinline__ float xe_max(float a, float b) { return fmaxf(a, b); }  // NaN-ignoring, like std::fmax
__device__ __forceinline__ double xe_max(double a, double b) { return fmax(a, b); }

template <typename T, typename A = Accum<T>>
__global__ void xent_forward_kernel(const T* z, const int32_t* labels, A* loss, A* lse, int64_t N, int64_t K, A on,
                                    A off) {
  __shared__ A sa[kRowThreads];
  __shared__ A sb[kRowThreads];
  const int tid = threadIdx.x;
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const T* r = z + n * K;
    A m = A(-INFINITY);
    for (int64_t k = tid; k < K; k += kRowThreads) m = xe_max(m, to_accum(r[k]));
    sa[tid] = m;
    __syncthreads();
    for (int half = kRowThreads / 2; half > 0; half /= 2) {
      if (tid < half) sa[tid] = xe_max(sa[tid], sa[tid + half]);
      __syncthreads();
    }
    m = sa[0];
    __syncthreads();
    A se = A(0), sz = A(0);  // sz = sum_k (m - z_k)
    for (int64_t k = tid; k < K; k += kRowThreads) {
      const A d = to_accum(r[k]) - m;
      se += Math::exp(d);
      sz -= d;
    }
    sa[tid] = se;
    sb[tid] = sz;
    __syncthreads();
    for (int half = kRowThreads / 2; half > 0; half /= 2) {
      if (tid < half) {
        sa[tid] += sa[tid + half];
        sb[tid] += sb[tid + half];
      }
      __syncthreads();
    }
    if (tid == 0) {
      const A log_se = Math::log(sa[0]);
      const int32_t y = labels[n];
      const A gy = (y >= 0 && y < K) ? m - to_accum(r[y]) : A(NAN);
      lse[n] = m + log_se;
      loss[n] = log_se + on * gy + off * sb[0];  // see native/cpu/loss.cc
    }
    __syncthreads();  // sa/sb are reused by the next row
  }
}

template <typename T, typename A = Accum<T>>
__global__ void xent_backward_kernel(const T* z, const int32_t* labels, const A* lse, const A* dy, int dy_scalar,
                                     A scale, A on, A off, T* dz, int64_t N, int64_t K) {
  const int64_t total = N * K;
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    const int64_t n = i / K, k = i % K;
    const A g = scale * (dy_scalar ? dy[0] : dy[n]);
    const A t = k == labels[n] ? on + off : off;
    dz[i] = from_accum<T>((Math::exp(to_accum(z[i]) - lse[n]) - t) * g);
  }
}

template <typename T, typename A = Accum<T>>
__global__ void argmax_kernel(const T* z, int32_t* pred, int64_t N, int64_t K) {
  __shared__ A sv[kRowThreads];
  __shared__ int64_t si[kRowThreads];  // -1: no non-NaN value seen
  const int tid = threadIdx.x;
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const T* r = z + n * K;
    A bv = A(0);
    int64_t bi = -1;
    for (int64_t k = tid; k < K; k += kRowThreads) {
      const A v = to_accum(r[k]);
      if (v == v && (bi < 0 || v > bv)) bv = v, bi = k;  // increasing k: ties keep the lowest
    }
    sv[tid] = bv;
    si[tid] = bi;
    __syncthreads();
    for (int half = kRowThreads / 2; half > 0; half /= 2) {
      if (tid < half) {
        const A ov = sv[tid + half];
        const int64_t oi = si[tid + half];
        if (oi >= 0 && (si[tid] < 0 || ov > sv[tid] || (ov == sv[tid] && oi < si[tid]))) sv[tid] = ov, si[tid] = oi;
      }
      __syncthreads();
    }
    if (tid == 0) pred[n] = static_cast<int32_t>(si[0] < 0 ? 0 : si[0]);
    __syncthreads();
  }
}

unsigned row_blocks(int64_t N) { return static_cast<unsigned>(N < kMaxRowBlocks ? N : kMaxRowBlocks); }

}  // namespace

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, double smoothing, Tensor& loss, Tensor& lse) {
  const char* op = "softmax_xent_forward";
  const LossSizes sz = xent_forward_sizes(logits, labels, loss, lse);
  if (sz.n == 0) return;
  const double on = 1.0 - smoothing, off = smoothing / static_cast<double>(sz.k);
  cudaStream_t s = stream_of(logits);
  dispatch_dtype<MixedFloatTypes>(logits.dtype(), op, [&](auto t) {
    using T = decltype(t);
    using A = Accum<T>;
    ADVPROP_LAUNCH((xent_forward_kernel<T, A>), row_blocks(sz.n), kRowThreads, 0, s)(
        logits.data_as<T>(), labels.data_as<int32_t>(), loss.data_as<A>(), lse.data_as<A>(), sz.n, sz.k, static_cast<A>(on),
        static_cast<A>(off));
  });
}

void softmax_xent_backward(const Tensor& logits, const Tensor& labels, const Tensor& lse, const Tensor& dy,
                           double scale, double smoothing, Tensor& dlogits) {
  const char* op = "softmax_xent_backward";
  const LossSizes sz = xent_backward_sizes(logits, labels, lse, dy, dlogits);
  if (sz.n == 0) return;
  const double on = 1.0 - smoothing, off = smoothing / static_cast<double>(sz.k);
  cudaStream_t s = stream_of(logits);
  const int64_t total = sz.n * sz.k;
  dispatch_dtype<MixedFloatTypes>(logits.dtype(), op, [&](auto t) {
    using T = decltype(t);
    using A = Accum<T>;
    ADVPROP_LAUNCH((xent_backward_kernel<T, A>), grid_for(total, kThreads), kThreads, 0, s)(
        logits.data_as<T>(), labels.data_as<int32_t>(), lse.data_as<A>(), dy.data_as<A>(), dy.ndim() == 0 ? 1 : 0,
        static_cast<A>(scale), static_cast<A>(on), static_cast<A>(off), dlogits.data_as<T>(), sz.n, sz.k);
  });
}

void argmax_rows(const Tensor& logits, Tensor& pred) {
  const char* op = "argmax_rows";
  const LossSizes sz = loss_sizes(logits, pred);
  if (sz.n == 0) return;
  cudaStream_t s = stream_of(logits);
  dispatch_dtype<MixedFloatTypes>(logits.dtype(), op, [&](auto t) {
    using T = decltype(t);
    ADVPROP_LAUNCH((argmax_kernel<T, Accum<T>>), row_blocks(sz.n), kRowThreads, 0, s)(logits.data_as<T>(), pred.data_as<int32_t>(), sz.n, sz.k);
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
