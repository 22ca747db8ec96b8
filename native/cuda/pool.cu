// Global average pooling and channel scale on CUDA (contract: advprop/pool.h; reference:
// native/cpu/pool.cc).
//
// Spatial sums (pool forward, the scale's ds, with its dx in the same pass): a block of 32 channels x 8 lanes handles one
// (channel tile, sample, chunk of H*W positions); a warp reads 32 consecutive channels of one
// position (coalesced), each lane strides through the chunk, and the 8 lane sums meet in a fixed
// shared-memory tree. When H*W is split into several chunks (so that small batches still fill
// the device), a second pass adds the chunk partials in chunk order. The split depends only on
// the shape: deterministic, no float atomics.
// Broadcasts (pool backward, scale forward, the scale's dx): one element per thread in a
// grid-stride loop, a 16-byte pack (4 f32, 8 bf16/f16, 2 f64: common.cuh) when C is a multiple
// of the pack and the pointers are 16-byte aligned, and
// 32-bit index arithmetic when the tensor is small enough (64-bit division costs more than the
// memory access here). The scale-add (squeeze-excite's input gradient) is a broadcast of the
// same shape with a second [N, C] operand; it rounds the product before the add, as the CPU
// does, instead of letting nvcc contract the two into an FMA.
// bf16 and f16: elements widened to f32, sums and chunk partials in f32 (Accum<T>), every store
// rounded once to T, as on the cpu.
#include "common.cuh"

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "advprop/device.h"
#include "advprop/pool.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kTargetBlocks = 1024;  // enough blocks to fill the largest GPUs several times
constexpr int64_t kMinChunk = 32;        // positions per chunk, at least

// grid (ceil(C / kTileC), N, nchunks), block (kTileC, kLanes).
// dst[(n * nchunks + chunk) * C + c] = scale * sum over the chunk's positions of a * (b or 1);
// with dx non-null also dx = a * s[n, c] at every position read (the channel scale's backward
// then reads dy once for both of its gradients).
// dst is T, or Accum<T> for the chunk partials (D). The products below are single roundings in
// Accum<T> before an add, which nvcc may contract into FMAs: as before, the sums agree with the
// cpu's within rounding, not bit for bit.
template <typename T, typename D>
__global__ void pool_sum_kernel(const T* a, const T* b, D* dst, int64_t P, int64_t C, int64_t chunk, Accum<T> scale,
                                const T* s, T* dx) {
  using A = Accum<T>;
  __shared__ A sums[kLanes][kTileC];
  const auto [c, begin, end] = channel_tile(blockIdx.z, chunk, P);
  const int64_t n = blockIdx.y;
  A acc = A(0);
  if (c < C) {
    const int64_t base = n * P * C + c;
    if (dx) {
      const A sv = to_accum(s[n * C + c]);
      for (int64_t p = begin + threadIdx.y; p < end; p += kLanes) {
        const A av = to_accum(a[base + p * C]);
        acc += av * to_accum(b[base + p * C]);
        dx[base + p * C] = from_accum<T>(av * sv);
      }
    } else if (b) {
      for (int64_t p = begin + threadIdx.y; p < end; p += kLanes)
        acc += to_accum(a[base + p * C]) * to_accum(b[base + p * C]);
    } else {
      for (int64_t p = begin + threadIdx.y; p < end; p += kLanes) acc += to_accum(a[base + p * C]);
    }
  }
  const A sum = lane_sum(sums, acc);
  if (threadIdx.y == 0 && c < C)
    dst[(n * static_cast<int64_t>(gridDim.z) + blockIdx.z) * C + c] = from_accum<D>(sum * scale);
}

