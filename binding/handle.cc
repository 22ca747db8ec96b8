#include "handle.h"

#include "convert.h"

namespace advprop_binding {

namespace {
struct AddonData {
  Napi::FunctionReference ctor;
};
}  // namespace

Napi::Function TensorHandle::Define(Napi::Env env) {
  Napi::Function f = DefineClass(env, "NativeTensor", {});
  auto* data = new AddonData();
  data->ctor = Napi::Persistent(f);
  env.SetInstanceData<AddonData>(data);
  return f;
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() {
  // Runs from the GC finalizer when JS forgot to dispose: the safety net of DESIGN.md.
  if (external_bytes_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_bytes_);
}

void TensorHandle::Dispose(Napi::Env env) {
  if (external_bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, -external_bytes_);
  external_bytes_ = 0;
  tensor_ = advprop::Tensor();
}

Napi::Object TensorHandle::Wrap(Napi::Env env, advprop::Tensor t, bool owns_memory) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->ctor.New({});
  TensorHandle* h = Unwrap(obj);
  obj.Set("shape", shape_to_js(env, t.shape()));
  obj.Set("dtype", Napi::String::New(env, advprop::dtype_name(t.dtype())));
  obj.Set("device", Napi::String::New(env, advprop::device_str(t.device())));
  obj.Set("nbytes", Napi::Number::New(env, static_cast<double>(t.nbytes())));
  if (owns_memory && t.nbytes()) {
    h->external_bytes_ = static_cast<int64_t>(t.nbytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, h->external_bytes_);
  }
  h->tensor_ = std::move(t);
  return obj;
}

const advprop::Tensor& TensorHandle::FromValue(Napi::Env env, Napi::Value v, const char* op, const char* arg) {
  auto* data = env.GetInstanceData<AddonData>();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data->ctor.Value()))
    throw_arg(std::string(op) + ": argument '" + arg + "' must be a tensor handle");
  // InstanceOf only looks at the prototype chain, so Object.create(NativeTensor.prototype) (or
  // of a handle) passes it without wrapping a native object: ask napi_unwrap directly.
  void* raw = nullptr;
  if (napi_unwrap(env, v, &raw) != napi_ok || raw == nullptr) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    throw_arg(std::string(op) + ": argument '" + arg + "' must be a tensor handle");
  }
  TensorHandle* h = static_cast<TensorHandle*>(raw);
  if (h->disposed())
    advprop::fail(advprop::ErrorCode::Disposed, std::string(op) + ": argument '" + arg + "' is a disposed tensor");
  return h->tensor_;
}

const advprop::Tensor& TensorHandle::From(const Napi::CallbackInfo& info, size_t index, const char* op,
                                          const char* arg) {
  return FromValue(info.Env(), info[index], op, arg);
}

}  // namespace advprop_binding
