// Depthwise convolution kernels (contract: advprop/conv.h; reference: native/cpu/depthwise.cc).
// NHWC activations, weights [C, KH, KW, 1].
//
// Each entry first offers the call to the tiled kernels (depthwise_tiled_kernels.cuh: k3 and k5, stride 1
// and 2, no dilation, padding under the kernel, 32-bit indices: every depthwise layer of
// EfficientNet and MobileNet, with the input tile and its halo in shared memory, vector loads and
// several outputs per thread). The generic kernels below serve every other call (dilation, other
// kernel sizes, odd paddings, tensors past 2^31 elements) and stay as simple as possible:
// forward and backward_input: one thread per output element (channel fastest, so a warp reads
// and writes contiguous memory), a 1-D grid-stride loop with 64-bit indices; backward_input is a
// gather over the output positions that read each input pixel, so no atomics.
// backward_weight: two passes. Pass 1 splits the n*OH*OW output positions into at most kMaxChunks
// chunks (the split depends only on the shape); a block of 32 channels x 8 lanes handles one
// (channel tile, tap, chunk), each lane strides through the chunk's positions, and the 8 lane sums
// are combined by a fixed shared-memory tree into a partial [chunk, tap, C]. Pass 2 sums the
// partials in chunk order. Deterministic on every device.
// Both families compute alike: each output sums x * w from 0 over the in-image taps in (ky, kx)
// order, then the bias (and the epilogue); bf16 and f16 (storage T, weights and bias in T as
// well): products and sums in A = Accum<T> = f32 from the widened operands, the partials of the
// weight gradient in f32, and each output rounded once, on the store.
#include "common.cuh"

#include <algorithm>
#include <cstdint>
#include <string>

#include "advprop/conv.h"
#include "advprop/epilogue.h"
#include "advprop/device.h"
#include "advprop/invariants.h"
#include "depthwise_tiled.cuh"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kMaxChunks = 64;  // backward_weight: chunks of positions (blocks of kTileC x kLanes)

// Plain-old-data copy of the parameters for kernels.
struct DwParams {
  int64_t n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow;
};

DwParams to_dw(const Conv2dParams& p) {
  return DwParams{p.n,        p.h,     p.w,     p.c_in,    p.kh,    p.kw,    p.stride_h,
                  p.stride_w, p.dil_h, p.dil_w, p.pad_top, p.pad_left, p.out_h, p.out_w};
}

template <typename T, typename A = Accum<T>>
__global__ void dw_forward_kernel(const T* x, const T* w, const T* bias, T* y, DwParams p, int64_t total,
                                  EpilogueView<T> epi) {
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    const auto [n, oh, ow, c] = nhwc_of(i, p.oh, p.ow, p.c);
    const T* wc = w + c * p.kh * p.kw;
    A acc = A(0);
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t ih = oh * p.sh - p.pt + ky * p.dh;
      if (ih < 0 || ih >= p.h) continue;
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t iw = ow * p.sw - p.pl + kx * p.dw;
        if (iw < 0 || iw >= p.w) continue;
        acc += to_accum(x[((n * p.h + ih) * p.w + iw) * p.c + c]) * to_accum(wc[ky * p.kw + kx]);
      }
    }
    if (bias) acc += to_accum(bias[c]);
    if constexpr (std::is_same_v<T, A>) {
      y[i] = epi.mean ? epilogue_value<BnMath>(epi, acc, i / p.c, c) : acc;
    } else {
      y[i] = from_accum<T>(acc);  // 16-bit: never an epilogue (the validator)
    }
  }
}

// Output index o with o*s - pad + k*d == i, or -1.
__device__ __forceinline__ int64_t dw_source(int64_t i, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t out) {
  const int64_t num = i + pad - k * d;
  if (num < 0 || num % s != 0) return -1;
  const int64_t o = num / s;
  return o < out ? o : -1;
}

