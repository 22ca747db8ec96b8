// Multi-domain ("dual") batch norm with a fused activation, NHWC x [N, H, W, C]. Every BN layer
// holds K domains of parameters gamma, beta, running_mean, running_var, each [K, C]. The batch
// is cut into segments, consecutive runs of samples [start, start + count) each normalised with
// its own domain d: AdvProp's 2N batch is {(0, 0, N), (1, N, N)}.
//
// multi_batch_norm_forward, per segment s of domain d and channel c, over its M = count*H*W
// elements per channel:
//   train, train_frozen: mean[s, c], invstd[s, c] = 1 / sqrt(var + eps) from the segment's batch
//     mean and biased variance var;
//   eval: mean[s, c] = running_mean[d, c], invstd[s, c] = 1 / sqrt(running_var[d, c] + eps);
//   y = act(gamma[d] * (x - mean) * invstd + beta[d]).
//   train only: running_mean[d] = m * running_mean[d] + (1 - m) * mean and running_var[d] =
//     m * running_var[d] + (1 - m) * var * M / (M - 1) (TF momentum convention); when M == 1 the
//     unbiased estimate is undefined and the biased one (0) is used. Segments of the same domain
//     update it one after another, in segment order. Other modes never write the running stats.
// multi_batch_norm_backward: with z = gamma[d] * xhat + beta[d], xhat = (x - mean) * invstd
//   recomputed from the saved mean/invstd (the normalised tensor is never stored), and
//   g = dy * act'(z):
//   dbeta[d] = sum of g and dgamma[d] = sum of g * xhat over every segment of domain d (0 for a
//     domain without a segment);
//   train, train_frozen: dx = gamma[d] * invstd * (g - mean_M(g) - xhat * mean_M(g * xhat));
//   eval: dx = gamma[d] * invstd * g (the running statistics are constants).
// Sums accumulate in f64 and combine per-chunk partials in a fixed order: deterministic.
// Dtypes: x, y, dy and dx in one of f32, f64, bf16, f16; gamma, beta, the running statistics,
// mean, invstd, dgamma and dbeta in its arithmetic dtype (Accum<T>: f32 for bf16 and f16, as
// under PyTorch's autocast), where a 16-bit x is widened on every read and y and dx are rounded
// once, on the store.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "advprop/dtype_dispatch.h"
#include "advprop/enum_table.h"
#include "advprop/invariants.h"
#include "advprop/tensor.h"

namespace advprop {

// X(id, name). The activation's math is in advprop/pointwise.h; the C API's ADVPROP_BN_* and
// ADVPROP_ACT_* numbers follow these lists.
#define ADVPROP_BN_MODES(X) X(train, "train") X(train_frozen, "train-frozen") X(eval, "eval")
#define ADVPROP_BN_ACTS(X) X(none, "none") X(silu, "silu") X(relu, "relu")
ADVPROP_ENUM(BnMode, "mode", ADVPROP_BN_MODES);
ADVPROP_ENUM(BnAct, "activation", ADVPROP_BN_ACTS);

struct BnSegment {
  int64_t domain = 0, start = 0, count = 0;  // samples [start, start + count) of the batch
};

struct BnArgs {
  int64_t n = 0, h = 0, w = 0, c = 0, k = 0;
  BnMode mode = BnMode::train;
  BnAct act = BnAct::none;
  double momentum = 0.99, eps = 1e-3;
  std::vector<BnSegment> segments;
  // In eval mode, round the activation as the training forward does rather than as inference
  // does (the cpu's two SiLU roundings, native/cpu/bn_math.h; cuda has one): for a training
  // forward that normalises with statistics it was given (data-parallel sync BN,
  // lib/distributed/sync_bn.ts), so that it gives a 1-process run's bits. Ignored in train modes.
  bool training_math = false;
};

#define ADVPROP_BATCHNORM_KERNELS                                                                     \
  void multi_batch_norm_forward(const BnArgs& a, const Tensor& x, const Tensor& gamma, const Tensor& beta, \
                                Tensor& running_mean, Tensor& running_var, Tensor& y, Tensor& mean,      \
                                Tensor& invstd);                                                       \
  void multi_batch_norm_backward(const BnArgs& a, const Tensor& dy, const Tensor& x, const Tensor& gamma, \
                                 const Tensor& beta, const Tensor& mean, const Tensor& invstd, Tensor& dx, \
                                 Tensor& dgamma, Tensor& dbeta);

namespace cpu { ADVPROP_BATCHNORM_KERNELS }
namespace cuda { ADVPROP_BATCHNORM_KERNELS }
namespace cudasim { ADVPROP_BATCHNORM_KERNELS }

inline const char* bn_mode_name(BnMode m) { return enum_name(m); }
inline const char* bn_act_name(BnAct a) { return enum_name(a); }
// "x [4, 3, 3, 8], K 2, segments [[0, 2], [1, 2]], mode train", for error messages.
std::string bn_args_str(const BnArgs& a);
// The front-end's checks of the arguments (native/ops/batchnorm.cc): sane sizes, segments that
// cover [0, n) in order with count >= 1 and domain < k, finite eps > 0 and momentum in [0, 1].
// Throws advprop::Error naming `op`.
void check_bn_args(const char* op, const BnArgs& a);
inline Shape bn_x_shape(const BnArgs& a) { return {a.n, a.h, a.w, a.c}; }
inline Shape bn_param_shape(const BnArgs& a) { return {a.k, a.c}; }
inline Shape bn_stat_shape(const BnArgs& a) { return {static_cast<int64_t>(a.segments.size()), a.c}; }

// What the kernels index by (the front-ends establish it; every backend asserts it, so a failure
// is a bug in advprop): the args pass check_bn_args, and the x-like tensors hold N*H*W*C, the
// per-domain ones K*C and the per-segment ones S*C elements, contiguous, on x's device; the
// x-like ones of x's dtype, the others of its arithmetic dtype (f32 for a bf16 or f16 x).
inline bool bn_args_hold(const char* op, const BnArgs& a, const Tensor& x, std::initializer_list<const Tensor*> like_x,
                         std::initializer_list<const Tensor*> per_domain, std::initializer_list<const Tensor*> per_segment) {
  if (!passes(check_bn_args, op, a) || !x.defined()) return false;
  const int64_t sizes[3] = {a.n * a.h * a.w * a.c, a.k * a.c, static_cast<int64_t>(a.segments.size()) * a.c};
  int i = 0;
  for (const auto& group : {like_x, per_domain, per_segment}) {
    const DType dt = i == 0 ? x.dtype() : accum_dtype(x.dtype());
    for (const Tensor* t : group)
      if (!tensors_hold(dt, x.device(), {{t, sizes[i]}})) return false;
    ++i;
  }
  return true;
}

namespace ops {
// The checked front-end: builds the args from the shapes, checks everything, allocates the
// outputs and dispatches. Returns {y, mean, invstd}; mean/invstd [S, C] feed the backward.
struct BnForwardResult { Tensor y, mean, invstd; };
struct BnBackwardResult { Tensor dx, dgamma, dbeta; };
BnForwardResult multi_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                 Tensor& running_var, const std::vector<BnSegment>& segments, BnMode mode,
                                 BnAct act, double momentum, double eps, bool training_math = false);
BnBackwardResult multi_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                           const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                           const std::vector<BnSegment>& segments, BnMode mode, BnAct act,
                                           double eps);
}  // namespace ops

}  // namespace advprop
