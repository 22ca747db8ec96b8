// Tensor handles: a JS object that names one advprop::Tensor held in the addon's slot table.
// Metadata (shape, dtype, device, nbytes) is set once as plain JS properties, so reading it costs
// no native call.
//
// Why a slot table and not napi_wrap: every napi_wrap carries a V8 weak reference whose
// finalizer Node defers to the next turn of the event loop. A synchronous training loop never
// lets the loop turn, so those finalizer records (about 375 bytes per handle, thousands of handles
// per step) piled up without bound even though every tensor had been disposed. A handle here is
// a plain object carrying an External (which has no finalizer) that encodes a slot index and a
// generation: dispose frees the slot's storage at once and bumps the generation, so the
// same JS object is then recognised as disposed and can never reach reused memory.
#pragma once
#include <napi.h>

#include <cstdint>

#include "advprop/tensor.h"

namespace advprop_binding {

struct HandleStats {
  int64_t live = 0;   // handles made and not yet disposed
  int64_t slots = 0;  // slots ever allocated (live + free): the table's high-water mark
};

class TensorHandle {
 public:
  // The constructor whose prototype every handle has (exported as NativeTensor). It cannot
  // be used to make handles from JS.
  static Napi::Function Define(Napi::Env env);

  // Wraps `t` in a new handle. `owns_memory` says whether this handle is the first reference to
  // freshly allocated storage, after which the device's reserved bytes are reported to V8.
  static Napi::Object Wrap(Napi::Env env, advprop::Tensor t, bool owns_memory = true);
  // The tensor behind argument `index`; throws ERR_ARG for a non-handle, ERR_DISPOSED for a
  // disposed one, naming `op` and `arg`. The reference stays valid until the handle is disposed
  // (the table never moves a slot).
  static const advprop::Tensor& From(const Napi::CallbackInfo& info, size_t index, const char* op,
                                     const char* arg);
  static const advprop::Tensor& FromValue(Napi::Env env, Napi::Value v, const char* op, const char* arg);
  // The live tensor behind v, or nullptr for anything else (no exception): for list arguments,
  // whose per-element names are only worth building once something is wrong.
  static const advprop::Tensor* TryFrom(Napi::Env env, Napi::Value v);
  // Frees the storage of v's slot. Returns false when v is a handle that was already disposed;
  // throws ERR_ARG when v is not a handle.
  static bool Dispose(Napi::Env env, Napi::Value v, const char* op);
  static HandleStats Stats(Napi::Env env);
  // Brings V8's external memory in line with device d's allocator (bytes reserved from the system).
  static void ReportReserved(Napi::Env env, const advprop::Device& d);
};

}  // namespace advprop_binding
