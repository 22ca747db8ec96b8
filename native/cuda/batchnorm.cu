// Multi-domain batch norm on CUDA (contract: advprop/batchnorm.h; reference: native/cpu/batchnorm.cc).
// Each segment is a contiguous [rows, C] block (rows = count*H*W, NHWC). Per segment:
//   forward: bn_partial_kernel, a block of 32 channels x 8 row lanes per (channel tile, row
//     chunk) accumulating shifted sums in f64 and combining its lanes with a fixed shared-memory
//     tree into partial[chunk, 2, C]; bn_stats_kernel sums the chunks in order, one thread per
//     channel, and (train) updates the domain's running statistics; bn_apply_kernel normalises,
//     applies the affine map and the activation, grid-stride, channel fastest (coalesced).
//   backward: bn_grad_partial_kernel (the same shape, sums of g and g * xhat), bn_grad_sums_kernel
//     (chunks in order; adds into the domain's f64 dgamma/dbeta accumulators and forms the two
//     per-channel dx coefficients), bn_dx_kernel. The
//     elementwise kernels take 16-byte packs (4 f32, 8 bf16/f16, 2 f64: common.cuh) when C is a
//     multiple of the pack and the segment is 16-byte aligned.
// The segments run one after another on the tensor's stream, so running-stat updates and
// dgamma/dbeta sums of a domain that owns several segments happen in segment order. The chunk
// split depends only on the shape: deterministic on every device, no atomics.
// bf16 and f16 x (storage T): every kernel widens on read (to_accum) and computes in A = Accum<T>
// = f32 with f32 parameters and statistics, exactly as for f32, and y and dx are rounded once on
// the store, on the pack paths as on the scalar ones.
#include "common.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "advprop/batchnorm.h"
#include "advprop/device.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;
constexpr int kUnroll = 4;  // rows per lane and step in the reduction kernels
constexpr int64_t kMaxChunks = 512;
constexpr int64_t kMinChunkRows = 64;

// i % C: 64-bit division is a long instruction sequence on the GPU, so indices that fit in 32
// bits (every realistic activation) take the 32-bit one.
__device__ __forceinline__ int64_t channel_of(int64_t i, int64_t C) {
  return (i >> 32) == 0 && (C >> 32) == 0 ? static_cast<int64_t>(static_cast<uint32_t>(i) % static_cast<uint32_t>(C))
                                          : i % C;
}


// Combines the kLanes row lanes of (a, b) into lane 0 in a fixed order, and lane 0 of channel
// c < C writes the block's chunk partial[(chunk*2 + 0/1)*C + c].
__device__ __forceinline__ void lane_tree(double (*sa)[kTileC], double (*sb)[kTileC], double a, double b, int64_t c,
                                          int64_t C, double* partial) {
  sa[threadIdx.y][threadIdx.x] = a;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  for (int half = kLanes / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.y) < half) {
      sa[threadIdx.y][threadIdx.x] += sa[threadIdx.y + half][threadIdx.x];
      sb[threadIdx.y][threadIdx.x] += sb[threadIdx.y + half][threadIdx.x];
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && c < C) {
    partial[(static_cast<int64_t>(blockIdx.y) * 2) * C + c] = sa[0][threadIdx.x];
    partial[(static_cast<int64_t>(blockIdx.y) * 2 + 1) * C + c] = sb[0][threadIdx.x];
  }
}

// grid (ceil(C / kTileC), nchunks), block (kTileC, kLanes). partial[(chunk*2 + 0/1)*C + c] =
// sum over the chunk's rows of (x - shift) and (x - shift)^2, shift = the segment's first row.
template <typename T>
__global__ void bn_partial_kernel(const T* x, int64_t rows, int64_t C, int64_t chunk, double* partial) {
  __shared__ double sa[kLanes][kTileC];
  __shared__ double sb[kLanes][kTileC];
  const auto [c, begin, end] = channel_tile(blockIdx.y, chunk, rows);
  double s1 = 0, s2 = 0;
  if (c < C) {
    const double shift = static_cast<double>(to_accum(x[c]));
    // Four rows per step with their own sums: four loads in flight per thread instead of one,
    // which is what the memory system needs to stream (one 4-byte load per thread is latency-bound).
    double a[kUnroll] = {}, b[kUnroll] = {};
    int64_t r = begin + threadIdx.y;
    for (; r + (kUnroll - 1) * kLanes < end; r += kUnroll * kLanes) {
      double d[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) d[u] = static_cast<double>(to_accum(x[(r + u * kLanes) * C + c])) - shift;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        a[u] += d[u];
        b[u] += d[u] * d[u];
      }
    }
    for (; r < end; r += kLanes) {
      const double d = static_cast<double>(to_accum(x[r * C + c])) - shift;
      a[0] += d;
      b[0] += d * d;
    }
    s1 = (a[0] + a[1]) + (a[2] + a[3]);
    s2 = (b[0] + b[1]) + (b[2] + b[3]);
  }
  lane_tree(sa, sb, s1, s2, c, C, partial);
}

