// Multi-domain batch-norm entries: parse the segments and options, call advprop::ops, wrap the
// results. No math here.
#include <string>
#include <vector>

#include "advprop/batchnorm.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {
namespace {

using advprop::Tensor;

// [[domain, count], ...] -> segments with their start samples. Only the form is checked here:
// domains, counts and how they cover the batch are the front-end's (check_bn_args).
std::vector<advprop::BnSegment> to_segments(Napi::Value v, const char* op) {
  if (!v.IsArray()) throw_arg(std::string(op) + ": segments must be an array of [domain, count] pairs");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<advprop::BnSegment> out;
  int64_t start = 0;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    const std::string name = "segments[" + std::to_string(i) + "]";
    if (!e.IsArray() || e.As<Napi::Array>().Length() != 2)
      throw_arg(std::string(op) + ": " + name + " must be a [domain, count] pair");
    Napi::Array pair = e.As<Napi::Array>();
    advprop::BnSegment s;
    s.domain = to_i64(pair.Get(0u), op, (name + "[0] (domain)").c_str());
    s.count = to_i64(pair.Get(1u), op, (name + "[1] (count)").c_str());
    s.start = start;
    // Wraps rather than overflows on absurd counts; the front-end refuses the first bad one.
    start = static_cast<int64_t>(static_cast<uint64_t>(start) + static_cast<uint64_t>(s.count));
    out.push_back(s);
  }
  return out;
}

}  // namespace

// (x, gamma, beta, runningMean, runningVar, segments, mode, act, momentum, eps[, trainingMath])
// -> [y, mean, invstd]. The running statistics are written in place in 'train' mode.
ADVPROP_ENTRY(MultiBatchNorm)
  const char* op = "multiBatchNorm";
  check_arg_count(info, 10, op);
  const Tensor& x = TensorHandle::From(info, 0, op, "x");
  const Tensor& gamma = TensorHandle::From(info, 1, op, "gamma");
  const Tensor& beta = TensorHandle::From(info, 2, op, "beta");
  Tensor rm = TensorHandle::From(info, 3, op, "runningMean");  // a view of the same storage
  Tensor rv = TensorHandle::From(info, 4, op, "runningVar");
  auto segs = to_segments(info[5], op);
  const auto mode = to_enum<advprop::BnMode>(info[6], op, "mode");
  const auto act = to_enum<advprop::BnAct>(info[7], op, "act");
  const bool training_math = info.Length() > 10 && !info[10].IsUndefined() && to_bool(info[10], op, "trainingMath");
  auto r = advprop::ops::multi_batch_norm(x, gamma, beta, rm, rv, segs, mode, act, to_number(info[8], op, "momentum"),
                                          to_number(info[9], op, "eps"), training_math);
  return wrap_all(info, {r.y, r.mean, r.invstd});
ADVPROP_ENTRY_END

// (dy, x, gamma, beta, mean, invstd, segments, mode, act, eps) -> [dx, dgamma, dbeta].
ADVPROP_ENTRY(MultiBatchNormBackward)
  const char* op = "multiBatchNormBackward";
  check_arg_count(info, 10, op);
  const Tensor& dy = TensorHandle::From(info, 0, op, "dy");
  const Tensor& x = TensorHandle::From(info, 1, op, "x");
  const Tensor& gamma = TensorHandle::From(info, 2, op, "gamma");
  const Tensor& beta = TensorHandle::From(info, 3, op, "beta");
  const Tensor& mean = TensorHandle::From(info, 4, op, "mean");
  const Tensor& invstd = TensorHandle::From(info, 5, op, "invstd");
  auto segs = to_segments(info[6], op);
  const auto mode = to_enum<advprop::BnMode>(info[7], op, "mode");
  const auto act = to_enum<advprop::BnAct>(info[8], op, "act");
  auto r = advprop::ops::multi_batch_norm_backward(dy, x, gamma, beta, mean, invstd, segs, mode, act,
                                                   to_number(info[9], op, "eps"));
  return wrap_all(info, {r.dx, r.dgamma, r.dbeta});
ADVPROP_ENTRY_END

}  // namespace advprop_binding
