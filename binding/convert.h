// What the binding entries share: converting JS arguments to C++ values, wrapping results in
// handles, and error translation. An entry only converts and calls advprop::ops: the values are
// the front-end's to check (docs/ARCHITECTURE.md, "who checks what"). Every entry runs inside
// Guard (ADVPROP_ENTRY), which turns advprop::Error into a JS error with `code` and name
// 'AdvpropError'.
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "advprop/device.h"
#include "advprop/dtype.h"
#include "advprop/enum_table.h"
#include "advprop/error.h"
#include "advprop/tensor.h"
#include "handle.h"

namespace advprop_binding {

[[noreturn]] void throw_arg(const std::string& msg);
void check_arg_count(const Napi::CallbackInfo& info, size_t n, const char* op);

// The typed array type of each element type an entry takes from JavaScript, and its name.
template <typename T>
struct TypedArrayOf;
#define ADVPROP_TYPED_ARRAY(T, TYPE, NAME)                         \
  template <>                                                      \
  struct TypedArrayOf<T> {                                         \
    static constexpr napi_typedarray_type type = TYPE;             \
    static constexpr const char* name = NAME;                      \
  };
ADVPROP_TYPED_ARRAY(uint8_t, napi_uint8_array, "Uint8Array")
ADVPROP_TYPED_ARRAY(uint16_t, napi_uint16_array, "Uint16Array")
ADVPROP_TYPED_ARRAY(uint32_t, napi_uint32_array, "Uint32Array")
ADVPROP_TYPED_ARRAY(int, napi_int32_array, "Int32Array")
ADVPROP_TYPED_ARRAY(float, napi_float32_array, "Float32Array")
ADVPROP_TYPED_ARRAY(double, napi_float64_array, "Float64Array")
#undef ADVPROP_TYPED_ARRAY

// v as a typed array of T, or ERR_ARG "op: argument 'arg' must be a <Name>".
template <typename T>
Napi::TypedArrayOf<T> to_typed_array(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayOf<T>::type)
    throw_arg(std::string(op) + ": argument '" + arg + "' must be a " + TypedArrayOf<T>::name);
  return v.As<Napi::TypedArrayOf<T>>();
}

advprop::Shape to_shape(Napi::Value v, const char* op, const char* arg, bool allow_minus_one = false);
advprop::DType to_dtype(Napi::Value v, const char* op, const char* arg);
advprop::Device to_device(Napi::Value v, const char* op, const char* arg);
double to_number(Napi::Value v, const char* op, const char* arg);
int64_t to_int(Napi::Value v, const char* op, const char* arg, int64_t lo, int64_t hi);
// Any integer a JS number holds exactly; the range is the front-end's to check.
int64_t to_i64(Napi::Value v, const char* op, const char* arg);
// Consecutive number arguments from info[first] on, into the named fields.
void to_numbers(const Napi::CallbackInfo& info, size_t first, const char* op,
                std::initializer_list<std::pair<double*, const char*>> out);
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

// A device name; the device must also be usable now (for the entries that reach a backend
// directly, with no advprop::ops front-end to check it).
advprop::Device to_usable_device(Napi::Value v, const char* op, const char* arg);

// The tensors behind a JS array of handles; a bad entry is named arg[i].
std::vector<advprop::Tensor> to_tensors(Napi::Value v, const char* op, const char* arg);
// The tensor behind info[i], or nullptr when it is null or undefined (an optional operand).
const advprop::Tensor* to_optional_tensor(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg);
// A new handle on freshly allocated storage (the device's reserved bytes are reported to V8).
Napi::Value wrap(const Napi::CallbackInfo& info, advprop::Tensor t);
// A handle on a view of storage that already has one: nothing new to report.
Napi::Value wrap_view(const Napi::CallbackInfo& info, advprop::Tensor t);
// The whole body of an entry op(a, b) -> tensor, a and b named in errors.
Napi::Value two_tensors(const Napi::CallbackInfo& info, const char* op, const char* a, const char* b,
                        advprop::Tensor (*fn)(const advprop::Tensor&, const advprop::Tensor&));
// The results of an op with several outputs, in order; one left undefined (not asked for) is null.
Napi::Value wrap_all(const Napi::CallbackInfo& info, std::initializer_list<advprop::Tensor> ts);

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
