// The shared part of the tiled depthwise kernels (depthwise_tiled_kernels.cuh: forward and input
// gradient, whose header explains the design; depthwise_tiled_weight.cuh: weight gradient): tile
// geometry, 16-byte channel vectors, staging into shared memory, and which calls they serve.
#pragma once
#include "common.cuh"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "advprop/conv.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace dw_tiles {

constexpr int kVecs = 8;                        // channel vectors of a block (fastest thread index)
constexpr int kCols = 4;                        // thread columns of a tile
constexpr int kRows = 8;                        // tile rows, one thread row each
constexpr int kBlock = kVecs * kCols * kRows;   // 256 threads

template <int N>
using Int = std::integral_constant<int, N>;

// Tile geometry for kernel size K and stride S. A "y tile" (forward and weight gradient) is TH x TW
// outputs reading IR x IC input pixels; a "dx tile" (input gradient) is TH x TW input pixels
// reading at most GR x GC output-gradient pixels.
template <int K, int S>
struct Geo {
  static constexpr int PW = S == 1 ? 4 : 2;  // outputs per thread along W
  static constexpr int TH = kRows, TW = kCols * PW;
  static constexpr int IR = (TH - 1) * S + K, IC = (TW - 1) * S + K;
  static constexpr int GR = (TH + K - 2) / S + 1, GC = (TW + K - 2) / S + 1;
  static constexpr int SPAN = (PW - 1) * S + K;  // input columns one thread's outputs read
  static constexpr int TAPS = K * K;
  static constexpr int GROUPS = TAPS < 32 ? 32 / TAPS : 1;  // weight gradient: row subsets per tap
};

constexpr size_t round16(size_t b) { return (b + 15) / 16 * 16; }

// Dynamic shared memory of each kernel: forward and input gradient, the weights [taps][CB] in A
// then the tile [rows][cols][CB] in T; weight gradient, the x tile, the dy tile, and the row
// subsets' sums [GROUPS][taps][CB] in A. The largest (k5, stride 2: 54 KiB) pass the default
// 48 KiB limit; allow_smem raises it.
template <typename T, int V, int K, int S>
struct Smem {
  using G = Geo<K, S>;
  static constexpr int CB = kVecs * V;  // channels of a block
  static constexpr size_t W = round16(sizeof(Accum<T>) * G::TAPS * CB);
  static constexpr size_t FWD = W + sizeof(T) * G::IR * G::IC * CB;
  static constexpr size_t BWD = W + sizeof(T) * G::GR * G::GC * CB;
  static constexpr size_t XS = round16(sizeof(T) * G::IR * G::IC * CB);
  static constexpr size_t GS = round16(sizeof(T) * G::TH * G::TW * CB);
  static constexpr size_t WGT = XS + GS + (G::GROUPS > 1 ? sizeof(Accum<T>) * G::GROUPS * G::TAPS * CB : 0);
};

// The shape in 32-bit integers, and the tiles over the tiled extent (y for the forward and the
// weight gradient, x for the input gradient).
struct Dw32 {
  int n, h, w, c, pt, pl, oh, ow, tiles_h, tiles_w;
};

// ---- channel vectors: V = 1 (one element) or 16 bytes of T (f32, bf16, f16) --------------------

template <typename T, int V>
__device__ __forceinline__ void copy_vec(T* dst, const T* src) {
  if constexpr (V == 1) *dst = *src;
  else *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
}

template <typename T, int V>
__device__ __forceinline__ void zero_vec(T* dst) {
  if constexpr (V == 1) *dst = from_accum<T>(Accum<T>(0));
  else *reinterpret_cast<uint4*>(dst) = make_uint4(0u, 0u, 0u, 0u);
}

template <typename T, int V, typename A = Accum<T>>
__device__ __forceinline__ void load_vec(const T* src, A* out) {
  static_assert(V == 1 || (sizeof(T) * V == 16 && !std::is_same_v<T, double>), "vector of 16 bytes of f32/bf16/f16");
  if constexpr (V == 1) {
    out[0] = to_accum(*src);
  } else {
    const uint4 u = *reinterpret_cast<const uint4*>(src);
    const unsigned words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if constexpr (std::is_same_v<T, float>) {
        out[i] = half_detail::f32_from_bits(words[i]);
      } else {
        out[2 * i] = to_accum(T{static_cast<uint16_t>(words[i] & 0xFFFFu)});
        out[2 * i + 1] = to_accum(T{static_cast<uint16_t>(words[i] >> 16)});
      }
    }
  }
}

template <typename T, int V, typename A = Accum<T>>
__device__ __forceinline__ void store_vec(T* dst, const A* in) {
  if constexpr (V == 1) {
    *dst = from_accum<T>(in[0]);
  } else {
    unsigned words[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if constexpr (std::is_same_v<T, float>) words[i] = half_detail::f32_bits(in[i]);
      else words[i] = from_accum<T>(in[2 * i]).bits | (static_cast<unsigned>(from_accum<T>(in[2 * i + 1]).bits) << 16);
    }
    *reinterpret_cast<uint4*>(dst) = make_uint4(words[0], words[1], words[2], words[3]);
  }
}

// ---- staging --------------------------------------------------------------------------------