// One thread per channel: batch statistics of the segment from the partials, in chunk order.
template <typename T, typename A = Accum<T>>
__global__ void bn_stats_kernel(const double* partial, int64_t nchunks, const T* x, int64_t rows, int64_t C,
                                A* mean, A* invstd, A* rmean, A* rvar, int train, double momentum, double eps) {
  for (int64_t c = grid_start(); c < C; c += grid_step()) {
    double s1 = 0, s2 = 0;
    for (int64_t k = 0; k < nchunks; ++k) {
      s1 += partial[(k * 2) * C + c];
      s2 += partial[(k * 2 + 1) * C + c];
    }
    const double m = static_cast<double>(rows);
    const double mu = static_cast<double>(to_accum(x[c])) + s1 / m;
    double var = (s2 - s1 * (s1 / m)) / m;
    if (var < 0) var = 0;
    mean[c] = static_cast<A>(mu);
    invstd[c] = static_cast<A>(1.0 / sqrt(var + eps));
    if (train) {
      const double unbiased = rows > 1 ? var * (m / (m - 1)) : var;
      rmean[c] = static_cast<A>(momentum * static_cast<double>(rmean[c]) + (1 - momentum) * mu);
      rvar[c] = static_cast<A>(momentum * static_cast<double>(rvar[c]) + (1 - momentum) * unbiased);
    }
  }
}

template <typename T>
__global__ void bn_eval_stats_kernel(const T* rmean, const T* rvar, int64_t C, T* mean, T* invstd, double eps) {
  for (int64_t c = grid_start(); c < C; c += grid_step()) {
    mean[c] = rmean[c];
    invstd[c] = static_cast<T>(1.0 / sqrt(static_cast<double>(rvar[c]) + eps));
  }
}

template <typename T, typename A = Accum<T>>
__global__ void bn_apply_kernel(const T* x, T* y, int64_t total, int64_t C, const A* mean, const A* invstd,
                                const A* gamma, const A* beta, BnAct act) {
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    const int64_t c = channel_of(i, C);
    y[i] = from_accum<T>(bn_act_forward<BnMath>(act, (to_accum(x[i]) - mean[c]) * (gamma[c] * invstd[c]) + beta[c]));
  }
}

// C a multiple of Pack<T>::kLen and 16-byte aligned segment bases: one pack per thread and step.
template <typename T, typename A = Accum<T>>
__global__ void bn_apply_pack_kernel(const Pack<T>* x, Pack<T>* y, int64_t packs, int64_t C, const A* mean,
                                     const A* invstd, const A* gamma, const A* beta, BnAct act) {
  constexpr int K = Pack<T>::kLen;
  for (int64_t i = grid_start(); i < packs; i += grid_step()) {
    const int64_t c0 = channel_of(i * K, C);
    const Pack<T> v = x[i];
    Pack<T> r;
#pragma unroll
    for (int j = 0; j < K; ++j) {
      const int64_t c = c0 + j;
      r.v[j] = from_accum<T>(bn_act_forward<BnMath>(act, (to_accum(v.v[j]) - mean[c]) * (gamma[c] * invstd[c]) + beta[c]));
    }
    y[i] = r;
  }
}