template <typename T, typename A = Accum<T>>
__global__ void dw_backward_input_kernel(const T* dy, const T* w, T* dx, DwParams p, int64_t total) {
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    const auto [n, ih, iw, c] = nhwc_of(i, p.h, p.w, p.c);
    const T* wc = w + c * p.kh * p.kw;
    A acc = A(0);
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t oh = dw_source(ih, ky, p.sh, p.dh, p.pt, p.oh);
      if (oh < 0) continue;
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t ow = dw_source(iw, kx, p.sw, p.dw, p.pl, p.ow);
        if (ow < 0) continue;
        acc += to_accum(dy[((n * p.oh + oh) * p.ow + ow) * p.c + c]) * to_accum(wc[ky * p.kw + kx]);
      }
    }
    dx[i] = from_accum<T>(acc);
  }
}

// grid (ceil(C / kTileC), KH*KW, nchunks), block (kTileC, kLanes).
// partial[(chunk * taps + tap) * C + c] = sum over the chunk's positions of dy * x, in A.
template <typename T, typename A = Accum<T>>
__global__ void dw_weight_partial_kernel(const T* x, const T* dy, A* partial, DwParams p, int64_t positions,
                                         int64_t chunk) {
  __shared__ A sums[kLanes][kTileC];
  const auto [c, begin, end] = channel_tile(blockIdx.z, chunk, positions);
  const int64_t tap = blockIdx.y;
  const int64_t ky = tap / p.kw, kx = tap % p.kw;
  A acc = A(0);
  if (c < p.c) {
    for (int64_t q = begin + threadIdx.y; q < end; q += kLanes) {
      const int64_t ow = q % p.ow;
      const int64_t r = q / p.ow;
      const int64_t oh = r % p.oh;
      const int64_t n = r / p.oh;
      const int64_t ih = oh * p.sh - p.pt + ky * p.dh;
      const int64_t iw = ow * p.sw - p.pl + kx * p.dw;
      if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
      acc += to_accum(dy[q * p.c + c]) * to_accum(x[((n * p.h + ih) * p.w + iw) * p.c + c]);
    }
  }
  const A sum = lane_sum(sums, acc);
  if (threadIdx.y == 0 && c < p.c) partial[(static_cast<int64_t>(blockIdx.z) * gridDim.y + tap) * p.c + c] = sum;
}

// dw[c, tap] = sum over chunks in order of partial[chunk, tap, c]; one thread per (tap, c).
template <typename T, typename A = Accum<T>>
__global__ void dw_weight_finish_kernel(const A* partial, T* dw, int64_t c_count, int64_t taps, int64_t nchunks) {
  const int64_t total = taps * c_count;
  for (int64_t i = grid_start(); i < total; i += grid_step()) {
    A acc = A(0);
    for (int64_t k = 0; k < nchunks; ++k) acc += partial[k * total + i];
    const int64_t tap = i / c_count, c = i % c_count;
    dw[c * taps + tap] = from_accum<T>(acc);
  }
}

template <typename T>
__global__ void dw_zero_kernel(T* out, int64_t n) {
  for (int64_t i = grid_start(); i < n; i += grid_step()) out[i] = from_accum<T>(Accum<T>(0));
}

// ---- launches ----------------------------------------------------------------------------------

template <typename T>
void forward_typed(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                   const Epilogue* epi) {
  const int64_t total = y.numel();
  ADVPROP_LAUNCH((dw_forward_kernel<T>), grid_for(total, kThreads), kThreads, 0, stream_of(y))(
      x.data_as<T>(), w.data_as<T>(), bias ? bias->data_as<T>() : static_cast<const T*>(nullptr), y.data_as<T>(),
      to_dw(p), total, std::is_same_v<T, Accum<T>> ? epilogue_view<T>(epi, p.c_out, p.c_out) : EpilogueView<T>{});
}

template <typename T>
void backward_input_typed(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  const int64_t total = dx.numel();
  ADVPROP_LAUNCH((dw_backward_input_kernel<T>), grid_for(total, kThreads), kThreads, 0, stream_of(dx))(
      dy.data_as<T>(), w.data_as<T>(), dx.data_as<T>(), to_dw(p), total);
}

