// The tiled depthwise weight gradient (the design: depthwise_tiled_kernels.cuh's header; the shared parts:
// depthwise_tiles.cuh). Two kernels: chunks of output tiles into partials [chunk, tap, C] in
// Accum<T>, then the chunks summed in a fixed order. The chunks depend only on the shape.
#pragma once
#include "common.cuh"

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "advprop/conv.h"
#include "depthwise_tiled.cuh"
#include "depthwise_tiles.cuh"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

using namespace dw_tiles;

constexpr int64_t kWeightBlocks = 512;          // weight gradient: about this many blocks
constexpr int64_t kChannelUnit = 32;            // ... counting channels in groups of 32

// grid (chunks, channel groups): partial[(chunk * taps + tap) * C + c] = the sum of dy * x over the
// chunk's y tiles [blockIdx.x * chunk, + chunk) in order. Thread lane l (tid / kVecs) < taps * GROUPS
// sums tap l % taps over the tile rows r = l / taps (mod GROUPS); the GROUPS sums meet in order.
template <typename T, int V, int K, int S, typename A = Accum<T>>
__global__ void __launch_bounds__(kBlock)
    dwt_weight_partial_kernel(const T* x, const T* dy, A* partial, Dw32 p, int chunk, int tiles) {
  using G = Geo<K, S>;
  using M = Smem<T, V, K, S>;
  constexpr int CB = M::CB;
  ADVPROP_DYNAMIC_SMEM(unsigned char, smem);
  T* xs = reinterpret_cast<T*>(smem);
  T* gs = reinterpret_cast<T*>(smem + M::XS);
  const int cbase = blockIdx.y * CB, cb = min(CB, p.c - cbase);
  const int c = threadIdx.x % kVecs * V, lane = threadIdx.x / kVecs;
  const int tap = lane % G::TAPS, group = lane / G::TAPS, ky = tap / K, kx = tap % K;
  const bool active = lane < G::TAPS * G::GROUPS && c < cb;
  A acc[V] = {};
  const int t_end = min((static_cast<int>(blockIdx.x) + 1) * chunk, tiles);
  for (int t = static_cast<int>(blockIdx.x) * chunk; t < t_end; ++t) {
    const int ow0 = t % p.tiles_w * G::TW, rest = t / p.tiles_w;
    const int oh0 = rest % p.tiles_h * G::TH, n = rest / p.tiles_h;
    const int ih0 = oh0 * S - p.pt, iw0 = ow0 * S - p.pl;
    __syncthreads();  // the previous tile's readers are done
    load_tile<T, V>(xs, x, n, p.h, p.w, p.c, ih0, iw0, G::IR, G::IC, cbase, cb);
    load_tile<T, V>(gs, dy, n, p.oh, p.ow, p.c, oh0, ow0, G::TH, G::TW, cbase, cb);
    __syncthreads();
    if (!active) continue;
    const int rows = min(G::TH, p.oh - oh0), cols = min(G::TW, p.ow - ow0);
    for (int r = group; r < rows; r += G::GROUPS) {
      const int ih = ih0 + r * S + ky;
      if (ih < 0 || ih >= p.h) continue;
      for (int col = 0; col < cols; ++col) {
        const int iw = iw0 + col * S + kx;
        if (iw < 0 || iw >= p.w) continue;
        A g[V], v[V];
        load_vec<T, V>(gs + (r * G::TW + col) * CB + c, g);
        load_vec<T, V>(xs + ((r * S + ky) * G::IC + col * S + kx) * CB + c, v);
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] += g[j] * v[j];
      }
    }
  }
  if constexpr (G::GROUPS > 1) {
    A* red = reinterpret_cast<A*>(smem + M::XS + M::GS);  // [GROUPS][taps][CB]
    if (active)
#pragma unroll
      for (int j = 0; j < V; ++j) red[(group * G::TAPS + tap) * CB + c + j] = acc[j];
    __syncthreads();
    if (!active || group != 0) return;
    for (int k = 1; k < G::GROUPS; ++k)
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += red[(k * G::TAPS + tap) * CB + c + j];
  } else if (!active) {
    return;
  }
#pragma unroll
  for (int j = 0; j < V; ++j) partial[(static_cast<int>(blockIdx.x) * G::TAPS + tap) * p.c + cbase + c + j] = acc[j];
}