// Like bn_partial_kernel, for sum(g) and sum(g * xhat).
template <typename T, typename A = Accum<T>>
__global__ void bn_grad_partial_kernel(const T* dy, const T* x, int64_t rows, int64_t C, int64_t chunk,
                                       const A* mean, const A* invstd, const A* gamma, const A* beta, BnAct act,
                                       double* partial) {
  __shared__ double sa[kLanes][kTileC];
  __shared__ double sb[kLanes][kTileC];
  const auto [c, begin, end] = channel_tile(blockIdx.y, chunk, rows);
  double s1 = 0, s2 = 0;
  if (c < C) {
    const A mu = mean[c], is = invstd[c], g = gamma[c], b = beta[c];
    double a[kUnroll] = {}, bb[kUnroll] = {};  // as in bn_partial_kernel: loads in flight
    int64_t r = begin + threadIdx.y;
    for (; r + (kUnroll - 1) * kLanes < end; r += kUnroll * kLanes) {
      A xv[kUnroll], dv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        xv[u] = to_accum(x[(r + u * kLanes) * C + c]);
        dv[u] = to_accum(dy[(r + u * kLanes) * C + c]);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const A xhat = (xv[u] - mu) * is;
        const A gr = bn_act_backward<BnMath>(act, xhat * g + b, dv[u]);
        a[u] += static_cast<double>(gr);
        bb[u] += static_cast<double>(gr) * static_cast<double>(xhat);
      }
    }
    for (; r < end; r += kLanes) {
      const A xhat = (to_accum(x[r * C + c]) - mu) * is;
      const A gr = bn_act_backward<BnMath>(act, xhat * g + b, to_accum(dy[r * C + c]));
      a[0] += static_cast<double>(gr);
      bb[0] += static_cast<double>(gr) * static_cast<double>(xhat);
    }
    s1 = (a[0] + a[1]) + (a[2] + a[3]);
    s2 = (bb[0] + bb[1]) + (bb[2] + bb[3]);
  }
  lane_tree(sa, sb, s1, s2, c, C, partial);
}

// One thread per channel: the segment's sums in chunk order, added to the domain's accumulators
// acc[0/1][c] (dbeta, dgamma).
// coef[c] = sum(g)/m and coef[C + c] = sum(g·xhat)/m in A (0 in eval mode), computed here once per
// channel: the dx kernels used to divide in f64 for every element, which made them compute-bound.
template <typename A>
__global__ void bn_grad_sums_kernel(const double* partial, int64_t nchunks, int64_t C, double m, int eval, A* coef,
                                    double* acc_beta, double* acc_gamma) {
  for (int64_t c = grid_start(); c < C; c += grid_step()) {
    double s1 = 0, s2 = 0;
    for (int64_t k = 0; k < nchunks; ++k) {
      s1 += partial[(k * 2) * C + c];
      s2 += partial[(k * 2 + 1) * C + c];
    }
    coef[c] = eval ? A(0) : static_cast<A>(s1 / m);
    coef[C + c] = eval ? A(0) : static_cast<A>(s2 / m);
    acc_beta[c] += s1;
    acc_gamma[c] += s2;
  }
}

template <typename T, typename A = Accum<T>>
__global__ void bn_dx_kernel(const T* dy, const T* x, T* dx, int64_t total, int64_t C, const A* mean,
                             const A* invstd, const A* gamma, const A* beta, const A* coef, BnAct act) {
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    const int64_t c = channel_of(i, C);
    const A is = invstd[c];
    const A xhat = (to_accum(x[i]) - mean[c]) * is;
    const A g = bn_act_backward<BnMath>(act, xhat * gamma[c] + beta[c], to_accum(dy[i]));
    dx[i] = from_accum<T>((gamma[c] * is) * (g - coef[c] - xhat * coef[C + c]));
  }
}

// The same on packs (C a multiple of Pack<T>::kLen, 16-byte aligned segment bases).
template <typename T, typename A = Accum<T>>
__global__ void bn_dx_pack_kernel(const Pack<T>* dy, const Pack<T>* x, Pack<T>* dx, int64_t packs, int64_t C,
                                  const A* mean, const A* invstd, const A* gamma, const A* beta, const A* coef,
                                  BnAct act) {
  constexpr int K = Pack<T>::kLen;
  for (int64_t i = grid_start(); i < packs; i += grid_step()) {
    const int64_t c0 = channel_of(i * K, C);
    const Pack<T> xv = x[i], gv = dy[i];
    Pack<T> r;
#pragma unroll
    for (int j = 0; j < K; ++j) {
      const int64_t c = c0 + j;
      const A is = invstd[c];
      const A xhat = (to_accum(xv.v[j]) - mean[c]) * is;
      const A g = bn_act_backward<BnMath>(act, xhat * gamma[c] + beta[c], to_accum(gv.v[j]));
      r.v[j] = from_accum<T>((gamma[c] * is) * (g - coef[c] - xhat * coef[C + c]));
    }
    dx[i] = r;
  }
}

__global__ void bn_zero_kernel(double* p, int64_t n) {
  for (int64_t i = grid_start(); i < n; i += grid_step()) p[i] = 0;
}

template <typename T>
__global__ void bn_cast_kernel(const double* src, T* dst, int64_t n) {
  for (int64_t i = grid_start(); i < n; i += grid_step())
    dst[i] = static_cast<T>(src[i]);
}

// ---- launches ----------------------------------------------------------------------------------

