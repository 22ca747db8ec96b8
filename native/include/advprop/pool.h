// Global average pooling and squeeze-excite's channel scale over NHWC activations, with their
// gradients. Both reduce or broadcast over the spatial axes H*W of x [N, H, W, C] against a
// per-sample, per-channel tensor [N, C].
//
// global_avg_pool_forward:  y[n, c] = (1 / (H*W)) * sum_{h,w} x[n, h, w, c]
// global_avg_pool_backward: dx[n, h, w, c] = dy[n, c] / (H*W)
// channel_scale_forward:    y[n, h, w, c] = x[n, h, w, c] * s[n, c]
// channel_scale_backward:   dx = dy * s[n, c] (when dx is non-null) and
//                           ds[n, c] = sum_{h,w} dy * x (when ds is non-null).
// channel_scale_add:        y[n, h, w, c] = x[n, h, w, c] * s[n, c] + b[n, c], the product
//                           rounded before the add (no fused multiply-add on any backend), so
//                           it equals channel_scale_forward's y plus b bit for bit. It is
//                           squeeze-excite's input gradient in one pass: dy * s plus the
//                           pool's share dpool / (H*W), which otherwise takes a broadcast
//                           tensor and an add.
// Every spatial sum runs in an order fixed by the shape alone (no float atomics), so results do
// not depend on the thread count or the device's scheduling. f32 on every backend, f64 too; bf16
// and f16 (every tensor of one call in the same dtype, s and the pool output included, as they
// are activations) compute in f32, spatial sums too, and round once on each store.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "advprop/invariants.h"
#include "advprop/tensor.h"

namespace advprop {

#define ADVPROP_POOL_KERNELS                                                               \
  void global_avg_pool_forward(const Tensor& x, Tensor& y);                                \
  void global_avg_pool_backward(const Tensor& dy, Tensor& dx);                             \
  void channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y);                 \
  void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, Tensor* dx, \
                              Tensor* ds);                                                  \
  void channel_scale_add(const Tensor& x, const Tensor& s, const Tensor& b, Tensor& y);

// The kernels take checked arguments (the front-ends below). Every backend asserts what it indexes
// by through pool_sizes, which returns x's sizes (a failure is a bug in advprop: ERR_INTERNAL):
// x (or dx) NHWC, and every other tensor, null ones skipped, [N, C] when per_channel, else x's
// shape, all contiguous, of x's dtype, on x's device.
struct PoolSizes {
  int64_t n, p, c;  // N, H*W, C
};
struct PoolArg {
  const Tensor* t;
  bool per_channel;
};
inline PoolSizes pool_sizes(const Tensor& x, std::initializer_list<PoolArg> others) {
  ADVPROP_ASSERT(x.ndim() == 4 && tensors_hold(x.dtype(), x.device(), {{&x, x.numel()}}));
  const PoolSizes s{x.dim(0), x.dim(1) * x.dim(2), x.dim(3)};
  for (const PoolArg& a : others)
    ADVPROP_ASSERT(tensors_hold(x.dtype(), x.device(), {{a.t, a.per_channel ? s.n * s.c : x.numel()}}));
  return s;
}

namespace cpu { ADVPROP_POOL_KERNELS }
namespace cuda { ADVPROP_POOL_KERNELS }
namespace cudasim { ADVPROP_POOL_KERNELS }

namespace ops {
// Checked front-ends (allocate the outputs, dispatch by device).
Tensor global_avg_pool(const Tensor& x);                                // [N,H,W,C] -> [N,C]
Tensor global_avg_pool_backward(const Tensor& dy, const Shape& x_shape);  // [N,C] -> x_shape
Tensor channel_scale(const Tensor& x, const Tensor& s);                 // [N,H,W,C] * [N,C]
// Fills *dx when need_dx and *ds when need_ds; each runs only the kernel work it needs.
void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, bool need_dx, bool need_ds,
                            Tensor* dx, Tensor* ds);
Tensor channel_scale_add(const Tensor& x, const Tensor& s, const Tensor& b);  // [N,H,W,C] * [N,C] + [N,C]
}  // namespace ops

}  // namespace advprop
