// Front-end of dropout / drop-connect: checks, output allocation, dispatch.
#include <string>

#include "advprop/dropout.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {

Tensor dropout(const Tensor& x, double rate, bool per_sample, uint64_t seed, uint64_t offset) {
  const char* op = per_sample ? "dropConnect" : "dropout";
  check_float_input(x, op, "x");
  if (!(rate >= 0 && rate < 1))
    fail(ErrorCode::Arg, std::string(op) + ": 'rate' must be in [0, 1), got " + std::to_string(rate));
  if (per_sample && x.ndim() < 1)
    fail(ErrorCode::Shape, std::string(op) + ": x must have a batch dimension, got " + shape_str(x.shape()));
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel()) ADVPROP_DISPATCH(x.device(), dropout, x, rate, per_sample, seed, offset, out);
  return out;
}

}  // namespace ops
}  // namespace advprop