// s[r][col][CB] = src[n, r0 + r, c0 + col, cbase + ...] for rows x cols pixels, zeros outside the
// [H, W] image and past the group's cb channels.
template <typename T, int V>
__device__ __forceinline__ void load_tile(T* s, const T* src, int n, int H, int W, int C, int r0, int c0, int rows,
                                          int cols, int cbase, int cb) {
  constexpr int CB = kVecs * V;
  const int count = rows * cols * kVecs;
  for (int i = threadIdx.x; i < count; i += kBlock) {
    const int v = i % kVecs, pix = i / kVecs;
    const int ih = r0 + pix / cols, iw = c0 + pix % cols, c = v * V;
    T* d = s + pix * CB + c;
    if (c < cb && ih >= 0 && ih < H && iw >= 0 && iw < W) copy_vec<T, V>(d, src + ((n * H + ih) * W + iw) * C + cbase + c);
    else zero_vec<T, V>(d);
  }
}

// ws[tap][c] = w[cbase + c, tap] in A (0 past cb), read in memory order.
template <typename T, int K, int CB, typename A = Accum<T>>
__device__ __forceinline__ void load_weights(A* ws, const T* w, int cbase, int cb) {
  constexpr int kTaps = K * K;
  for (int i = threadIdx.x; i < kTaps * CB; i += kBlock) {
    const int c = i / kTaps, tap = i % kTaps;
    ws[tap * CB + c] = c < cb ? to_accum(w[(cbase + c) * kTaps + tap]) : A(0);
  }
}

__device__ __forceinline__ int ceil_div(int a, int s) { return a >= 0 ? (a + s - 1) / s : -((-a) / s); }

// ---- host side: which calls, launch helpers ------------------------------------------------------

constexpr int64_t kInt32Max = 2147483647;

// The calls the tiled kernels serve (depthwise_tiled_kernels.cuh's header): a dtype-independent test, so that bf16 and f16 take
// the path the f32 kernel takes for their widened values.
inline bool tiled_shape(const Conv2dParams& p) {
  const int64_t K = p.kh, S = p.stride_h;
  if ((K != 3 && K != 5) || p.kw != K || (S != 1 && S != 2) || p.stride_w != S || p.dil_h != 1 || p.dil_w != 1)
    return false;
  if (p.pad_top < 0 || p.pad_top >= K || p.pad_left < 0 || p.pad_left >= K) return false;
  if (p.n <= 0 || p.h <= 0 || p.w <= 0 || p.c_in <= 0 || p.out_h <= 0 || p.out_w <= 0) return false;
  // 32-bit element indices; at most 65535 channel groups of 8 (grid y).
  return p.n * p.h * p.w * p.c_in <= kInt32Max && p.n * p.out_h * p.out_w * p.c_in <= kInt32Max &&
         (p.c_in + kVecs - 1) / kVecs <= 65535;
}

template <int K, int S>
inline Dw32 dw32(const Conv2dParams& p, int64_t rows, int64_t cols) {
  using G = Geo<K, S>;
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return Dw32{i(p.n),      i(p.h),      i(p.w),      i(p.c_in), i(p.pad_top), i(p.pad_left), i(p.out_h), i(p.out_w),
              i((rows + G::TH - 1) / G::TH), i((cols + G::TW - 1) / G::TW)};
}

inline bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data()) % 16 == 0; }

// Calls f(Int<V>, Int<K>, Int<S>) for the call's kernel size and stride, V the 16-byte vector of T
// when `vec` (C a multiple of it, the tensors aligned), else 1.
template <typename T, typename F>
inline void with_tile(const Conv2dParams& p, bool vec, F&& f) {
  constexpr int VV = std::is_same_v<T, double> ? 1 : 16 / static_cast<int>(sizeof(T));
  auto by_v = [&](auto k, auto s) {
    if (vec) f(Int<VV>{}, k, s);
    else f(Int<1>{}, k, s);
  };
  if (p.kh == 3) p.stride_h == 1 ? by_v(Int<3>{}, Int<1>{}) : by_v(Int<3>{}, Int<2>{});
  else p.stride_h == 1 ? by_v(Int<5>{}, Int<1>{}) : by_v(Int<5>{}, Int<2>{});
}

// 16-byte vectors of T serve the call: C a multiple of their width, the tensors aligned (f64:
// never, one channel per thread).
template <typename T>
inline bool vectors_fit(int64_t c, std::initializer_list<const Tensor*> ts) {
  if constexpr (std::is_same_v<T, double>) {
    return false;
  } else {
    if (c % (16 / static_cast<int64_t>(sizeof(T))) != 0) return false;
    for (const Tensor* t : ts)
      if (!aligned16(*t)) return false;
    return true;
  }
}

// Raises a kernel's dynamic shared memory limit past the default 48 KiB, once per device.
template <typename F>
inline void allow_smem(F* kernel, size_t bytes, int device, std::atomic<uint64_t>& done) {
  if (bytes <= 48 * 1024) return;
  const uint64_t bit = uint64_t(1) << (device & 63);
  if (done.load(std::memory_order_relaxed) & bit) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
             "cudaFuncSetAttribute (depthwise)");
  done.fetch_or(bit, std::memory_order_relaxed);
}

}  // namespace dw_tiles
}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