// grid (ceil(C / kTileC), taps), block (kTileC, kLanes): dw[c, tap] = the chunks' partials, lane l
// summing chunks l, l + kLanes, ... in order, the lanes meeting in lane_sum's fixed tree.
template <typename T, typename A = Accum<T>>
__global__ void dwt_weight_finish_kernel(const A* partial, T* dw, int c_count, int taps, int nchunks) {
  __shared__ A sums[kLanes][kTileC];
  const int c = blockIdx.x * kTileC + threadIdx.x, tap = blockIdx.y;
  A acc = A(0);
  if (c < c_count)
    for (int k = threadIdx.y; k < nchunks; k += kLanes) acc += partial[(k * taps + tap) * c_count + c];
  const A sum = lane_sum(sums, acc);
  if (threadIdx.y == 0 && c < c_count) dw[c * taps + tap] = from_accum<T>(sum);
}

// Chunks of y tiles for the weight gradient: about kWeightBlocks blocks of kChannelUnit channels.
struct WeightChunks {
  int64_t tiles, chunk, count;
};
template <int K, int S>
WeightChunks weight_chunks(const Conv2dParams& p) {
  const Dw32 q = dw32<K, S>(p, p.out_h, p.out_w);
  const int64_t tiles = p.n * q.tiles_h * q.tiles_w, units = (p.c_in + kChannelUnit - 1) / kChannelUnit;
  const int64_t want = std::min(tiles, std::max<int64_t>(1, (kWeightBlocks + units - 1) / units));
  const int64_t chunk = (tiles + want - 1) / want;
  return WeightChunks{tiles, chunk, (tiles + chunk - 1) / chunk};
}

template <typename T, int V, int K, int S, typename A = Accum<T>>
void backward_weight_tiled(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw) {
  using M = Smem<T, V, K, S>;
  static std::atomic<uint64_t> done{0};
  cudaStream_t s = stream_of(dw);
  allow_smem(dwt_weight_partial_kernel<T, V, K, S>, M::WGT, dw.device().index, done);
  const Dw32 q = dw32<K, S>(p, p.out_h, p.out_w);
  const WeightChunks wc = weight_chunks<K, S>(p);
  const int taps = K * K;
  Tensor partial = Tensor::empty({wc.count * taps * p.c_in}, accum_dtype(dw.dtype()), dw.device());
  const dim3 grid(static_cast<unsigned>(wc.count), static_cast<unsigned>((p.c_in + M::CB - 1) / M::CB));
  ADVPROP_LAUNCH((dwt_weight_partial_kernel<T, V, K, S>), grid, kBlock, M::WGT, s)(
      x.data_as<T>(), dy.data_as<T>(), partial.data_as<A>(), q, static_cast<int>(wc.chunk), static_cast<int>(wc.tiles));
  const dim3 fgrid(static_cast<unsigned>((p.c_in + kTileC - 1) / kTileC), static_cast<unsigned>(taps));
  ADVPROP_LAUNCH((dwt_weight_finish_kernel<T>), fgrid, dim3(kTileC, kLanes), 0, s)(
      static_cast<const A*>(partial.data_as<A>()), dw.data_as<T>(), q.c, taps, static_cast<int>(wc.count));
}

}  // namespace

bool depthwise_tiled_backward_weight(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw) {
  if (!tiled_shape(p)) return false;
  // The partial buffer's indices are 32-bit too (at most kWeightBlocks chunks).
  int64_t count = 0;
  with_tile<float>(p, false, [&](auto, auto k, auto s) { count = weight_chunks<decltype(k)::value, decltype(s)::value>(p).count; });
  if (count * p.kh * p.kw * p.c_in > kInt32Max) return false;
  dispatch_dtype<MixedFloatTypes>(dw.dtype(), "depthwise_backward_weight", [&](auto t) {
    using T = decltype(t);
    with_tile<T>(p, vectors_fit<T>(p.c_in, {&x, &dy}), [&](auto v, auto k, auto s) {
      backward_weight_tiled<T, decltype(v)::value, decltype(k)::value, decltype(s)::value>(p, x, dy, dw);
    });
  });
  return true;
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
