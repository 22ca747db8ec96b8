// Argument parsing and error translation for the binding entries. Every entry is wrapped by
// Entry(), which turns advprop::Error into a JS error with `code` and name 'AdvpropError'.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "advprop/device.h"
#include "advprop/dtype.h"
#include "advprop/enum_table.h"
#include "advprop/error.h"
#include "advprop/tensor.h"

namespace advprop_binding {

[[noreturn]] void throw_arg(const std::string& msg);
void check_arg_count(const Napi::CallbackInfo& info, size_t n, const char* op);

advprop::Shape to_shape(Napi::Value v, const char* op, const char* arg, bool allow_minus_one = false);
advprop::DType to_dtype(Napi::Value v, const char* op, const char* arg);
advprop::Device to_device(Napi::Value v, const char* op, const char* arg);
double to_number(Napi::Value v, const char* op, const char* arg);
int64_t to_int(Napi::Value v, const char* op, const char* arg, int64_t lo, int64_t hi);
uint64_t to_seed(Napi::Value v, const char* op, const char* arg);
bool to_bool(Napi::Value v, const char* op, const char* arg);
std::string to_string(Napi::Value v, const char* op, const char* arg);
std::vector<int> to_axes(Napi::Value v, const char* op, const char* arg);

// A name from one of the native lists (advprop/enum_table.h); anything else is ERR_ARG naming
// the accepted ones.
template <typename E>
E to_enum(Napi::Value v, const char* op, const char* arg) {
  const std::string s = to_string(v, op, arg);
  E e{};
  if (!advprop::enum_from_name(s, &e))
    throw_arg(std::string(op) + ": '" + arg + "' must be one of " + advprop::enum_names_joined<E>() + ", got '" + s +
              "'");
  return e;
}

Napi::Array shape_to_js(Napi::Env env, const advprop::Shape& s);
Napi::Error make_error(Napi::Env env, const char* code, const std::string& message);
// What to add to an ERR_OOM message: how many handles are alive, and how to free them.
std::string oom_hint(Napi::Env env);

// Runs fn and translates native exceptions. Napi::Error passes through unchanged.
template <typename F>
Napi::Value Guard(const Napi::CallbackInfo& info, F&& fn) {
  Napi::Env env = info.Env();
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const advprop::Error& e) {
    if (e.code() == advprop::ErrorCode::OOM) throw make_error(env, "ERR_OOM", e.what() + oom_hint(env));
    throw make_error(env, advprop::error_code_name(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    throw make_error(env, "ERR_OOM", "out of host memory" + oom_hint(env));
  } catch (const std::exception& e) {
    throw make_error(env, "ERR_INTERNAL", std::string("internal error: ") + e.what());
  }
}

#define ADVPROP_ENTRY(name) \
  Napi::Value name(const Napi::CallbackInfo& info) { return Guard(info, [&]() -> Napi::Value {
#define ADVPROP_ENTRY_END \
  });                     \
  }

}  // namespace advprop_binding
