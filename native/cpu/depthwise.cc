// CPU depthwise convolution kernels (contract: advprop/conv.h): NHWC activations, weights
// [C, KH, KW, 1]. Every loop runs with the channel innermost over contiguous memory so g++
// vectorises it; the weights are first transposed to [KH, KW, C] for the same reason.
// Deterministic: each output element sums its terms in a fixed order (taps in (ky, kx) order;
// the weight gradient over rows in chunks whose boundaries depend only on the shape, combined in
// chunk order).
//
// Contracting a * b + c into an FMA would make results depend on the ISA the compiler targets;
// with it off every CPU gives the same bits.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/conv.h"
#include "advprop/error.h"
#include "advprop/parallel.h"

namespace advprop {
namespace cpu {
namespace {

// w [C, KH, KW] -> wt [KH, KW, C].
template <typename T>
std::vector<T> transpose_weights(const Conv2dParams& p, const T* w) {
  const int64_t C = p.c_in, taps = p.kh * p.kw;
  std::vector<T> wt(static_cast<size_t>(taps * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < taps; ++t) wt[t * C + c] = w[c * taps + t];
  return wt;
}

// Rows per chunk so that a chunk holds roughly `work` multiply-adds.
int64_t grain_for(int64_t rows, int64_t per_row, int64_t work = 1 << 15) {
  return std::max<int64_t>(1, std::min<int64_t>(rows, work / std::max<int64_t>(1, per_row)));
}

template <typename T>
void forward_typed(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* y) {
  const int64_t C = p.c_in, H = p.h, W = p.w, OH = p.out_h, OW = p.out_w;
  const std::vector<T> wt = transpose_weights(p, w);
  const int64_t rows = p.n * OH;
  parallel_for(0, rows, grain_for(rows, OW * C * p.kh * p.kw), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t n = r / OH, oh = r % OH;
      for (int64_t ow = 0; ow < OW; ++ow) {
        T* __restrict out = y + (r * OW + ow) * C;
        for (int64_t c = 0; c < C; ++c) out[c] = T(0);
        for (int64_t ky = 0; ky < p.kh; ++ky) {
          const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
          if (ih < 0 || ih >= H) continue;
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
            if (iw < 0 || iw >= W) continue;
            const T* __restrict in = x + ((n * H + ih) * W + iw) * C;
            const T* __restrict wk = wt.data() + (ky * p.kw + kx) * C;
            for (int64_t c = 0; c < C; ++c) out[c] += in[c] * wk[c];
          }
        }
        if (bias)
          for (int64_t c = 0; c < C; ++c) out[c] += bias[c];
      }
    }
  });
}

// Output index o with o*s - pad + k*d == i, or -1.
inline int64_t source_index(int64_t i, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t out) {
  const int64_t num = i + pad - k * d;
  if (num < 0 || num % s != 0) return -1;
  const int64_t o = num / s;
  return o < out ? o : -1;
}

template <typename T>
void backward_input_typed(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t C = p.c_in, H = p.h, W = p.w, OH = p.out_h, OW = p.out_w;
  const std::vector<T> wt = transpose_weights(p, w);
  const int64_t rows = p.n * H;
  parallel_for(0, rows, grain_for(rows, W * C * p.kh * p.kw), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t n = r / H, ih = r % H;
      for (int64_t iw = 0; iw < W; ++iw) {
        T* __restrict out = dx + (r * W + iw) * C;
        for (int64_t c = 0; c < C; ++c) out[c] = T(0);
        for (int64_t ky = 0; ky < p.kh; ++ky) {
          const int64_t oh = source_index(ih, ky, p.stride_h, p.dil_h, p.pad_top, OH);
          if (oh < 0) continue;
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t ow = source_index(iw, kx, p.stride_w, p.dil_w, p.pad_left, OW);
            if (ow < 0) continue;
            const T* __restrict g = dy + ((n * OH + oh) * OW + ow) * C;
            const T* __restrict wk = wt.data() + (ky * p.kw + kx) * C;
            for (int64_t c = 0; c < C; ++c) out[c] += g[c] * wk[c];
          }
        }
      }
    }
  });
}

