// Handle lifecycle and host transfers.
#include <cstring>
#include <iterator>
#include <string>

#include "advprop/ops.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {

using advprop::DType;
using advprop::Tensor;

namespace {

// V8 caps a typed array's length; past it, say so instead of letting a RangeError escape.
void check_readable(size_t n) {
  const size_t max_elements = (size_t(1) << 32) - 1;
  if (n > max_elements)
    advprop::fail(advprop::ErrorCode::Arg, "data: " + std::to_string(n) + " elements are more than one typed array can hold (" +
                                               std::to_string(max_elements) + "); read it back in slices");
}

// The dtypes a typed array carries, one row each, read both ways: by FromArray (typed array ->
// dtype) and by new_typed_array (dtype -> typed array).
struct TypedArrayKind {
  DType dtype;
  napi_typedarray_type type;
  const char* name;
};
constexpr TypedArrayKind kTypedArrays[] = {
    {DType::f32, napi_float32_array, "Float32Array"},
    {DType::f64, napi_float64_array, "Float64Array"},
    {DType::i32, napi_int32_array, "Int32Array"},
};

std::string typed_array_names() {
  std::string s;
  const size_t n = std::size(kTypedArrays);
  for (size_t i = 0; i < n; ++i) s += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kTypedArrays[i].name;
  return s;
}

DType dtype_of(const Napi::TypedArray& ta) {
  for (const TypedArrayKind& k : kTypedArrays)
    if (k.type == ta.TypedArrayType()) return k.dtype;
  advprop::fail(advprop::ErrorCode::DType, "tensor: argument 'data' must be a " + typed_array_names());
}

Napi::Value new_typed_array(Napi::Env env, DType dtype, size_t n, void** data) {
  check_readable(n);
  for (const TypedArrayKind& k : kTypedArrays) {
    if (k.dtype != dtype) continue;
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, n * advprop::dtype_size(dtype));
    napi_value arr;
    if (napi_create_typedarray(env, k.type, n, buf, 0, &arr) != napi_ok) throw Napi::Error::New(env);
    *data = buf.Data();
    return Napi::Value(env, arr);
  }
  advprop::fail(advprop::ErrorCode::DType, std::string("data: cannot read ") + advprop::dtype_name(dtype) + " tensors");
}

class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, Tensor t)
      : Napi::AsyncWorker(env), tensor_(std::move(t)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      bytes_.resize(tensor_.nbytes());
      advprop::ops::to_host(tensor_, bytes_.data(), bytes_.size());
    } catch (const advprop::Error& e) {
      code_ = advprop::error_code_name(e.code());
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "ERR_INTERNAL";
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    void* data = nullptr;
    Napi::Value arr = new_typed_array(env, tensor_.dtype(), static_cast<size_t>(tensor_.numel()), &data);
    if (!bytes_.empty()) std::memcpy(data, bytes_.data(), bytes_.size());
    tensor_ = Tensor();
    deferred_.Resolve(arr);
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(make_error(Env(), code_.c_str(), e.Message()).Value());
  }

 private:
  Tensor tensor_;  // keeps the storage alive even if JS disposes the handle meanwhile
  std::vector<char> bytes_;
  std::string code_;
  Napi::Promise::Deferred deferred_;
};

}  // namespace

ADVPROP_ENTRY(FromArray)
  check_arg_count(info, 3, "tensor");
  Napi::Value v = info[0];
  if (!v.IsTypedArray()) throw_arg("tensor: argument 'data' must be a " + typed_array_names());
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  const DType dtype = dtype_of(ta);
  advprop::Shape shape = to_shape(info[1], "tensor", "shape");
  advprop::Device device = to_device(info[2], "tensor", "device");
  const char* base = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return wrap(info, advprop::ops::from_host(base, ta.ByteLength(), shape, dtype, device));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(ToArray)
  check_arg_count(info, 1, "data");
  const Tensor& t = TensorHandle::From(info, 0, "data", "tensor");
  void* data = nullptr;
  Napi::Value arr = new_typed_array(info.Env(), t.dtype(), static_cast<size_t>(t.numel()), &data);
  advprop::ops::to_host(t, data, t.nbytes());
  return arr;
ADVPROP_ENTRY_END

ADVPROP_ENTRY(ToArrayAsync)
  check_arg_count(info, 1, "data");
  const Tensor& t = TensorHandle::From(info, 0, "data", "tensor");
  check_readable(static_cast<size_t>(t.numel()));
  auto* w = new ReadWorker(info.Env(), t);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Dispose)
  check_arg_count(info, 1, "dispose");
  // A disposed handle may be disposed again; anything else is a caller bug.
  TensorHandle::Dispose(info.Env(), info[0], "dispose");
  return info.Env().Undefined();
ADVPROP_ENTRY_END

ADVPROP_ENTRY(IsDisposed)
  check_arg_count(info, 1, "isDisposed");
  try {
    TensorHandle::FromValue(info.Env(), info[0], "isDisposed", "tensor");
  } catch (const advprop::Error& e) {
    if (e.code() != advprop::ErrorCode::Disposed) throw;
    return Napi::Boolean::New(info.Env(), true);
  }
  return Napi::Boolean::New(info.Env(), false);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Share)
  check_arg_count(info, 1, "share");
  return wrap_view(info, TensorHandle::From(info, 0, "share", "tensor"));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(ToDevice)
  check_arg_count(info, 2, "to");
  return wrap(info, advprop::ops::to_device(TensorHandle::From(info, 0, "to", "tensor"), to_device(info[1], "to", "device")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Clone)
  check_arg_count(info, 1, "clone");
  return wrap(info, advprop::ops::clone(TensorHandle::From(info, 0, "clone", "tensor")));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Cast)
  check_arg_count(info, 2, "cast");
  return wrap(info, advprop::ops::cast(TensorHandle::From(info, 0, "cast", "tensor"), to_dtype(info[1], "cast", "dtype")));
ADVPROP_ENTRY_END

}  // namespace advprop_binding
