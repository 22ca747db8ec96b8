// The exported C functions (advprop/advprop.h): wrap the caller's memory, check the outputs,
// call the checked front-ends (the same ones the Node binding calls) on the library's stream and
// copy the results out.
#include <string>
#include <vector>

#include "advprop/advprop.h"
#include "advprop/attack.h"
#include "advprop/batchnorm.h"
#include "advprop/ops.h"
#include "common.h"

#ifndef ADVPROP_VERSION
#define ADVPROP_VERSION "unknown"
#endif

namespace advprop {
namespace capi {
namespace {

static_assert(ADVPROP_BN_TRAIN == static_cast<int>(BnMode::train) && ADVPROP_BN_TRAIN_FROZEN == static_cast<int>(BnMode::train_frozen) &&
                  ADVPROP_BN_EVAL == static_cast<int>(BnMode::eval) && ADVPROP_ACT_NONE == static_cast<int>(BnAct::none) &&
                  ADVPROP_ACT_SILU == static_cast<int>(BnAct::silu) && ADVPROP_ACT_RELU == static_cast<int>(BnAct::relu) &&
                  ADVPROP_LINF == static_cast<int>(AttackNorm::linf) && ADVPROP_L2 == static_cast<int>(AttackNorm::l2) &&
                  ADVPROP_PAD_SAME == static_cast<int>(ConvPadding::same) &&
                  ADVPROP_PAD_VALID == static_cast<int>(ConvPadding::valid) &&
                  ADVPROP_PAD_EXPLICIT == static_cast<int>(ConvPadding::explicit_),
              "the C enums must match the C++ ones (values are cast across)");

std::vector<BnSegment> segments_of(const char* op, const advprop_bn_segment* s, int32_t n) {
  if (n < 1 || !s) fail(ErrorCode::Arg, std::string(op) + ": need at least one segment, got " + std::to_string(n) + (s ? "" : " (NULL)"));
  std::vector<BnSegment> v(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) v[i] = BnSegment{s[i].domain, s[i].start, s[i].count};
  return v;
}

// The C enums hold the values of the C++ lists; anything else is ERR_ARG naming the list.
template <typename E>
E enum_of(const char* op, int32_t v) {
  check_enum(static_cast<E>(v), op);
  return static_cast<E>(v);
}

// [S, C] when x is NHWC (otherwise the front-end reports x's shape first).
Shape stat_shape(const Tensor& x, size_t segments) {
  return {static_cast<int64_t>(segments), x.ndim() == 4 ? x.dim(3) : -1};
}

ops::Conv2dOptions conv_options(const char* op, const advprop_conv2d_options* o) {
  if (!o) fail(ErrorCode::Arg, std::string(op) + ": 'options' is NULL");
  ops::Conv2dOptions r;
  r.padding = enum_of<ConvPadding>(op, o->padding);
  for (int i = 0; i < 4; ++i) r.pad[i] = o->pad[i];
  r.stride_h = o->stride_h, r.stride_w = o->stride_w, r.dil_h = o->dil_h, r.dil_w = o->dil_w, r.groups = o->groups;
  return r;
}

// A convolution gradient entry: the output `out` has the caller's shape (x's for the input
// gradient, w's for the weight gradient), so it is checked against dy before anything runs.
using ConvGradient = Tensor (*)(const Tensor& dy, const Tensor& other, const Shape& out_shape, const ops::Conv2dOptions& o);
advprop_status conv_gradient(const char* op, ConvGradient grad, const advprop_tensor* dy, const char* other_name,
                             const advprop_tensor* other, const advprop_conv2d_options* options, const char* out_name,
                             const advprop_tensor* out, void* stream) {
  return guarded(op, [&] {
    const Tensor tdy = wrap(op, "dy", dy), tother = wrap(op, other_name, other), tout = wrap(op, out_name, out);
    const ops::Conv2dOptions o = conv_options(op, options);
    check_out(op, out_name, tout, tout.shape(), tdy.dtype(), tdy.device());
    StreamBridge bridge(tdy.device(), stream);
    copy_out(op, out_name, grad(tdy, tother, tout.shape(), o), tout);
    bridge.finish();
  });
}

}  // namespace
}  // namespace capi
}  // namespace advprop

