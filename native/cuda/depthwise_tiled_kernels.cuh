// Tiled depthwise kernels for the shapes of EfficientNet and MobileNet: square kernels of 3 or 5
// taps, stride 1 or 2 in both directions, no dilation, padding less than the kernel (TF "same",
// uneven at stride 2, or "valid"), and tensors whose element indices fit in 32 bits. Every other
// call takes depthwise.cu's generic kernels (depthwise_tiled.cuh: these return false for it).
//
// Why: the generic kernels (one thread per output, 64-bit index arithmetic, every tap read from
// global memory) ran at 2.2x cuDNN's time over EfficientNet-B0 and 3-5x on the 112^2 and 56^2
// layers. Here a block of 256 threads owns a tile of 8 rows x 16 (stride 1) or 8 (stride 2)
// outputs of one image and a group of 8 channel vectors; it stages the tile's input with its halo
// ((tile - 1) * stride + k pixels a side) and the group's weights (in f32) in shared memory once,
// with 16-byte vector loads (4 x f32, 8 x bf16/f16) where C is a multiple of the vector and the
// tensors are aligned (else one channel per vector), and each thread computes 4 (stride 1) or 2
// (stride 2) outputs along W for its vector, walking the input columns they share once. Indices
// are 32-bit.
//
// Numerics are those of the generic kernels: each output starts from 0 and adds x * w over the
// taps inside the image in (ky, kx) order (taps outside are skipped, not multiplied by a zero
// halo, so an inf weight next to the border gives what the cpu gives), then the bias, then the
// epilogue (f32, f64); bf16/f16 compute in f32 and round once on the store. The input gradient is
// the same gather as before, from a dy tile.
//
// Weight gradient: the output tiles (over every image) are split into chunks that depend only on
// the shape (about kWeightBlocks blocks with 32-channel groups counted whatever the dtype, so bf16
// and f16 sum as the f32 kernel sums their widened values); a block walks its chunk's tiles in
// order, staging x and dy tiles, each thread summing one tap of one channel vector over a fixed
// subset of the tile's rows; the subsets meet in a fixed order into a partial [chunk, tap, C] in
// f32 (f64 for f64); a second kernel sums the chunks in a fixed order (lanes in chunk order, then
// lane_sum's tree). The result depends only on the shape, never on timing.
//
// Files: depthwise_tiles.cuh (geometry, vectors, staging, which calls are served), this file
// (forward, input gradient), depthwise_tiled_weight.cuh (weight gradient).
#pragma once
#include "common.cuh"

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "advprop/conv.h"
#include "advprop/epilogue.h"
#include "depthwise_tiled.cuh"
#include "depthwise_tiles.cuh"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

using namespace dw_tiles;

// ---- kernels: grid (tiles, channel groups), kBlock threads: vector v = tid % kVecs, then the
// thread column and row of the tile ------------------------------------------------------------

