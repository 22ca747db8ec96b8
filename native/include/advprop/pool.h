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
// not depend on the thread count or the device's scheduling. f32 on every backend, f64 too.
#pragma once
#include <initializer_list>
#include "advprop/tensor.h"

namespace advprop {

#define ADVPROP_POOL_KERNELS                                                               \
  void global_avg_pool_forward(const Tensor& x, Tensor& y);                                \
  void global_avg_pool_backward(const Tensor& dy, Tensor& dx);                             \
  void channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y);                 \
  void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, Tensor* dx, \
                              Tensor* ds);                                                  \
  void channel_scale_add(const Tensor& x, const Tensor& s, const Tensor& b, Tensor& y);

// The argument checks every backend's kernels run: x-like tensors [N, H, W, C], per-channel
// tensors [N, C], one float dtype, contiguous, all on `dev` (of type `type`). Throws
// advprop::Error naming `op` and `name`.
void check_pool_tensor(const char* op, const char* name, const Tensor& t, const Shape& want, DType dt,
                       DeviceType type, const Device& dev);

// A kernel's own checks of a whole call, the same on every backend: x (called xname) NHWC on a
// device of type `type`, then every other tensor (skipped when null) against x's dtype and
// device, shaped [N, C] when per_channel, else like x.
struct PoolArg {
  const char* name;
  const Tensor* t;
  bool per_channel;
};
void check_pool_call(const char* op, DeviceType type, const char* xname, const Tensor& x,
                     std::initializer_list<PoolArg> others);

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