template <typename T, typename A = Accum<T>>
void backward_weight_typed(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw) {
  cudaStream_t s = stream_of(dw);
  const int64_t positions = p.n * p.out_h * p.out_w;
  const int64_t taps = p.kh * p.kw, C = p.c_in;
  if (positions == 0) {
    ADVPROP_LAUNCH((dw_zero_kernel<T>), grid_for(dw.numel(), kThreads), kThreads, 0, s)(dw.data_as<T>(), dw.numel());
    return;
  }
  // Chunks of at least 256 positions, at most kMaxChunks of them: depends only on the shape.
  int64_t nchunks = std::min<int64_t>(kMaxChunks, (positions + 255) / 256);
  const int64_t chunk = (positions + nchunks - 1) / nchunks;
  nchunks = (positions + chunk - 1) / chunk;
  // Limits of this launch's grid, not of the op (the other backends have none): one row per
  // kernel tap (grid y, at most 65535) and one column per tile of channels (grid x, 2^31 - 1).
  const int64_t ctiles = (C + kTileC - 1) / kTileC;
  if (taps > 65535)
    fail(ErrorCode::Shape, "depthwise_backward_weight: more than 65535 kernel taps on CUDA (" + conv_params_str(p) + ")");
  if (ctiles > 2147483647) fail(ErrorCode::Shape, "depthwise_backward_weight: too many channels on CUDA");
  Tensor partial = Tensor::empty({nchunks * taps * C}, accum_dtype(dw.dtype()), dw.device());
  dim3 grid(static_cast<unsigned>(ctiles), static_cast<unsigned>(taps), static_cast<unsigned>(nchunks));
  dim3 block(kTileC, kLanes);
  ADVPROP_LAUNCH((dw_weight_partial_kernel<T>), grid, block, 0, s)(x.data_as<T>(), dy.data_as<T>(),
                                                                   partial.data_as<A>(), to_dw(p), positions, chunk);
  ADVPROP_LAUNCH((dw_weight_finish_kernel<T>), grid_for(taps * C, kThreads), kThreads, 0, s)(
      static_cast<const A*>(partial.data_as<A>()), dw.data_as<T>(), C, taps, nchunks);
}

}  // namespace

void depthwise_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  depthwise_forward(p, x, w, bias, y, nullptr);
}

void depthwise_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                       const Epilogue* epi) {
  const char* op = "depthwise_forward";
  ADVPROP_ASSERT(passes(check_depthwise_forward, op, p, kDeviceType, x, w, bias, y, epi));
  if (y.numel() == 0 || depthwise_tiled_forward(p, x, w, bias, y, epi)) return;
  dispatch_dtype<MixedFloatTypes>(y.dtype(), op, [&](auto t) { forward_typed<decltype(t)>(p, x, w, bias, y, epi); });
}

void depthwise_backward_input(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  const char* op = "depthwise_backward_input";
  ADVPROP_ASSERT(passes(check_depthwise_backward_input, op, p, kDeviceType, dy, w, dx));
  if (dx.numel() == 0 || depthwise_tiled_backward_input(p, dy, w, dx)) return;
  dispatch_dtype<MixedFloatTypes>(dx.dtype(), op, [&](auto t) { backward_input_typed<decltype(t)>(p, dy, w, dx); });
}

void depthwise_backward_weight(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw) {
  const char* op = "depthwise_backward_weight";
  ADVPROP_ASSERT(passes(check_depthwise_backward_weight, op, p, kDeviceType, x, dy, dw));
  if (dw.numel() == 0 || depthwise_tiled_backward_weight(p, x, dy, dw)) return;
  dispatch_dtype<MixedFloatTypes>(dw.dtype(), op, [&](auto t) { backward_weight_typed<decltype(t)>(p, x, dy, dw); });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop

// The tiled kernels (k3/k5, stride 1/2) are part of this family's translation unit: their own
// headers keep the files small, and the family stays one .cu beside its cpu twin.
#include "depthwise_tiled_kernels.cuh"
#include "depthwise_tiled_weight.cuh"