// out[n, c] = scale * sum over chunks in order of partial[n, chunk, c] (Accum<T>).
template <typename T>
__global__ void pool_finish_kernel(const Accum<T>* partial, T* out, int64_t N, int64_t C, int64_t nchunks,
                                   Accum<T> scale) {
  const int64_t total = N * C;
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    const int64_t n = i / C, c = i % C;
    Accum<T> acc = 0;
    for (int64_t k = 0; k < nchunks; ++k) acc += partial[(n * nchunks + k) * C + c];
    out[i] = from_accum<T>(acc * scale);
  }
}

// out[i] = (a ? a[i] : 1) * s[n, c] * scale over out [N, P, C]; PC = P * C.
template <typename T, typename I>
__global__ void pool_bcast_kernel(const T* a, const T* s, T* out, I total, I PC, I C, Accum<T> scale) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Accum<T> sv = to_accum(s[(i / PC) * C + i % C]);
    out[i] = from_accum<T>(a ? to_accum(a[i]) * sv * scale : sv * scale);
  }
}

// The same on packs: packs = total / K, C % K == 0 (so a pack never straddles two samples), K = Pack<T>::kLen.
template <typename T, typename I>
__global__ void pool_bcast_pack_kernel(const Pack<T>* a, const T* s, Pack<T>* out, I packs, I PC, I C, Accum<T> scale) {
  constexpr int K = Pack<T>::kLen;
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < packs; i += stride) {
    const I e = i * K;
    const Pack<T> sv = *reinterpret_cast<const Pack<T>*>(s + (e / PC) * C + e % C);
    Pack<T> r;
    if (a) {
      const Pack<T> x = a[i];
#pragma unroll
      for (int j = 0; j < K; ++j) r.v[j] = from_accum<T>(to_accum(x.v[j]) * to_accum(sv.v[j]) * scale);
    } else {
#pragma unroll
      for (int j = 0; j < K; ++j) r.v[j] = from_accum<T>(to_accum(sv.v[j]) * scale);
    }
    out[i] = r;
  }
}

// out[i] = a[i] * s[n, c] + b[n, c] over out [N, P, C]; PC = P * C.
template <typename T, typename I>
__global__ void pool_scale_add_kernel(const T* a, const T* s, const T* b, T* out, I total, I PC, I C) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const I nc = (i / PC) * C + i % C;
    out[i] = mul_store_add(a[i], to_accum(s[nc]), b[nc]);
  }
}

// The same on packs (packs = total / K, C % K == 0).
template <typename T, typename I>
__global__ void pool_scale_add_pack_kernel(const Pack<T>* a, const T* s, const T* b, Pack<T>* out, I packs, I PC, I C) {
  constexpr int K = Pack<T>::kLen;
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < packs; i += stride) {
    const I e = i * K, nc = (e / PC) * C + e % C;
    const Pack<T> sv = *reinterpret_cast<const Pack<T>*>(s + nc), bv = *reinterpret_cast<const Pack<T>*>(b + nc);
    const Pack<T> x = a[i];
    Pack<T> r;
#pragma unroll
    for (int j = 0; j < K; ++j) r.v[j] = mul_store_add(x.v[j], to_accum(sv.v[j]), bv.v[j]);
    out[i] = r;
  }
}

