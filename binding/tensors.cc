// Handle lifecycle and host transfers.
#include <cstring>
#include <iterator>
#include <string>

#include "advprop/half.h"
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
// dtype) and by new_typed_array (dtype -> typed array). bf16 and f16 have no typed array of
// their own: they are read out as a Float32Array of their exactly widened values (after the f32
// row, so a Float32Array still means f32), or as a Uint16Array of their bits on request.
struct TypedArrayKind {
  DType dtype;
  napi_typedarray_type type;
  const char* name;
};
constexpr TypedArrayKind kTypedArrays[] = {
    {DType::f32, napi_float32_array, "Float32Array"},
    {DType::f64, napi_float64_array, "Float64Array"},
    {DType::i32, napi_int32_array, "Int32Array"},
    {DType::u8, napi_uint8_array, "Uint8Array"},  // image batches on their way to normalizeImage
    {DType::bf16, napi_float32_array, "Float32Array"},
    {DType::f16, napi_float32_array, "Float32Array"},
};

bool is_half(DType t) { return t == DType::bf16 || t == DType::f16; }

// bf16/f16 bits widened to f32, exactly (NaN payloads kept).
void widen(DType dtype, const uint16_t* bits, float* out, size_t n) {
  if (dtype == DType::bf16)
    for (size_t i = 0; i < n; ++i) out[i] = advprop::bf16_bits_to_f32(bits[i]);
  else
    for (size_t i = 0; i < n; ++i) out[i] = advprop::f16_bits_to_f32(bits[i]);
}

// f32 or f64 values rounded once to bf16/f16 bits (nearest, ties to even; advprop/half.h).
template <typename S>
std::vector<uint16_t> narrow(DType dtype, const S* v, size_t n) {
  std::vector<uint16_t> bits(n);
  if (dtype == DType::bf16)
    for (size_t i = 0; i < n; ++i) bits[i] = advprop::to_bf16(v[i]).bits;
  else
    for (size_t i = 0; i < n; ++i) bits[i] = advprop::to_f16(v[i]).bits;
  return bits;
}

std::string typed_array_names() {
  std::string s;
  size_t n = 0;
  while (n < std::size(kTypedArrays) && !is_half(kTypedArrays[n].dtype)) ++n;  // the rows FromArray reads
  for (size_t i = 0; i < n; ++i) s += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kTypedArrays[i].name;
  return s;
}

const char* typed_array_name(DType t) {
  for (const TypedArrayKind& k : kTypedArrays)
    if (k.dtype == t) return k.name;
  return "typed array";
}

DType dtype_of(const Napi::TypedArray& ta) {
  // (The first row of a typed array type wins: Float32Array is f32.)
  for (const TypedArrayKind& k : kTypedArrays)
    if (k.type == ta.TypedArrayType()) return k.dtype;
  advprop::fail(advprop::ErrorCode::DType, "tensor: argument 'data' must be a " + typed_array_names());
}

Napi::Value typed_array(Napi::Env env, napi_typedarray_type type, size_t n, size_t item, void** data) {
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, n * item);
  napi_value arr;
  if (napi_create_typedarray(env, type, n, buf, 0, &arr) != napi_ok) throw Napi::Error::New(env);
  *data = buf.Data();
  return Napi::Value(env, arr);
}

// The typed array toArray returns for `dtype`: its row of kTypedArrays (a 16-bit dtype's
// Float32Array holds 4 bytes per element, its values widened by the caller).
Napi::Value new_typed_array(Napi::Env env, DType dtype, size_t n, void** data) {
  check_readable(n);
  for (const TypedArrayKind& k : kTypedArrays)
    if (k.dtype == dtype) return typed_array(env, k.type, n, is_half(dtype) ? 4 : advprop::dtype_size(dtype), data);
  advprop::fail(advprop::ErrorCode::DType, std::string("data: cannot read ") + advprop::dtype_name(dtype) + " tensors");
}

