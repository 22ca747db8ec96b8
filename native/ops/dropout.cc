// Front-end of dropout / drop-connect (with or without a residual): checks, output allocation,
// dispatch.
#include <string>

#include "advprop/dropout.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

void check_rate(double rate, const char* op) {
  if (!(rate >= 0 && rate < 1))
    fail(ErrorCode::Arg, std::string(op) + ": 'rate' must be in [0, 1), got " + std::to_string(rate));
}

void check_batch(const Tensor& x, const char* op, const char* arg) {
  if (x.ndim() < 1)
    fail(ErrorCode::Shape, std::string(op) + ": " + arg + " must have a batch dimension, got " + shape_str(x.shape()));
}

// The plan of one call: rate and mode checked, the sample size of drop-connect worked out (left
// 0 for an empty x, which is never dispatched).
DropoutPlan make_plan(const Tensor& x, double rate, bool per_sample, uint64_t seed, uint64_t offset,
                      const SampleMap& map, const char* op, const char* arg) {
  check_rate(rate, op);
  check_sample_map(map, op);
  DropoutPlan p;
  p.map = map;
  if (!map.identity()) {
    check_batch(x, op, arg);
    p.row = x.numel() ? x.numel() / x.dim(0) : 0;
  }
  p.keep = 1.0 - rate;
  p.seed = seed;
  p.offset = offset;
  if (per_sample) {
    check_batch(x, op, arg);
    p.sample = x.numel() ? x.numel() / x.dim(0) : 0;
  }
  return p;
}

}  // namespace

Tensor dropout(const Tensor& x, double rate, bool per_sample, uint64_t seed, uint64_t offset, const SampleMap& map) {
  const char* op = per_sample ? "dropConnect" : "dropout";
  check_float_input<MixedFloatTypes>(x, op, "x");
  const DropoutPlan p = make_plan(x, rate, per_sample, seed, offset, map, op, "x");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel()) ADVPROP_DISPATCH(x.device(), dropout, x, p, out);
  return out;
}

Tensor drop_connect_add(const Tensor& h, const Tensor& residual, double rate, uint64_t seed, uint64_t offset,
                        const SampleMap& map) {
  const char* op = "dropConnectAdd";
  check_float_input<MixedFloatTypes>(h, op, "h");
  check_float_input<MixedFloatTypes>(residual, op, "residual");
  check_same_device(h, residual, op, "h", "residual");
  check_same_dtype(h, residual, op, "h", "residual");
  check_same_shape(h, residual, op, "h", "residual");
  DropoutPlan p = make_plan(h, rate, true, seed, offset, map, op, "h");
  p.residual = &residual;
  Tensor out = Tensor::empty(h.shape(), h.dtype(), h.device());
  if (out.numel()) ADVPROP_DISPATCH(h.device(), dropout, h, p, out);
  return out;
}

}  // namespace ops
}  // namespace advprop