// out[n, c] = scale * sum_p a[n, p, c] * (b ? b[n, p, c] : 1); with dx (b and s non-null too)
// also dx[n, p, c] = a[n, p, c] * s[n, c].
template <typename T>
void spatial_sum(const T* a, const T* b, Accum<T> scale, T* out, int64_t N, int64_t P, int64_t C, const Device& dev,
                 const T* s = nullptr, T* dx = nullptr) {
  using A = Accum<T>;
  cudaStream_t st = stream_for(dev.index);
  // The batch is this launch's grid y, which CUDA caps at 65535: a limit of the launch, not of the op.
  if (N > 65535) fail(ErrorCode::Shape, "global pool: batch " + std::to_string(N) + " exceeds 65535 on CUDA");
  const int64_t ctiles = (C + kTileC - 1) / kTileC;
  // Split H*W only as far as needed to reach kTargetBlocks blocks, and never below kMinChunk
  // positions a chunk: a function of the shape alone.
  const int64_t want = std::max<int64_t>(1, kTargetBlocks / std::max<int64_t>(1, ctiles * N));
  int64_t nchunks = std::max<int64_t>(1, std::min<int64_t>(want, (P + kMinChunk - 1) / kMinChunk));
  const int64_t chunk = std::max<int64_t>(1, (P + nchunks - 1) / nchunks);
  nchunks = std::max<int64_t>(1, (P + chunk - 1) / chunk);
  dim3 grid(static_cast<unsigned>(ctiles), static_cast<unsigned>(N), static_cast<unsigned>(nchunks));
  dim3 block(kTileC, kLanes);
  if (nchunks == 1) {
    ADVPROP_LAUNCH((pool_sum_kernel<T, T>), grid, block, 0, st)(a, b, out, P, C, chunk, scale, s, dx);
    return;
  }
  Tensor partial = Tensor::empty({N * nchunks * C}, DTypeOf<A>::value, dev);
  ADVPROP_LAUNCH((pool_sum_kernel<T, A>), grid, block, 0, st)(a, b, partial.data_as<A>(), P, C, chunk, A(1), s, dx);
  ADVPROP_LAUNCH((pool_finish_kernel<T>), grid_for(N * C, kThreads), kThreads, 0, st)(
      static_cast<const A*>(partial.data_as<A>()), out, N, C, nchunks, scale);
}

template <typename T, typename I>
void bcast_launch(const T* a, const T* s, Accum<T> scale, T* out, int64_t total, int64_t PC, int64_t C,
                  cudaStream_t st) {
  ADVPROP_LAUNCH((pool_bcast_kernel<T, I>), grid_for(total, kThreads), kThreads, 0, st)(
      a, s, out, static_cast<I>(total), static_cast<I>(PC), static_cast<I>(C), scale);
}

template <typename T, typename I>
void pack_launch(const T* a, const T* s, Accum<T> scale, T* out, int64_t total, int64_t PC, int64_t C, cudaStream_t st) {
  constexpr int K = Pack<T>::kLen;
  const int64_t packs = total / K;
  ADVPROP_LAUNCH((pool_bcast_pack_kernel<T, I>), grid_for(packs, kThreads), kThreads, 0, st)(
      reinterpret_cast<const Pack<T>*>(a), s, reinterpret_cast<Pack<T>*>(out), static_cast<I>(packs), static_cast<I>(PC),
      static_cast<I>(C), scale);
}

// out[n, p, c] = (a ? a[n, p, c] : 1) * s[n, c] * scale.
template <typename T>
void spatial_broadcast(const T* a, const T* s, Accum<T> scale, T* out, int64_t N, int64_t P, int64_t C,
                       const Device& dev) {
  cudaStream_t st = stream_for(dev.index);
  const int64_t total = N * P * C, PC = P * C;
  const bool small = total < (int64_t(1) << 31);
  if (C % Pack<T>::kLen == 0 && aligned16(a) && aligned16(s) && aligned16(out)) {
    if (small) pack_launch<T, uint32_t>(a, s, scale, out, total, PC, C, st);
    else pack_launch<T, int64_t>(a, s, scale, out, total, PC, C, st);
    return;
  }
  if (small) bcast_launch<T, uint32_t>(a, s, scale, out, total, PC, C, st);
  else bcast_launch<T, int64_t>(a, s, scale, out, total, PC, C, st);
}