using namespace advprop;
using namespace advprop::capi;

extern "C" {

ADVPROP_API const char* advprop_version(void) { return ADVPROP_VERSION; }

ADVPROP_API const char* advprop_last_error(void) { return last_error(); }

ADVPROP_API advprop_status advprop_cast(const advprop_tensor* src, const advprop_tensor* dst, void* stream) {
  const char* op = "advprop_cast";
  return guarded(op, [&] {
    const Tensor ts = wrap(op, "src", src), td = wrap(op, "dst", dst);
    check_out(op, "dst", td, ts.shape(), td.dtype(), ts.device());
    StreamBridge bridge(ts.device(), stream);
    copy_out(op, "dst", ops::cast(ts, td.dtype()), td);
    bridge.finish();
  });
}

ADVPROP_API advprop_status advprop_multi_batch_norm_forward(
    const advprop_tensor* x, const advprop_tensor* gamma, const advprop_tensor* beta,
    const advprop_tensor* running_mean, const advprop_tensor* running_var, const advprop_bn_segment* segments,
    int32_t num_segments, int32_t mode, int32_t act, double momentum, double eps, const advprop_tensor* y,
    const advprop_tensor* mean, const advprop_tensor* invstd, void* stream) {
  const char* op = "advprop_multi_batch_norm_forward";
  return guarded(op, [&] {
    const Tensor tx = wrap(op, "x", x), tg = wrap(op, "gamma", gamma), tb = wrap(op, "beta", beta);
    Tensor trm = wrap(op, "running_mean", running_mean), trv = wrap(op, "running_var", running_var);
    const Tensor ty = wrap(op, "y", y), tm = wrap(op, "mean", mean), ti = wrap(op, "invstd", invstd);
    const std::vector<BnSegment> segs = segments_of(op, segments, num_segments);
    const BnMode m = enum_of<BnMode>(op, mode);
    const BnAct a = enum_of<BnAct>(op, act);
    check_out(op, "y", ty, tx.shape(), tx.dtype(), tx.device());
    // The statistics of 16-bit data are f32 (advprop/batchnorm.h).
    check_out(op, "mean", tm, stat_shape(tx, segs.size()), accum_dtype(tx.dtype()), tx.device());
    check_out(op, "invstd", ti, stat_shape(tx, segs.size()), accum_dtype(tx.dtype()), tx.device());
    StreamBridge bridge(tx.device(), stream);
    const ops::BnForwardResult r = ops::multi_batch_norm(tx, tg, tb, trm, trv, segs, m, a, momentum, eps);
    copy_out(op, "y", r.y, ty);
    copy_out(op, "mean", r.mean, tm);
    copy_out(op, "invstd", r.invstd, ti);
    bridge.finish();
  });
}

ADVPROP_API advprop_status advprop_multi_batch_norm_backward(
    const advprop_tensor* dy, const advprop_tensor* x, const advprop_tensor* gamma, const advprop_tensor* beta,
    const advprop_tensor* mean, const advprop_tensor* invstd, const advprop_bn_segment* segments, int32_t num_segments,
    int32_t mode, int32_t act, double eps, const advprop_tensor* dx, const advprop_tensor* dgamma,
    const advprop_tensor* dbeta, void* stream) {
  const char* op = "advprop_multi_batch_norm_backward";
  return guarded(op, [&] {
    const Tensor tdy = wrap(op, "dy", dy), tx = wrap(op, "x", x), tg = wrap(op, "gamma", gamma),
                 tb = wrap(op, "beta", beta), tm = wrap(op, "mean", mean), ti = wrap(op, "invstd", invstd);
    const Tensor tdx = wrap(op, "dx", dx), tdg = wrap(op, "dgamma", dgamma), tdb = wrap(op, "dbeta", dbeta);
    const std::vector<BnSegment> segs = segments_of(op, segments, num_segments);
    const BnMode m = enum_of<BnMode>(op, mode);
    const BnAct a = enum_of<BnAct>(op, act);
    check_out(op, "dx", tdx, tx.shape(), tx.dtype(), tx.device());
    check_out(op, "dgamma", tdg, tg.shape(), accum_dtype(tx.dtype()), tx.device());
    check_out(op, "dbeta", tdb, tg.shape(), accum_dtype(tx.dtype()), tx.device());
    StreamBridge bridge(tx.device(), stream);
    const ops::BnBackwardResult r = ops::multi_batch_norm_backward(tdy, tx, tg, tb, tm, ti, segs, m, a, eps);
    copy_out(op, "dx", r.dx, tdx);
    copy_out(op, "dgamma", r.dgamma, tdg);
    copy_out(op, "dbeta", r.dbeta, tdb);
    bridge.finish();
  });
}

ADVPROP_API advprop_status advprop_pgd_step(const advprop_tensor* x_adv, const advprop_tensor* grad,
                                            const advprop_tensor* x, int32_t norm, double eps, double alpha,
                                            double lo, double hi, const advprop_tensor* eps_per_sample,
                                            const advprop_tensor* alpha_per_sample, const advprop_tensor* out,
                                            void* stream) {
  const char* op = "advprop_pgd_step";
  return guarded(op, [&] {
    const Tensor txa = wrap(op, "x_adv", x_adv), tg = wrap(op, "grad", grad), tx = wrap(op, "x", x);
    const Tensor te = wrap_optional(op, "eps_per_sample", eps_per_sample);
    const Tensor ta = wrap_optional(op, "alpha_per_sample", alpha_per_sample);
    const Tensor tout = wrap(op, "out", out);
    PgdArgs a;
    a.norm = enum_of<AttackNorm>(op, norm);
    a.eps = eps, a.alpha = alpha, a.lo = lo, a.hi = hi;
    a.eps_t = te.defined() ? &te : nullptr;
    a.alpha_t = ta.defined() ? &ta : nullptr;
    check_out(op, "out", tout, tx.shape(), tx.dtype(), tx.device());
    StreamBridge bridge(tx.device(), stream);
    copy_out(op, "out", ops::pgd_step(txa, tg, tx, a), tout);
    bridge.finish();
  });
}

ADVPROP_API advprop_status advprop_conv2d_forward(const advprop_tensor* x, const advprop_tensor* w,
                                                  const advprop_tensor* bias, const advprop_conv2d_options* options,
                                                  const advprop_tensor* y, void* stream) {
  const char* op = "advprop_conv2d_forward";
  return guarded(op, [&] {
    const Tensor tx = wrap(op, "x", x), tw = wrap(op, "w", w), tb = wrap_optional(op, "bias", bias);
    const Tensor ty = wrap(op, "y", y);
    const ops::Conv2dOptions o = conv_options(op, options);
    StreamBridge bridge(tx.device(), stream);
    // The output shape depends on the padding rule: the front-end computes it, the copy checks it.
    copy_out(op, "y", ops::conv2d(tx, tw, tb.defined() ? &tb : nullptr, o), ty);
    bridge.finish();
  });
}

ADVPROP_API advprop_status advprop_conv2d_backward_input(const advprop_tensor* dy, const advprop_tensor* w,
                                                         const advprop_conv2d_options* options,
                                                         const advprop_tensor* dx, void* stream) {
  return conv_gradient("advprop_conv2d_backward_input", ops::conv2d_backward_input, dy, "w", w, options, "dx", dx, stream);
}

ADVPROP_API advprop_status advprop_conv2d_backward_weight(const advprop_tensor* dy, const advprop_tensor* x,
                                                          const advprop_conv2d_options* options,
                                                          const advprop_tensor* dw, void* stream) {
  return conv_gradient("advprop_conv2d_backward_weight", ops::conv2d_backward_weight, dy, "x", x, options, "dw", dw, stream);
}

}  // extern "C"