struct Split {
  int64_t chunk, nchunks;
  dim3 grid;
};

// Row chunks of at least kMinChunkRows, at most kMaxChunks of them: depends only on the shape.
Split split_rows(const char* op, int64_t rows, int64_t C) {
  int64_t n = std::min<int64_t>(kMaxChunks, (rows + kMinChunkRows - 1) / kMinChunkRows);
  if (n < 1) n = 1;
  const int64_t chunk = (rows + n - 1) / n;
  n = (rows + chunk - 1) / chunk;
  const int64_t ctiles = std::max<int64_t>(1, (C + kTileC - 1) / kTileC);
  // One block column per tile of channels: grid x's limit, of this launch and not of the op.
  if (ctiles > 2147483647) fail(ErrorCode::Shape, std::string(op) + ": too many channels on CUDA");
  return Split{chunk, n, dim3(static_cast<unsigned>(ctiles), static_cast<unsigned>(n))};
}

int64_t max_chunks(const BnArgs& a) {
  int64_t most = 1;
  for (const BnSegment& s : a.segments) most = std::max(most, split_rows("", s.count * a.h * a.w, a.c).nchunks);
  return most;
}

template <typename T, typename A = Accum<T>>
void forward_typed(const BnArgs& a, const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& rmean,
                   Tensor& rvar, Tensor& y, Tensor& mean, Tensor& invstd) {
  const char* op = "multi_batch_norm_forward";
  cudaStream_t st = stream_of(y);
  const int64_t C = a.c, hw = a.h * a.w;
  const BnAct act = a.act;
  Tensor partial;
  if (a.mode != BnMode::eval) partial = Tensor::empty({max_chunks(a) * 2 * std::max<int64_t>(C, 1)}, DType::f64, y.device());
  const T* px = x.data_as<T>();
  const A *pg = gamma.data_as<A>(), *pb = beta.data_as<A>();
  A *prm = rmean.data_as<A>(), *prv = rvar.data_as<A>();
  T* py = y.data_as<T>();
  for (size_t s = 0; s < a.segments.size(); ++s) {
    const BnSegment& seg = a.segments[s];
    const int64_t rows = seg.count * hw, off = seg.start * hw * C, d = seg.domain;
    A* ms = mean.data_as<A>() + s * C;
    A* is = invstd.data_as<A>() + s * C;
    if (a.mode == BnMode::eval) {
      ADVPROP_LAUNCH((bn_eval_stats_kernel<A>), grid_for(C, kThreads), kThreads, 0, st)(prm + d * C, prv + d * C, C, ms,
                                                                                       is, a.eps);
    } else {
      const Split sp = split_rows(op, rows, C);
      ADVPROP_LAUNCH((bn_partial_kernel<T>), sp.grid, dim3(kTileC, kLanes), 0, st)(px + off, rows, C, sp.chunk,
                                                                                   partial.data_as<double>());
      ADVPROP_LAUNCH((bn_stats_kernel<T>), grid_for(C, kThreads), kThreads, 0, st)(
          static_cast<const double*>(partial.data_as<double>()), sp.nchunks, px + off, rows, C, ms, is, prm + d * C,
          prv + d * C, a.mode == BnMode::train ? 1 : 0, a.momentum, a.eps);
    }
    const int64_t total = rows * C;
    constexpr int K = Pack<T>::kLen;
    if (C % K == 0 && aligned16(px + off) && aligned16(py + off)) {
      ADVPROP_LAUNCH((bn_apply_pack_kernel<T>), grid_for(total / K, kThreads), kThreads, 0, st)(
          reinterpret_cast<const Pack<T>*>(px + off), reinterpret_cast<Pack<T>*>(py + off), total / K, C,
          static_cast<const A*>(ms), static_cast<const A*>(is), pg + d * C, pb + d * C, act);
      continue;
    }
    ADVPROP_LAUNCH((bn_apply_kernel<T>), grid_for(total, kThreads), kThreads, 0, st)(
        px + off, py + off, total, C, static_cast<const A*>(ms), static_cast<const A*>(is), pg + d * C, pb + d * C,
        act);
  }
}