// A tensor's host bytes as toArray returns them: copied for f32/f64/i32, widened to a
// Float32Array for bf16/f16.
Napi::Value host_array(Napi::Env env, DType dtype, size_t n, const void* bytes) {
  void* data = nullptr;
  Napi::Value arr = new_typed_array(env, dtype, n, &data);
  if (is_half(dtype)) widen(dtype, static_cast<const uint16_t*>(bytes), static_cast<float*>(data), n);
  else if (n) std::memcpy(data, bytes, n * advprop::dtype_size(dtype));
  return arr;
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
    Napi::Value arr = host_array(Env(), tensor_.dtype(), static_cast<size_t>(tensor_.numel()), bytes_.data());
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

// fromArray(data, shape, device[, dtype]): the tensor of the typed array's dtype (a Uint8Array
// makes u8, which only normalizeImage, copies and toArray read); with dtype bf16
// or f16, a Float32Array or Float64Array is rounded once to it on the host (nearest, ties to even)
// and a Uint16Array is taken as its bits.
ADVPROP_ENTRY(FromArray)
  check_arg_count(info, 3, "tensor");
  Napi::Value v = info[0];
  if (!v.IsTypedArray()) throw_arg("tensor: argument 'data' must be a " + typed_array_names());
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  const bool want = info.Length() > 3 && !info[3].IsUndefined();
  const DType target = want ? to_dtype(info[3], "tensor", "dtype") : DType::f32;
  advprop::Shape shape = to_shape(info[1], "tensor", "shape");
  advprop::Device device = to_device(info[2], "tensor", "device");
  const char* base = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (want && is_half(target)) {
    const size_t n = ta.ElementLength();
    if (ta.TypedArrayType() == napi_uint16_array)
      return wrap(info, advprop::ops::from_host(base, ta.ByteLength(), shape, target, device));
    std::vector<uint16_t> bits;
    if (ta.TypedArrayType() == napi_float32_array) bits = narrow(target, reinterpret_cast<const float*>(base), n);
    else if (ta.TypedArrayType() == napi_float64_array) bits = narrow(target, reinterpret_cast<const double*>(base), n);
    else
      advprop::fail(advprop::ErrorCode::DType, std::string("tensor: ") + advprop::dtype_name(target) +
                                                   " data must be a Float32Array, Float64Array or Uint16Array of bits");
    return wrap(info, advprop::ops::from_host(bits.data(), 2 * n, shape, target, device));
  }
  const DType dtype = dtype_of(ta);
  if (want && target != dtype)
    advprop::fail(advprop::ErrorCode::DType, std::string("tensor: a ") + typed_array_name(dtype) + " holds " +
                                                 advprop::dtype_name(dtype) + " values, not " + advprop::dtype_name(target));
  return wrap(info, advprop::ops::from_host(base, ta.ByteLength(), shape, dtype, device));
ADVPROP_ENTRY_END

// toArray(t[, bits]): f32, f64, i32, u8 in their typed array; bf16 and f16 as a Float32Array of the
// exactly widened values, or with `bits` true as a Uint16Array of their bit patterns.
ADVPROP_ENTRY(ToArray)
  check_arg_count(info, 1, "data");
  const Tensor& t = TensorHandle::From(info, 0, "data", "tensor");
  const bool bits = info.Length() > 1 && info[1].ToBoolean().Value();
  const size_t n = static_cast<size_t>(t.numel());
  if (!is_half(t.dtype()) || bits) {
    void* data = nullptr;
    Napi::Value arr = bits && is_half(t.dtype()) ? (check_readable(n), typed_array(info.Env(), napi_uint16_array, n, 2, &data))
                                                 : new_typed_array(info.Env(), t.dtype(), n, &data);
    advprop::ops::to_host(t, data, t.nbytes());
    return arr;
  }
  std::vector<uint16_t> staging(n);
  advprop::ops::to_host(t, staging.data(), t.nbytes());
  return host_array(info.Env(), t.dtype(), n, staging.data());
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