template <typename T, int V, int K, int S, typename A = Accum<T>>
__global__ void __launch_bounds__(kBlock)
    dwt_forward_kernel(const T* x, const T* w, const T* bias, T* y, Dw32 p, EpilogueView<T> epi) {
  using G = Geo<K, S>;
  using M = Smem<T, V, K, S>;
  constexpr int CB = M::CB;
  ADVPROP_DYNAMIC_SMEM(unsigned char, smem);
  A* ws = reinterpret_cast<A*>(smem);
  T* xs = reinterpret_cast<T*>(smem + M::W);
  int t = blockIdx.x;
  const int ow0 = t % p.tiles_w * G::TW;
  t /= p.tiles_w;
  const int oh0 = t % p.tiles_h * G::TH, n = t / p.tiles_h;
  const int cbase = blockIdx.y * CB, cb = min(CB, p.c - cbase);
  const int ih0 = oh0 * S - p.pt, iw0 = ow0 * S - p.pl;
  load_weights<T, K, CB>(ws, w, cbase, cb);
  load_tile<T, V>(xs, x, n, p.h, p.w, p.c, ih0, iw0, G::IR, G::IC, cbase, cb);
  __syncthreads();
  const int c = threadIdx.x % kVecs * V, r = threadIdx.x / kVecs / kCols, col = threadIdx.x / kVecs % kCols;
  const int oh = oh0 + r, ow = ow0 + col * G::PW;
  if (c >= cb || oh >= p.oh || ow >= p.ow) return;
  A acc[G::PW][V] = {};
  const int iw_first = iw0 + col * G::PW * S;
  for (int ky = 0; ky < K; ++ky) {
    const int ih = ih0 + r * S + ky;
    if (ih < 0 || ih >= p.h) continue;
    A wv[K][V];
#pragma unroll
    for (int q = 0; q < K; ++q)
#pragma unroll
      for (int j = 0; j < V; ++j) wv[q][j] = ws[(ky * K + q) * CB + c + j];
    const T* row = xs + ((r * S + ky) * G::IC + col * G::PW * S) * CB + c;
    // Input column i feeds output u through tap q = i - u * S: ascending i keeps each output's
    // taps in ascending kx.
#pragma unroll
    for (int i = 0; i < G::SPAN; ++i) {
      const int iw = iw_first + i;
      if (iw < 0 || iw >= p.w) continue;
      A v[V];
      load_vec<T, V>(row + i * CB, v);
#pragma unroll
      for (int u = 0; u < G::PW; ++u) {
        const int q = i - u * S;
        if (q < 0 || q >= K) continue;
#pragma unroll
        for (int j = 0; j < V; ++j) acc[u][j] += v[j] * wv[q][j];
      }
    }
  }
#pragma unroll
  for (int u = 0; u < G::PW; ++u) {
    if (ow + u >= p.ow) break;
    const int pix = (n * p.oh + oh) * p.ow + ow + u;
    A out[V];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      A a = acc[u][j];
      if (bias) a += to_accum(bias[cbase + c + j]);
      if constexpr (std::is_same_v<T, A>) {
        if (epi.mean) a = epilogue_value<BnMath>(epi, a, pix, cbase + c + j);
      }
      out[j] = a;
    }
    store_vec<T, V>(y + pix * p.c + cbase + c, out);
  }
}

// dx tile: the output-gradient pixels that read it start at ceil((first + pad - (K - 1)) / S).
template <typename T, int V, int K, int S, typename A = Accum<T>>
__global__ void __launch_bounds__(kBlock) dwt_backward_input_kernel(const T* dy, const T* w, T* dx, Dw32 p) {
  using G = Geo<K, S>;
  using M = Smem<T, V, K, S>;
  constexpr int CB = M::CB;
  ADVPROP_DYNAMIC_SMEM(unsigned char, smem);
  A* ws = reinterpret_cast<A*>(smem);
  T* gs = reinterpret_cast<T*>(smem + M::W);
  int t = blockIdx.x;
  const int iw0 = t % p.tiles_w * G::TW;
  t /= p.tiles_w;
  const int ih0 = t % p.tiles_h * G::TH, n = t / p.tiles_h;
  const int cbase = blockIdx.y * CB, cb = min(CB, p.c - cbase);
  const int oh_lo = ceil_div(ih0 + p.pt - (K - 1), S), ow_lo = ceil_div(iw0 + p.pl - (K - 1), S);
  load_weights<T, K, CB>(ws, w, cbase, cb);
  load_tile<T, V>(gs, dy, n, p.oh, p.ow, p.c, oh_lo, ow_lo, G::GR, G::GC, cbase, cb);
  __syncthreads();
  const int c = threadIdx.x % kVecs * V, r = threadIdx.x / kVecs / kCols, col = threadIdx.x / kVecs % kCols;
  const int ih = ih0 + r, iw = iw0 + col * G::PW;
  if (c >= cb || ih >= p.h || iw >= p.w) return;
  A acc[G::PW][V] = {};
  for (int ky = 0; ky < K; ++ky) {
    const int num = ih + p.pt - ky;
    if (num < 0 || num % S != 0 || num / S >= p.oh) continue;
    const T* row = gs + (num / S - oh_lo) * G::GC * CB + c;
#pragma unroll
    for (int kx = 0; kx < K; ++kx) {
      A wv[V];
#pragma unroll
      for (int j = 0; j < V; ++j) wv[j] = ws[(ky * K + kx) * CB + c + j];
#pragma unroll
      for (int u = 0; u < G::PW; ++u) {
        const int numw = iw + u + p.pl - kx;
        if (numw < 0 || numw % S != 0 || numw / S >= p.ow) continue;
        A v[V];
        load_vec<T, V>(row + (numw / S - ow_lo) * CB, v);
#pragma unroll
        for (int j = 0; j < V; ++j) acc[u][j] += v[j] * wv[j];
      }
    }
  }
#pragma unroll
  for (int u = 0; u < G::PW; ++u) {
    if (iw + u >= p.w) break;
    store_vec<T, V>(dx + ((n * p.h + ih) * p.w + iw + u) * p.c + cbase + c, acc[u]);
  }
}