template <typename T, typename A = Accum<T>>
void backward_typed(const BnArgs& a, const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    const Tensor& mean, const Tensor& invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const char* op = "multi_batch_norm_backward";
  cudaStream_t st = stream_of(dx);
  const int64_t C = a.c, hw = a.h * a.w, KC = a.k * C;
  const BnAct act = a.act;
  const int64_t cc = std::max<int64_t>(C, 1);
  Tensor partial = Tensor::empty({max_chunks(a) * 2 * cc}, DType::f64, dx.device());
  // [dbeta | dgamma] accumulators for all domains; this segment's two dx coefficients per channel.
  Tensor work = Tensor::empty({2 * std::max<int64_t>(KC, 1)}, DType::f64, dx.device());
  Tensor coef_t = Tensor::empty({2 * cc}, dgamma.dtype(), dx.device());
  double* acc = work.data_as<double>();
  double* acc_beta = acc;
  double* acc_gamma = acc + KC;
  A* coef = coef_t.data_as<A>();
  ADVPROP_LAUNCH(bn_zero_kernel, grid_for(work.numel(), kThreads), kThreads, 0, st)(acc, work.numel());
  const T *pdy = dy.data_as<T>(), *px = x.data_as<T>();
  const A *pg = gamma.data_as<A>(), *pb = beta.data_as<A>();
  T* pdx = dx.data_as<T>();
  for (size_t s = 0; s < a.segments.size(); ++s) {
    const BnSegment& seg = a.segments[s];
    const int64_t rows = seg.count * hw, off = seg.start * hw * C, d = seg.domain;
    const A* ms = mean.data_as<A>() + s * C;
    const A* is = invstd.data_as<A>() + s * C;
    const Split sp = split_rows(op, rows, C);
    ADVPROP_LAUNCH((bn_grad_partial_kernel<T>), sp.grid, dim3(kTileC, kLanes), 0, st)(
        pdy + off, px + off, rows, C, sp.chunk, ms, is, pg + d * C, pb + d * C, act, partial.data_as<double>());
    ADVPROP_LAUNCH((bn_grad_sums_kernel<A>), grid_for(C, kThreads), kThreads, 0, st)(
        static_cast<const double*>(partial.data_as<double>()), sp.nchunks, C, static_cast<double>(rows),
        a.mode == BnMode::eval ? 1 : 0, coef, acc_beta + d * C, acc_gamma + d * C);
    const int64_t total = rows * C;
    constexpr int K = Pack<T>::kLen;
    if (C % K == 0 && aligned16(pdy + off) && aligned16(px + off) && aligned16(pdx + off)) {
      ADVPROP_LAUNCH((bn_dx_pack_kernel<T>), grid_for(total / K, kThreads), kThreads, 0, st)(
          reinterpret_cast<const Pack<T>*>(pdy + off), reinterpret_cast<const Pack<T>*>(px + off),
          reinterpret_cast<Pack<T>*>(pdx + off), total / K, C, ms, is, pg + d * C, pb + d * C,
          static_cast<const A*>(coef), act);
      continue;
    }
    ADVPROP_LAUNCH((bn_dx_kernel<T>), grid_for(total, kThreads), kThreads, 0, st)(
        pdy + off, px + off, pdx + off, total, C, ms, is, pg + d * C, pb + d * C, static_cast<const A*>(coef), act);
  }
  if (KC > 0) {
    ADVPROP_LAUNCH((bn_cast_kernel<A>), grid_for(KC, kThreads), kThreads, 0, st)(
        static_cast<const double*>(acc_beta), dbeta.data_as<A>(), KC);
    ADVPROP_LAUNCH((bn_cast_kernel<A>), grid_for(KC, kThreads), kThreads, 0, st)(
        static_cast<const double*>(acc_gamma), dgamma.data_as<A>(), KC);
  }
}

}  // namespace

void multi_batch_norm_forward(const BnArgs& a, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              Tensor& running_mean, Tensor& running_var, Tensor& y, Tensor& mean, Tensor& invstd) {
  const char* op = "multi_batch_norm_forward";
  ADVPROP_ASSERT(bn_args_hold(op, a, x, {&x, &y}, {&gamma, &beta, &running_mean, &running_var}, {&mean, &invstd}));
  if (a.c == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    forward_typed<decltype(t)>(a, x, gamma, beta, running_mean, running_var, y, mean, invstd);
  });
}

void multi_batch_norm_backward(const BnArgs& a, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& beta, const Tensor& mean, const Tensor& invstd, Tensor& dx,
                               Tensor& dgamma, Tensor& dbeta) {
  const char* op = "multi_batch_norm_backward";
  ADVPROP_ASSERT(bn_args_hold(op, a, x, {&dy, &x, &dx}, {&gamma, &beta, &dgamma, &dbeta}, {&mean, &invstd}));
  if (a.c == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) { backward_typed<decltype(t)>(a, dy, x, gamma, beta, mean, invstd, dx, dgamma, dbeta); });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
