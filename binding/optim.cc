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

advprop::TensorList to_tensor_list(Napi::Env env, Napi::Value v, const char* op, const char* arg) {
  if (!v.IsArray()) throw_arg(std::string(op) + ": argument '" + arg + "' must be an array of tensor handles");
  Napi::Array a = v.As<Napi::Array>();
  advprop::TensorList out;
  out.reserve(a.Length());
  const uint32_t n = a.Length();
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value v = a.Get(i);
    if (const advprop::Tensor* t = TensorHandle::TryFrom(env, v)) {
      out.push_back(*t);
      continue;
    }
    const std::string name = std::string(arg) + "[" + std::to_string(i) + "]";
    out.push_back(TensorHandle::FromValue(env, v, op, name.c_str()));
  }
  return out;
}

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

}  // namespace

// rmspropUpdate(params[], grads[], ms[], mom[], decay: boolean[], lr, rho, momentum, eps, weightDecay)
ADVPROP_ENTRY(RmspropUpdate)
  const char* op = "rmspropUpdate";
  check_arg_count(info, 10, op);
  Napi::Env env = info.Env();
  advprop::RmspropHyper h;
  h.lr = to_number(info[5], op, "lr");
  h.rho = to_number(info[6], op, "rho");
  h.momentum = to_number(info[7], op, "momentum");
  h.eps = to_number(info[8], op, "eps");
  h.weight_decay = to_number(info[9], op, "weightDecay");
  advprop::ops::rmsprop_update(to_tensor_list(env, info[0], op, "params"), to_tensor_list(env, info[1], op, "grads"),
                               to_tensor_list(env, info[2], op, "ms"), to_tensor_list(env, info[3], op, "mom"),
                               to_flags(info[4], op, "decay"), h);
  return env.Undefined();
ADVPROP_ENTRY_END

// sgdUpdate(params[], grads[], bufs[], decay: boolean[], lr, momentum, weightDecay, nesterov)
ADVPROP_ENTRY(SgdUpdate)
  const char* op = "sgdUpdate";
  check_arg_count(info, 8, op);
  Napi::Env env = info.Env();
  advprop::SgdHyper h;
  h.lr = to_number(info[4], op, "lr");
  h.momentum = to_number(info[5], op, "momentum");
  h.weight_decay = to_number(info[6], op, "weightDecay");
  h.nesterov = to_bool(info[7], op, "nesterov");
  advprop::ops::sgd_update(to_tensor_list(env, info[0], op, "params"), to_tensor_list(env, info[1], op, "grads"),
                           to_tensor_list(env, info[2], op, "bufs"), to_flags(info[3], op, "decay"), h);
  return env.Undefined();
ADVPROP_ENTRY_END

// emaUpdate(emas[], sources[], decay)
ADVPROP_ENTRY(EmaUpdate)
  const char* op = "emaUpdate";
  check_arg_count(info, 3, op);
  Napi::Env env = info.Env();
  const double decay = to_number(info[2], op, "decay");
  advprop::ops::ema_update(to_tensor_list(env, info[0], op, "emas"), to_tensor_list(env, info[1], op, "sources"), decay);
  return env.Undefined();
ADVPROP_ENTRY_END

}  // namespace advprop_binding
