// Front-end of the inference convolution: conv2d, then batch norm in eval mode with its
// activation, then a residual add (advprop/epilogue.h), fused into the convolution's epilogue
// where the kernels take one, else run as those three ops.
#include <cmath>
#include <string>

#include "advprop/batchnorm.h"
#include "advprop/epilogue.h"
#include "advprop/pool.h"
#include "checks.h"
#include "conv_checked.h"
#include "dispatch.h"

namespace advprop {
namespace ops {

Tensor conv2d_bn_eval(const Tensor& x, const Tensor& w, const Tensor& gamma, const Tensor& beta,
                      const Tensor& running_mean, const Tensor& running_var, int64_t domain, double eps, BnAct act,
                      const Tensor* residual, const Conv2dOptions& o, const Tensor* x_scale, Tensor* pooled,
                      const Tensor* x_affine) {
  const char* op = "conv2dBnEval";
  const Conv2dParams p = conv2d_params(op, x, w, o);
  if (x_scale)
    TensorArg(op, "xScale", *x_scale).float_input<MixedFloatTypes>().like(x, "x").shape({p.n, p.c_in}, "[N, Cin]", "x", &x.shape());
  if (x_affine) {
    if (x_scale) fail(ErrorCode::Arg, std::string(op) + ": xAffine and xScale are not taken together");
    TensorArg(op, "xAffine", *x_affine).float_input<MixedFloatTypes>().like(x, "x").contiguous().shape({2, p.c_in}, "[2, Cin]", "x", &x.shape());
  }
  check_enum(act, op);
  // Batch-norm parameters in x's arithmetic type (f32 for a 16-bit x), [K, Cout].
  const DType st = accum_dtype(x.dtype());
  TensorArg(op, "gamma", gamma).float_input().dtype(st).same_device_as(x, "x").rank(2, "[K, Cout]");
  const int64_t K = gamma.dim(0);
  const Shape ps{K, p.c_out};
  TensorArg(op, "gamma", gamma).shape(ps, "[K, Cout]", "w", &w.shape());
  for (const auto& [t, name] : {std::pair<const Tensor*, const char*>{&beta, "beta"}, {&running_mean, "runningMean"},
                                {&running_var, "runningVar"}})
    TensorArg(op, name, *t).float_input().dtype(st).same_device_as(x, "x").shape(ps, "[K, Cout]", "gamma", &gamma.shape());
  if (domain < 0 || domain >= K)
    fail(ErrorCode::Arg, std::string(op) + ": domain " + std::to_string(domain) + " is not one of the " +
                             std::to_string(K) + " domain(s) of gamma " + shape_str(gamma.shape()));
  if (!(std::isfinite(eps) && eps > 0))
    fail(ErrorCode::Arg, std::string(op) + ": eps must be a finite number > 0, got " + std::to_string(eps));
  const Shape ys = conv_y_shape(p);
  if (residual) TensorArg(op, "residual", *residual).float_input<MixedFloatTypes>().like(x, "x").shape(ys, "[N, OH, OW, Cout]");
  const auto pool_of = [&](Tensor y) {
    if (pooled) *pooled = global_avg_pool(y);
    return y;
  };
  const bool pointwise = conv2d_is_pointwise(p);
  // The input affine goes into the implicit GEMM's gather; elsewhere it is the two ops, and x
  // their result from here on.
  const bool gathers = conv2d_is_implicit_gemm(p, x.dtype()) && p.n * p.out_h * p.out_w * p.c_out > 0;
  const Tensor xa = x_affine && !gathers ? binary(BinaryOp::add, binary(BinaryOp::mul, x, x_affine->slice0(0, 1).reshape({p.c_in})),
                                                  x_affine->slice0(1, 1).reshape({p.c_in}))
                                         : x;
  if (p.n * p.out_h * p.out_w * p.c_out == 0) return pool_of(conv2d_checked(xa, w, nullptr, p, nullptr));

  if (!conv2d_takes_epilogue(p, x.dtype()) || (x_scale && !pointwise)) {
    // The same ops the fused path reproduces.
    const Tensor xs = x_scale ? channel_scale(xa, *x_scale) : xa;
    Tensor y = conv2d_checked(xs, w, nullptr, p, nullptr);
    Tensor rm = running_mean, rv = running_var;
    y = multi_batch_norm(y, gamma, beta, rm, rv, {BnSegment{domain, 0, p.n}}, BnMode::eval, act, 0.99, eps).y;
    return pool_of(residual ? binary(BinaryOp::add, y, *residual) : y);
  }
  Tensor affine = Tensor::empty({3, p.c_out}, x.dtype(), x.device());
  ADVPROP_DISPATCH(x.device(), bn_eval_affine, gamma, beta, running_mean, running_var, domain, eps, affine);
  Epilogue e;
  e.affine = &affine, e.act = act, e.residual = residual;
  // The GEMM multiplies each element of A by its gate as it reads it (cpu: while packing A, or in
  // the micro-kernel where A is read in place), so the channel scale is no pass of its own.
  if (x_scale) e.in_scale = x_scale, e.in_scale_rows = p.h * p.w;
  if (x_affine && gathers) e.in_affine = x_affine;
  Tensor pool;
  bool pool_done = false;
  if (pooled) {
    pool = Tensor::empty({p.n, p.c_out}, x.dtype(), x.device());
    e.pool = &pool, e.pool_done = &pool_done;
  }
  Tensor y = conv2d_checked(xa, w, nullptr, p, &e);
  if (pooled) *pooled = pool_done ? pool : global_avg_pool(y);
  return y;
}

}  // namespace ops
}  // namespace advprop
