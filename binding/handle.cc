#include "handle.h"

#include <map>
#include <utility>

#include "advprop/device.h"
#include "convert.h"

namespace advprop_binding {

namespace {
struct AddonData {
  Napi::FunctionReference ctor;
  // Per (device type, index): the allocator's reserved bytes last reported to V8.
  std::map<std::pair<int, int>, int64_t> reported;
};
}  // namespace

Napi::Function TensorHandle::Define(Napi::Env env) {
  Napi::Function f = DefineClass(env, "NativeTensor", {});
  auto* data = new AddonData();
  data->ctor = Napi::Persistent(f);
  env.SetInstanceData<AddonData>(data);
  return f;
}

// Identifies our handles in TryFrom with one own-property check: napi_instanceof would walk the
// prototype chain and look up Symbol.hasInstance on every tensor argument of every call.
constexpr napi_type_tag kHandleTag = {0x61647670726f7031ULL, 0x74656e736f72a7e1ULL};

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  napi_status st = napi_type_tag_object(info.Env(), info.This(), &kHandleTag);
  NAPI_THROW_IF_FAILED_VOID(info.Env(), st);
}

// Runs from the GC finalizer when JS forgot to dispose (the safety net of DESIGN.md): the
// storage goes back to the allocator's cache with the tensor_ member.
TensorHandle::~TensorHandle() = default;

void TensorHandle::Dispose(Napi::Env) { tensor_ = advprop::Tensor(); }

// V8 is told the allocators' reserved bytes (what the process holds from the system or driver) as
// they change, not every tensor's size: a training step reuses cached blocks for hundreds of MB
// of activations, and per-tensor reports made V8 run a full mark-compact each time that external
// memory grew past its limit (about 9 per step of B0 at 224, batch 8, ~5 ms each) with nothing
// to collect. Forgotten tensors still lead to a GC: the allocator cannot reuse their blocks, so
// reserved memory grows and is reported, and their finalizers then return the blocks.
void TensorHandle::ReportReserved(Napi::Env env, const advprop::Device& d) {
  auto* data = env.GetInstanceData<AddonData>();
  const int64_t now = advprop::backend(d.type).stats(d.index).bytes_reserved;
  int64_t& last = data->reported[{static_cast<int>(d.type), d.index}];
  if (now != last) {
    Napi::MemoryManagement::AdjustExternalMemory(env, now - last);
    last = now;
  }
}

Napi::Object TensorHandle::Wrap(Napi::Env env, advprop::Tensor t, bool owns_memory) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->ctor.New({});
  TensorHandle* h = Unwrap(obj);
  obj.Set("shape", shape_to_js(env, t.shape()));
  obj.Set("dtype", Napi::String::New(env, advprop::dtype_name(t.dtype())));
  obj.Set("device", Napi::String::New(env, advprop::device_str(t.device())));
  obj.Set("nbytes", Napi::Number::New(env, static_cast<double>(t.nbytes())));
  if (owns_memory && t.nbytes()) ReportReserved(env, t.device());
  h->tensor_ = std::move(t);
  return obj;
}

TensorHandle* TensorHandle::TryFrom(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kHandleTag, &tagged) != napi_ok || !tagged) return nullptr;
  // The tag is an own property, so an object inheriting from a handle is not tagged; unwrap
  // still guards against a tagged object without a native part.
  void* raw = nullptr;
  if (napi_unwrap(env, v, &raw) != napi_ok || raw == nullptr) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    return nullptr;
  }
  TensorHandle* h = static_cast<TensorHandle*>(raw);
  return h->disposed() ? nullptr : h;
}

const advprop::Tensor& TensorHandle::FromValue(Napi::Env env, Napi::Value v, const char* op, const char* arg) {
  if (TensorHandle* h = TryFrom(env, v)) return h->tensor_;
  bool tagged = false;
  if (v.IsObject() && napi_check_object_type_tag(env, v, &kHandleTag, &tagged) == napi_ok && tagged) {
    void* raw = nullptr;
    if (napi_unwrap(env, v, &raw) == napi_ok && raw != nullptr)
      advprop::fail(advprop::ErrorCode::Disposed, std::string(op) + ": argument '" + arg + "' is a disposed tensor");
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
  }
  throw_arg(std::string(op) + ": argument '" + arg + "' must be a tensor handle");
}

const advprop::Tensor& TensorHandle::From(const Napi::CallbackInfo& info, size_t index, const char* op,
                                          const char* arg) {
  return FromValue(info.Env(), info[index], op, arg);
}

}  // namespace advprop_binding
