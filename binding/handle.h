// Tensor handles: a JS object that owns one advprop::Tensor view. Metadata (shape, dtype,
// device, nbytes) is set once as plain JS properties, so reading it costs no native call.
#pragma once
#include <napi.h>

#include "advprop/tensor.h"

namespace advprop_binding {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  // Wraps `t` in a new handle. `owns_memory` says whether this handle is the first reference to
  // freshly allocated storage, after which the device's reserved bytes are reported to V8.
  static Napi::Object Wrap(Napi::Env env, advprop::Tensor t, bool owns_memory = true);
  // The tensor behind argument `index`; throws ERR_ARG for a non-handle, ERR_DISPOSED for a
  // disposed one, naming `op` and `arg`.
  static const advprop::Tensor& From(const Napi::CallbackInfo& info, size_t index, const char* op,
                                     const char* arg);
  static const advprop::Tensor& FromValue(Napi::Env env, Napi::Value v, const char* op, const char* arg);
  // The live handle behind v, or nullptr for anything else (no exception): for list arguments,
  // whose per-element names are only worth building once something is wrong.
  static TensorHandle* TryFrom(Napi::Env env, Napi::Value v);
  void Dispose(Napi::Env env);
  // Brings V8's external memory in line with device d's allocator (bytes reserved from the system).
  static void ReportReserved(Napi::Env env, const advprop::Device& d);
  bool disposed() const { return !tensor_.defined(); }
  const advprop::Tensor& tensor() const { return tensor_; }

 private:
  advprop::Tensor tensor_;
};

}  // namespace advprop_binding
