#include "convert.h"

#include <cmath>

#include "advprop/dtype_dispatch.h"

namespace advprop_binding {

using advprop::ErrorCode;

void throw_arg(const std::string& msg) { advprop::fail(ErrorCode::Arg, msg); }

void check_arg_count(const Napi::CallbackInfo& info, size_t n, const char* op) {
  if (info.Length() < n)
    throw_arg(std::string(op) + ": expected " + std::to_string(n) + " arguments, got " +
              std::to_string(info.Length()));
}

static std::string where(const char* op, const char* arg) {
  return std::string(op) + ": argument '" + arg + "'";
}

double to_number(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsNumber()) throw_arg(where(op, arg) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t to_i64(Napi::Value v, const char* op, const char* arg) {
  const int64_t max_exact = 9007199254740991LL;  // 2^53 - 1
  return to_int(v, op, arg, -max_exact, max_exact);
}

void to_numbers(const Napi::CallbackInfo& info, size_t first, const char* op,
                std::initializer_list<std::pair<double*, const char*>> out) {
  size_t i = first;
  for (const auto& [field, arg] : out) *field = to_number(info[i++], op, arg);
}

int64_t to_int(Napi::Value v, const char* op, const char* arg, int64_t lo, int64_t hi) {
  double d = to_number(v, op, arg);
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throw_arg(where(op, arg) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
              "], got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

bool to_bool(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsBoolean()) throw_arg(where(op, arg) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string to_string(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsString()) throw_arg(where(op, arg) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

advprop::Shape to_shape(Napi::Value v, const char* op, const char* arg, bool allow_minus_one) {
  if (!v.IsArray()) throw_arg(where(op, arg) + " must be an array of sizes");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > static_cast<uint32_t>(advprop::kMaxDims))
    advprop::fail(ErrorCode::Shape, where(op, arg) + " has " + std::to_string(a.Length()) +
                                        " dimensions; at most " + std::to_string(advprop::kMaxDims) + " are supported");
  advprop::Shape s(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) advprop::fail(ErrorCode::Shape, where(op, arg) + " has a non-number size at index " + std::to_string(i));
    double d = e.As<Napi::Number>().DoubleValue();
    bool ok = std::isfinite(d) && d == std::floor(d) && d <= 281474976710656.0 &&
              (d >= 0 || (allow_minus_one && d == -1));
    if (!ok)
      advprop::fail(ErrorCode::Shape, where(op, arg) + " has an invalid size " + std::to_string(d) + " at index " +
                                          std::to_string(i) + " (sizes are integers >= 0)");
    s[i] = static_cast<int64_t>(d);
  }
  return s;
}

advprop::DType to_dtype(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsString()) advprop::fail(ErrorCode::DType, where(op, arg) + " must be a dtype name ('f32', 'f64', 'i32', 'bf16', 'f16')");
  const std::string s = v.As<Napi::String>().Utf8Value();
  advprop::DType t{};
  if (!advprop::enum_from_name(s, &t))
    advprop::fail(ErrorCode::DType, where(op, arg) + " must be a dtype name (" +
                                        advprop::dtype_names(advprop::StorageTypes{}) + "), got '" + s + "'");
  return t;
}

advprop::Device to_device(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsString()) advprop::fail(ErrorCode::Device, where(op, arg) + " must be a device name ('cpu', 'cuda', 'cuda-sim')");
  try {
    return advprop::device_from_str(v.As<Napi::String>().Utf8Value());
  } catch (const advprop::Error& e) {
    advprop::fail(e.code(), std::string(op) + ": " + e.what());  // the parser knows no op
  }
}

advprop::Device to_usable_device(Napi::Value v, const char* op, const char* arg) {
  advprop::Device d = to_device(v, op, arg);
  advprop::require_device(d, op);
  return d;
}

uint64_t to_seed(Napi::Value v, const char* op, const char* arg) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t s = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw_arg(where(op, arg) + " must fit in 64 unsigned bits");
    return s;
  }
  return static_cast<uint64_t>(to_int(v, op, arg, 0, 9007199254740991LL));
}

std::vector<int> to_axes(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsArray()) throw_arg(where(op, arg) + " must be an array of axes");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > static_cast<uint32_t>(advprop::kMaxDims)) throw_arg(where(op, arg) + " lists too many axes");
  std::vector<int> axes;
  for (uint32_t i = 0; i < a.Length(); ++i)
    axes.push_back(static_cast<int>(to_int(a.Get(i), op, arg, INT32_MIN, INT32_MAX)));  // range: the front-end's
  return axes;
}

std::vector<advprop::Tensor> to_tensors(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsArray()) throw_arg(where(op, arg) + " must be an array of tensor handles");
  Napi::Array a = v.As<Napi::Array>();
  const uint32_t n = a.Length();
  const Napi::Env env = v.Env();
  std::vector<advprop::Tensor> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value e = a.Get(i);
    // Names are built only for a bad entry: for a model's hundreds of parameters they would cost
    // more than the lookups.
    if (const advprop::Tensor* t = TensorHandle::TryFrom(env, e)) {
      out.push_back(*t);
      continue;
    }
    const std::string name = std::string(arg) + "[" + std::to_string(i) + "]";
    out.push_back(TensorHandle::FromValue(env, e, op, name.c_str()));
  }
  return out;
}

const advprop::Tensor* to_optional_tensor(const Napi::CallbackInfo& info, size_t i, const char* op, const char* arg) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return &TensorHandle::From(info, i, op, arg);
}

Napi::Value wrap(const Napi::CallbackInfo& info, advprop::Tensor t) { return TensorHandle::Wrap(info.Env(), std::move(t)); }

Napi::Value wrap_view(const Napi::CallbackInfo& info, advprop::Tensor t) {
  return TensorHandle::Wrap(info.Env(), std::move(t), false);
}

Napi::Value two_tensors(const Napi::CallbackInfo& info, const char* op, const char* a, const char* b,
                        advprop::Tensor (*fn)(const advprop::Tensor&, const advprop::Tensor&)) {
  check_arg_count(info, 2, op);
  return wrap(info, fn(TensorHandle::From(info, 0, op, a), TensorHandle::From(info, 1, op, b)));
}

Napi::Value wrap_all(const Napi::CallbackInfo& info, std::initializer_list<advprop::Tensor> ts) {
  Napi::Array out = Napi::Array::New(info.Env(), ts.size());
  uint32_t i = 0;
  for (const advprop::Tensor& t : ts) out.Set(i++, t.defined() ? wrap(info, t) : info.Env().Null());
  return out;
}

Napi::Array shape_to_js(Napi::Env env, const advprop::Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(s[i])));
  return a;
}

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("name", Napi::String::New(env, "AdvpropError"));
  return err;
}

}  // namespace advprop_binding
