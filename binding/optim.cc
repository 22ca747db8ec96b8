// Optimizer entries: lists of tensor handles updated in place (advprop/optim.h). They return
// undefined; the handles keep pointing at the same, now updated, storage.
#include <string>
#include <vector>

#include "advprop/optim.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {
namespace {

std::vector<uint8_t> to_flags(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsArray()) throw_arg(std::string(op) + ": argument '" + arg + "' must be an array of booleans");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<uint8_t> out(a.Length());
  for (uint32_t i = 0; i < out.size(); ++i) {
    Napi::Value v = a.Get(i);
    if (v.IsBoolean()) {
      out[i] = v.As<Napi::Boolean>().Value() ? 1 : 0;
      continue;
    }
    const std::string name = std::string(arg) + "[" + std::to_string(i) + "]";
    out[i] = to_bool(v, op, name.c_str()) ? 1 : 0;
  }
  return out;
}

// An optional trailing device scalar (advprop/optim.h): a tensor handle, or undefined/null for none.
advprop::Tensor scalar_at(const Napi::CallbackInfo& info, size_t index, const char* op, const char* arg) {
  if (info.Length() <= index || info[index].IsUndefined() || info[index].IsNull()) return advprop::Tensor();
  return TensorHandle::From(info, index, op, arg);
}

}  // namespace

// rmspropUpdate(params[], grads[], ms[], mom[], decay: boolean[], lr, rho, momentum, eps, weightDecay, lrAt?)
ADVPROP_ENTRY(RmspropUpdate)
  const char* op = "rmspropUpdate";
  check_arg_count(info, 10, op);
  advprop::RmspropHyper h;
  to_numbers(info, 5, op, {{&h.lr, "lr"}, {&h.rho, "rho"}, {&h.momentum, "momentum"}, {&h.eps, "eps"},
                           {&h.weight_decay, "weightDecay"}});
  h.lr_at = scalar_at(info, 10, op, "lr");
  advprop::ops::rmsprop_update(to_tensors(info[0], op, "params"), to_tensors(info[1], op, "grads"),
                               to_tensors(info[2], op, "ms"), to_tensors(info[3], op, "mom"),
                               to_flags(info[4], op, "decay"), h);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

// sgdUpdate(params[], grads[], bufs[], decay: boolean[], lr, momentum, weightDecay, nesterov, lrAt?)
ADVPROP_ENTRY(SgdUpdate)
  const char* op = "sgdUpdate";
  check_arg_count(info, 8, op);
  advprop::SgdHyper h;
  to_numbers(info, 4, op, {{&h.lr, "lr"}, {&h.momentum, "momentum"}, {&h.weight_decay, "weightDecay"}});
  h.nesterov = to_bool(info[7], op, "nesterov");
  h.lr_at = scalar_at(info, 8, op, "lr");
  advprop::ops::sgd_update(to_tensors(info[0], op, "params"), to_tensors(info[1], op, "grads"),
                           to_tensors(info[2], op, "bufs"), to_flags(info[3], op, "decay"), h);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

// emaUpdate(emas[], sources[], decay: number | tensor handle)
ADVPROP_ENTRY(EmaUpdate)
  const char* op = "emaUpdate";
  check_arg_count(info, 3, op);
  const bool number = info[2].IsNumber();
  const double decay = number ? to_number(info[2], op, "decay") : 0;
  const advprop::Tensor at = number ? advprop::Tensor() : TensorHandle::From(info, 2, op, "decay");
  advprop::ops::ema_update(to_tensors(info[0], op, "emas"), to_tensors(info[1], op, "sources"), decay, at);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

}  // namespace advprop_binding