template <typename T, int V, int K, int S>
void forward_tiled(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                   const Epilogue* epi) {
  using M = Smem<T, V, K, S>;
  static std::atomic<uint64_t> done{0};
  cudaStream_t s = stream_of(y);
  allow_smem(dwt_forward_kernel<T, V, K, S>, M::FWD, y.device().index, done);
  const Dw32 q = dw32<K, S>(p, p.out_h, p.out_w);
  const dim3 grid(static_cast<unsigned>(p.n * q.tiles_h * q.tiles_w), static_cast<unsigned>((p.c_in + M::CB - 1) / M::CB));
  ADVPROP_LAUNCH((dwt_forward_kernel<T, V, K, S>), grid, kBlock, M::FWD, s)(
      x.data_as<T>(), w.data_as<T>(), bias ? bias->data_as<T>() : static_cast<const T*>(nullptr), y.data_as<T>(), q,
      std::is_same_v<T, Accum<T>> ? epilogue_view<T>(epi, p.c_out, p.c_out) : EpilogueView<T>{});
}

template <typename T, int V, int K, int S>
void backward_input_tiled(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  using M = Smem<T, V, K, S>;
  static std::atomic<uint64_t> done{0};
  cudaStream_t s = stream_of(dx);
  allow_smem(dwt_backward_input_kernel<T, V, K, S>, M::BWD, dx.device().index, done);
  const Dw32 q = dw32<K, S>(p, p.h, p.w);
  const dim3 grid(static_cast<unsigned>(p.n * q.tiles_h * q.tiles_w), static_cast<unsigned>((p.c_in + M::CB - 1) / M::CB));
  ADVPROP_LAUNCH((dwt_backward_input_kernel<T, V, K, S>), grid, kBlock, M::BWD, s)(dy.data_as<T>(), w.data_as<T>(),
                                                                                   dx.data_as<T>(), q);
}

}  // namespace


bool depthwise_tiled_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                             const Epilogue* epi) {
  if (!tiled_shape(p)) return false;
  dispatch_dtype<MixedFloatTypes>(y.dtype(), "depthwise_forward", [&](auto t) {
    using T = decltype(t);
    with_tile<T>(p, vectors_fit<T>(p.c_in, {&x, &y}), [&](auto v, auto k, auto s) {
      forward_tiled<T, decltype(v)::value, decltype(k)::value, decltype(s)::value>(p, x, w, bias, y, epi);
    });
  });
  return true;
}

bool depthwise_tiled_backward_input(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  if (!tiled_shape(p)) return false;
  dispatch_dtype<MixedFloatTypes>(dx.dtype(), "depthwise_backward_input", [&](auto t) {
    using T = decltype(t);
    with_tile<T>(p, vectors_fit<T>(p.c_in, {&dy, &dx}), [&](auto v, auto k, auto s) {
      backward_input_tiled<T, decltype(v)::value, decltype(k)::value, decltype(s)::value>(p, dy, w, dx);
    });
  });
  return true;
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