template <typename T>
void backward_weight_typed(const Conv2dParams& p, const T* x, const T* dy, T* dw) {
  const int64_t C = p.c_in, H = p.h, W = p.w, OH = p.out_h, OW = p.out_w, taps = p.kh * p.kw;
  const int64_t rows = p.n * OH;
  const int64_t tc = taps * C;
  // At most 64 chunks of output rows, each with its own [KH, KW, C] partial sum; the chunking
  // depends only on the shape, so the result does not depend on the thread count.
  const int64_t grain = std::max<int64_t>(1, (rows + 63) / 64);
  const int64_t nchunks = rows == 0 ? 0 : (rows + grain - 1) / grain;
  std::vector<T> partial(static_cast<size_t>(nchunks * tc), T(0));
  parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    T* __restrict acc = partial.data() + (lo / grain) * tc;
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t n = r / OH, oh = r % OH;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const T* __restrict g = dy + (r * OW + ow) * C;
        for (int64_t ky = 0; ky < p.kh; ++ky) {
          const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
          if (ih < 0 || ih >= H) continue;
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
            if (iw < 0 || iw >= W) continue;
            const T* __restrict in = x + ((n * H + ih) * W + iw) * C;
            T* __restrict a = acc + (ky * p.kw + kx) * C;
            for (int64_t c = 0; c < C; ++c) a[c] += g[c] * in[c];
          }
        }
      }
    }
  });
  std::vector<T> total(static_cast<size_t>(tc), T(0));
  for (int64_t k = 0; k < nchunks; ++k) {
    const T* __restrict part = partial.data() + k * tc;
    for (int64_t i = 0; i < tc; ++i) total[i] += part[i];
  }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < taps; ++t) dw[c * taps + t] = total[t * C + c];
}

}  // namespace

void depthwise_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const char* op = "depthwise_forward";
  check_depthwise_params(op, p);
  check_conv_dtype(op, y.dtype());
  check_conv_tensor(op, "x", x, conv_x_shape(p), y.dtype(), DeviceType::cpu, Device{});
  check_conv_tensor(op, "w", w, depthwise_w_shape(p), y.dtype(), DeviceType::cpu, Device{});
  if (bias) check_conv_tensor(op, "bias", *bias, {p.c_in}, y.dtype(), DeviceType::cpu, Device{});
  check_conv_tensor(op, "y", y, conv_y_shape(p), y.dtype(), DeviceType::cpu, Device{});
  if (y.numel() == 0) return;
  if (y.dtype() == DType::f32)
    forward_typed<float>(p, x.data_as<float>(), w.data_as<float>(), bias ? bias->data_as<float>() : nullptr,
                         y.data_as<float>());
  else
    forward_typed<double>(p, x.data_as<double>(), w.data_as<double>(), bias ? bias->data_as<double>() : nullptr,
                          y.data_as<double>());
}

void depthwise_backward_input(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  const char* op = "depthwise_backward_input";
  check_depthwise_params(op, p);
  check_conv_dtype(op, dx.dtype());
  check_conv_tensor(op, "dy", dy, conv_y_shape(p), dx.dtype(), DeviceType::cpu, Device{});
  check_conv_tensor(op, "w", w, depthwise_w_shape(p), dx.dtype(), DeviceType::cpu, Device{});
  check_conv_tensor(op, "dx", dx, conv_x_shape(p), dx.dtype(), DeviceType::cpu, Device{});
  if (dx.numel() == 0) return;
  if (dx.dtype() == DType::f32)
    backward_input_typed<float>(p, dy.data_as<float>(), w.data_as<float>(), dx.data_as<float>());
  else
    backward_input_typed<double>(p, dy.data_as<double>(), w.data_as<double>(), dx.data_as<double>());
}

void depthwise_backward_weight(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw) {
  const char* op = "depthwise_backward_weight";
  check_depthwise_params(op, p);
  check_conv_dtype(op, dw.dtype());
  check_conv_tensor(op, "x", x, conv_x_shape(p), dw.dtype(), DeviceType::cpu, Device{});
  check_conv_tensor(op, "dy", dy, conv_y_shape(p), dw.dtype(), DeviceType::cpu, Device{});
  check_conv_tensor(op, "dw", dw, depthwise_w_shape(p), dw.dtype(), DeviceType::cpu, Device{});
  if (dw.numel() == 0) return;
  if (dw.dtype() == DType::f32)
    backward_weight_typed<float>(p, x.data_as<float>(), dy.data_as<float>(), dw.data_as<float>());
  else
    backward_weight_typed<double>(p, x.data_as<double>(), dy.data_as<double>(), dw.data_as<double>());
}

}  // namespace cpu
}  // namespace advprop
