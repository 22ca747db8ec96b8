// Entries of the PGD and dropout kernels: parse arguments, call advprop::ops, wrap the result.
#include <string>

#include "advprop/attack.h"
#include "advprop/dropout.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {

using advprop::Tensor;

namespace {

// eps / alpha: a number, or a per-sample tensor (kept alive by its handle for the call).
void scalar_or_tensor(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg, double* s,
                      const Tensor** t) {
  if (info[i].IsNumber()) *s = to_number(info[i], op, arg);
  else *t = &TensorHandle::From(info, i, op, arg);
}

// An optional trailing [segment, stride, base] (advprop/sample_map.h); absent or undefined: identity.
advprop::SampleMap sample_map(const Napi::CallbackInfo& info, size_t i, const char* op) {
  advprop::SampleMap m;
  if (info.Length() <= i || info[i].IsUndefined()) return m;
  const Napi::Value v = info[i];
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 3)
    throw_arg(std::string(op) + ": argument 'samples' must be [segment, stride, base]");
  const Napi::Array a = v.As<Napi::Array>();
  m.seg = to_seed(a.Get(0u), op, "samples.segment");
  m.stride = to_seed(a.Get(1u), op, "samples.stride");
  m.base = to_seed(a.Get(2u), op, "samples.base");
  return m;
}

}  // namespace

// (xAdv, grad, x, eps, alpha, min, max, norm)
ADVPROP_ENTRY(PgdStep)
  const char* op = "pgdStep";
  check_arg_count(info, 8, op);
  const Tensor& xa = TensorHandle::From(info, 0, op, "xAdv");
  const Tensor& g = TensorHandle::From(info, 1, op, "grad");
  const Tensor& x = TensorHandle::From(info, 2, op, "x");
  advprop::PgdArgs a;
  scalar_or_tensor(info, 3, op, "eps", &a.eps, &a.eps_t);
  scalar_or_tensor(info, 4, op, "alpha", &a.alpha, &a.alpha_t);
  a.lo = to_number(info[5], op, "min");
  a.hi = to_number(info[6], op, "max");
  a.norm = to_enum<advprop::AttackNorm>(info[7], op, "norm");
  return TensorHandle::Wrap(info.Env(), advprop::ops::pgd_step(xa, g, x, a));
ADVPROP_ENTRY_END

// (x, eps, min, max, norm, seed, offset[, samples])
ADVPROP_ENTRY(PgdRandomStart)
  const char* op = "pgdRandomStart";
  check_arg_count(info, 7, op);
  const Tensor& x = TensorHandle::From(info, 0, op, "x");
  advprop::PgdArgs a;
  scalar_or_tensor(info, 1, op, "eps", &a.eps, &a.eps_t);
  a.lo = to_number(info[2], op, "min");
  a.hi = to_number(info[3], op, "max");
  a.norm = to_enum<advprop::AttackNorm>(info[4], op, "norm");
  a.map = sample_map(info, 7, op);
  return TensorHandle::Wrap(info.Env(), advprop::ops::pgd_random_start(x, a, to_seed(info[5], op, "seed"),
                                                                        to_seed(info[6], op, "offset")));
ADVPROP_ENTRY_END

// (x, rate, perSample, seed, offset[, samples])
ADVPROP_ENTRY(Dropout)
  check_arg_count(info, 5, "dropout");
  const bool per_sample = to_bool(info[2], "dropout", "perSample");
  const char* op = per_sample ? "dropConnect" : "dropout";
  const Tensor& x = TensorHandle::From(info, 0, op, "x");
  return TensorHandle::Wrap(info.Env(), advprop::ops::dropout(x, to_number(info[1], op, "rate"), per_sample,
                                                              to_seed(info[3], op, "seed"), to_seed(info[4], op, "offset"),
                                                              sample_map(info, 5, op)));
ADVPROP_ENTRY_END

// (h, residual, rate, seed, offset[, samples])
ADVPROP_ENTRY(DropConnectAdd)
  const char* op = "dropConnectAdd";
  check_arg_count(info, 5, op);
  const Tensor& h = TensorHandle::From(info, 0, op, "h");
  const Tensor& r = TensorHandle::From(info, 1, op, "residual");
  return TensorHandle::Wrap(info.Env(), advprop::ops::drop_connect_add(h, r, to_number(info[2], op, "rate"),
                                                                       to_seed(info[3], op, "seed"), to_seed(info[4], op, "offset"),
                                                              sample_map(info, 5, op)));
ADVPROP_ENTRY_END

}  // namespace advprop_binding