template <typename T, typename I>
void scale_add_launch(const T* a, const T* s, const T* b, T* out, int64_t total, int64_t PC, int64_t C, cudaStream_t st) {
  constexpr int K = Pack<T>::kLen;
  if (C % K == 0 && aligned16(a) && aligned16(s) && aligned16(b) && aligned16(out)) {
    const int64_t packs = total / K;
    ADVPROP_LAUNCH((pool_scale_add_pack_kernel<T, I>), grid_for(packs, kThreads), kThreads, 0, st)(
        reinterpret_cast<const Pack<T>*>(a), s, b, reinterpret_cast<Pack<T>*>(out), static_cast<I>(packs),
        static_cast<I>(PC), static_cast<I>(C));
    return;
  }
  ADVPROP_LAUNCH((pool_scale_add_kernel<T, I>), grid_for(total, kThreads), kThreads, 0, st)(
      a, s, b, out, static_cast<I>(total), static_cast<I>(PC), static_cast<I>(C));
}

// out[n, p, c] = a[n, p, c] * s[n, c] + b[n, c].
template <typename T>
void spatial_scale_add(const T* a, const T* s, const T* b, T* out, int64_t N, int64_t P, int64_t C, const Device& dev) {
  cudaStream_t st = stream_for(dev.index);
  const int64_t total = N * P * C, PC = P * C;
  if (total < (int64_t(1) << 31)) scale_add_launch<T, uint32_t>(a, s, b, out, total, PC, C, st);
  else scale_add_launch<T, int64_t>(a, s, b, out, total, PC, C, st);
}

}  // namespace

void global_avg_pool_forward(const Tensor& x, Tensor& y) {
  const char* op = "global_avg_pool_forward";
  const Device dev = x.device();
  const PoolSizes sz = pool_sizes(x, {{&y, true}});
  if (y.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    using A = Accum<T>;
    spatial_sum<T>(x.data_as<T>(), nullptr, sz.p ? A(1) / static_cast<A>(sz.p) : A(0), y.data_as<T>(), sz.n, sz.p,
                   sz.c, dev);
  });
}

void global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  const char* op = "global_avg_pool_backward";
  const Device dev = dx.device();
  const PoolSizes sz = pool_sizes(dx, {{&dy, true}});
  if (dx.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(dx.dtype(), op, [&](auto t) {
    using T = decltype(t);
    using A = Accum<T>;
    spatial_broadcast<T>(nullptr, dy.data_as<T>(), A(1) / static_cast<A>(sz.p), dx.data_as<T>(), sz.n, sz.p, sz.c, dev);
  });
}

void channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y) {
  const char* op = "channel_scale_forward";
  const Device dev = x.device();
  const PoolSizes sz = pool_sizes(x, {{&s, true}, {&y, false}});
  if (y.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    spatial_broadcast<T>(x.data_as<T>(), s.data_as<T>(), Accum<T>(1), y.data_as<T>(), sz.n, sz.p, sz.c, dev);
  });
}

void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, Tensor* dx, Tensor* ds) {
  const char* op = "channel_scale_backward";
  const Device dev = x.device();
  const PoolSizes sz = pool_sizes(x, {{&s, true}, {&dy, false}, {dx, false}, {ds, true}});
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    if (ds && ds->numel())  // with dx in the same pass when both are wanted
      spatial_sum<T>(dy.data_as<T>(), x.data_as<T>(), Accum<T>(1), ds->data_as<T>(), sz.n, sz.p, sz.c, dev, s.data_as<T>(),
                     dx ? dx->data_as<T>() : nullptr);
    else if (dx && dx->numel())
      spatial_broadcast<T>(dy.data_as<T>(), s.data_as<T>(), Accum<T>(1), dx->data_as<T>(), sz.n, sz.p, sz.c, dev);
  });
}

void channel_scale_add(const Tensor& x, const Tensor& s, const Tensor& b, Tensor& y) {
  const char* op = "channel_scale_add";
  const Device dev = x.device();
  const PoolSizes sz = pool_sizes(x, {{&s, true}, {&b, true}, {&y, false}});
  if (y.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    spatial_scale_add<T>(x.data_as<T>(), s.data_as<T>(), b.data_as<T>(), y.data_as<T>(), sz.n, sz.p, sz.c, dev);
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
