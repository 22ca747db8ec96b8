// CPU global average pooling and channel scale (contract: advprop/pool.h). Work items are
// (sample, channel tile); each sums its H*W positions in order with the channel innermost over
// contiguous memory, so g++ vectorises across channels and every sum has a fixed order.
// f32 sums accumulate in double: H*W reaches 12544 in EfficientNet-B0.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cstdint>
#include <vector>

#include "advprop/error.h"
#include "advprop/parallel.h"
#include "advprop/pool.h"

namespace advprop {
namespace cpu {
namespace {

constexpr int64_t kTile = 256;  // channels per work item

// out[n, c] = scale * sum_p a[n, p, c] * (b ? b[n, p, c] : 1)
template <typename T>
void spatial_sum(const T* a, const T* b, double scale, T* out, int64_t N, int64_t P, int64_t C) {
  const int64_t tiles = (C + kTile - 1) / kTile;
  parallel_for(0, N * tiles, 1, [&](int64_t lo, int64_t hi) {
    double acc[kTile];
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t n = item / tiles, c0 = (item % tiles) * kTile, cn = std::min(kTile, C - c0);
      for (int64_t c = 0; c < cn; ++c) acc[c] = 0.0;
      for (int64_t p = 0; p < P; ++p) {
        const T* __restrict ra = a + (n * P + p) * C + c0;
        if (b) {
          const T* __restrict rb = b + (n * P + p) * C + c0;
          for (int64_t c = 0; c < cn; ++c) acc[c] += static_cast<double>(ra[c]) * static_cast<double>(rb[c]);
        } else {
          for (int64_t c = 0; c < cn; ++c) acc[c] += static_cast<double>(ra[c]);
        }
      }
      for (int64_t c = 0; c < cn; ++c) out[n * C + c0 + c] = static_cast<T>(acc[c] * scale);
    }
  });
}

// out[n, p, c] = (a ? a[n, p, c] : 1) * s[n, c] * scale
template <typename T>
void spatial_broadcast(const T* a, const T* s, T scale, T* out, int64_t N, int64_t P, int64_t C) {
  const int64_t rows = N * P;
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, C));
  parallel_for(0, rows, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* __restrict sr = s + (r / P) * C;
      T* __restrict o = out + r * C;
      if (a) {
        const T* __restrict ar = a + r * C;
        if (scale == T(1))
          for (int64_t c = 0; c < C; ++c) o[c] = ar[c] * sr[c];
        else
          for (int64_t c = 0; c < C; ++c) o[c] = ar[c] * sr[c] * scale;
      } else {
        for (int64_t c = 0; c < C; ++c) o[c] = sr[c] * scale;
      }
    }
  });
}

Shape nc_of(const Tensor& x) { return {x.dim(0), x.dim(3)}; }

void check_x(const char* op, const char* name, const Tensor& x) {
  if (x.ndim() != 4)
    fail(ErrorCode::Shape, std::string(op) + ": " + name + " must be NHWC [N, H, W, C], got " + shape_str(x.shape()));
  check_pool_tensor(op, name, x, x.shape(), x.dtype(), DeviceType::cpu, Device{});
}

}  // namespace

void global_avg_pool_forward(const Tensor& x, Tensor& y) {
  const char* op = "global_avg_pool_forward";
  check_x(op, "x", x);
  check_pool_tensor(op, "y", y, nc_of(x), x.dtype(), DeviceType::cpu, Device{});
  const int64_t N = x.dim(0), P = x.dim(1) * x.dim(2), C = x.dim(3);
  if (y.numel() == 0) return;
  const double scale = P ? 1.0 / static_cast<double>(P) : 0.0;  // an empty mean is 0, not NaN
  if (x.dtype() == DType::f32) spatial_sum<float>(x.data_as<float>(), nullptr, scale, y.data_as<float>(), N, P, C);
  else spatial_sum<double>(x.data_as<double>(), nullptr, scale, y.data_as<double>(), N, P, C);
}

void global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  const char* op = "global_avg_pool_backward";
  check_x(op, "dx", dx);
  check_pool_tensor(op, "dy", dy, nc_of(dx), dx.dtype(), DeviceType::cpu, Device{});
  const int64_t N = dx.dim(0), P = dx.dim(1) * dx.dim(2), C = dx.dim(3);
  if (dx.numel() == 0) return;
  if (dx.dtype() == DType::f32)
    spatial_broadcast<float>(nullptr, dy.data_as<float>(), 1.0f / static_cast<float>(P), dx.data_as<float>(), N, P, C);
  else
    spatial_broadcast<double>(nullptr, dy.data_as<double>(), 1.0 / static_cast<double>(P), dx.data_as<double>(), N, P, C);
}

void channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y) {
  const char* op = "channel_scale_forward";
  check_x(op, "x", x);
  check_pool_tensor(op, "s", s, nc_of(x), x.dtype(), DeviceType::cpu, Device{});
  check_pool_tensor(op, "y", y, x.shape(), x.dtype(), DeviceType::cpu, Device{});
  const int64_t N = x.dim(0), P = x.dim(1) * x.dim(2), C = x.dim(3);
  if (y.numel() == 0) return;
  if (x.dtype() == DType::f32)
    spatial_broadcast<float>(x.data_as<float>(), s.data_as<float>(), 1.0f, y.data_as<float>(), N, P, C);
  else
    spatial_broadcast<double>(x.data_as<double>(), s.data_as<double>(), 1.0, y.data_as<double>(), N, P, C);
}

void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, Tensor* dx, Tensor* ds) {
  const char* op = "channel_scale_backward";
  check_x(op, "x", x);
  check_pool_tensor(op, "s", s, nc_of(x), x.dtype(), DeviceType::cpu, Device{});
  check_pool_tensor(op, "dy", dy, x.shape(), x.dtype(), DeviceType::cpu, Device{});
  if (dx) check_pool_tensor(op, "dx", *dx, x.shape(), x.dtype(), DeviceType::cpu, Device{});
  if (ds) check_pool_tensor(op, "ds", *ds, nc_of(x), x.dtype(), DeviceType::cpu, Device{});
  const int64_t N = x.dim(0), P = x.dim(1) * x.dim(2), C = x.dim(3);
  if (dx && dx->numel()) {
    if (x.dtype() == DType::f32)
      spatial_broadcast<float>(dy.data_as<float>(), s.data_as<float>(), 1.0f, dx->data_as<float>(), N, P, C);
    else
      spatial_broadcast<double>(dy.data_as<double>(), s.data_as<double>(), 1.0, dx->data_as<double>(), N, P, C);
  }
  if (ds && ds->numel()) {
    if (x.dtype() == DType::f32)
      spatial_sum<float>(dy.data_as<float>(), x.data_as<float>(), 1.0, ds->data_as<float>(), N, P, C);
    else
      spatial_sum<double>(dy.data_as<double>(), x.data_as<double>(), 1.0, ds->data_as<double>(), N, P, C);
  }
}

}  // namespace cpu
}  // namespace advprop
