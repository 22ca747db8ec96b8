#include "convert.h"

#include <cmath>

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
  if (!v.IsString()) advprop::fail(ErrorCode::DType, where(op, arg) + " must be a dtype name ('f32', 'f64', 'i32')");
  return advprop::dtype_from_name(v.As<Napi::String>().Utf8Value());
}

advprop::Device to_device(Napi::Value v, const char* op, const char* arg) {
  if (!v.IsString()) advprop::fail(ErrorCode::Device, where(op, arg) + " must be a device name ('cpu', 'cuda', 'cuda-sim')");
  return advprop::device_from_str(v.As<Napi::String>().Utf8Value());
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
    axes.push_back(static_cast<int>(to_int(a.Get(i), op, arg, -advprop::kMaxDims, advprop::kMaxDims - 1)));
  return axes;
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
