// Softmax cross-entropy with label smoothing over logits [N, K] and integer labels [N] (i32),
// and the row argmax for accuracy. The target of row n is (1 - eps) * onehot(label[n]) + eps / K
// (TensorFlow / timm label smoothing), so with m = max_k z, lse = m + log sum_k exp(z - m):
//
// softmax_xent_forward:  loss[n] = lse[n] - (1 - eps) * z[n, label] - (eps / K) * sum_k z[n, k]
//                        (computed as log sum exp(z - m) + sum_k target_k (m - z_k), which does
//                        not cancel for large logits), and lse[n] saved for the backward pass.
// softmax_xent_backward: dz[n, k] = (exp(z[n, k] - lse[n]) - target[n, k]) * g[n], with
//                        g[n] = scale * dy[n] when dy is [N], scale * dy[0] when dy has one element
//                        (the mean reduction passes dy [] and scale 1/N).
// argmax_rows:           pred[n] = the lowest k with z[n, k] maximal (NaN never wins).
// Kernels never read out of bounds for a label outside [0, K): its loss is NaN and its row has no
// one-hot term. The checked front-ends reject such labels with ERR_ARG before any kernel runs.
#pragma once
#include <initializer_list>

#include "advprop/dtype_dispatch.h"
#include "advprop/invariants.h"
#include "advprop/tensor.h"

namespace advprop {

#define ADVPROP_LOSS_KERNELS                                                                         \
  void softmax_xent_forward(const Tensor& logits, const Tensor& labels, double smoothing, Tensor& loss, \
                            Tensor& lse);                                                            \
  void softmax_xent_backward(const Tensor& logits, const Tensor& labels, const Tensor& lse, const Tensor& dy, \
                             double scale, double smoothing, Tensor& dlogits);                      \
  void argmax_rows(const Tensor& logits, Tensor& pred);

// The kernels take checked arguments (the front-ends below): logits [N, K] f32, f64, bf16 or f16
// with K >= 1, labels i32 [N], loss, lse [N] and dy [N] or [] of the loss's dtype (accum_dtype of
// the logits': f32 for 16-bit logits, whose dlogits are of their own dtype), all contiguous on one
// device, 0 <= smoothing <= 1. Every backend asserts the sizes it indexes by through these, which
// return N and K (a failure is a bug in advprop: ERR_INTERNAL).
struct LossSizes {
  int64_t n, k;
};
// logits [N, K] and `rows` (labels or pred) i32 [N], contiguous, on one device.
inline LossSizes loss_sizes(const Tensor& logits, const Tensor& rows) {
  ADVPROP_ASSERT(logits.ndim() == 2 && tensors_hold(logits.dtype(), logits.device(), {{&logits, logits.numel()}}) &&
                 tensors_hold(DType::i32, logits.device(), {{&rows, logits.dim(0)}}));
  return {logits.dim(0), logits.dim(1)};
}
inline LossSizes xent_forward_sizes(const Tensor& logits, const Tensor& labels, const Tensor& loss, const Tensor& lse) {
  const LossSizes s = loss_sizes(logits, labels);
  ADVPROP_ASSERT(tensors_hold(accum_dtype(logits.dtype()), logits.device(), {{&loss, s.n}, {&lse, s.n}}));
  return s;
}
inline LossSizes xent_backward_sizes(const Tensor& logits, const Tensor& labels, const Tensor& lse, const Tensor& dy,
                                     const Tensor& dlogits) {
  const LossSizes s = loss_sizes(logits, labels);
  ADVPROP_ASSERT(
      tensors_hold(accum_dtype(logits.dtype()), logits.device(), {{&lse, s.n}, {&dy, dy.ndim() == 0 ? 1 : s.n}}) &&
      tensors_hold(logits.dtype(), logits.device(), {{&dlogits, s.n * s.k}}));
  return s;
}

namespace cpu { ADVPROP_LOSS_KERNELS }
namespace cuda { ADVPROP_LOSS_KERNELS }
namespace cudasim { ADVPROP_LOSS_KERNELS }

namespace ops {
// Per-sample losses [N] and the saved row log-sum-exp [N]. With validate_labels, labels outside
// [0, K) throw ERR_ARG naming the first bad index and value (a device tensor's labels are copied
// to the host for this, which synchronises); callers that checked host labels pass false.
void cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing, bool validate_labels,
                   Tensor* loss, Tensor* lse);
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels, const Tensor& lse, const Tensor& dy,
                              double scale, double smoothing);
Tensor argmax_rows(const Tensor& logits);  // i32 [N]
}  // namespace ops

}  // namespace advprop
