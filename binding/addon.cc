// Module registration.
#include <napi.h>

#include "entries.h"
#include "handle.h"

namespace advprop_binding {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTensor", TensorHandle::Define(env));
#define ADVPROP_EXPORT_ENTRY(js, cc) exports.Set(#js, Napi::Function::New(env, cc, #js));
  ADVPROP_BINDING_ENTRIES(ADVPROP_EXPORT_ENTRY)
#undef ADVPROP_EXPORT_ENTRY
  return exports;
}

NODE_API_MODULE(advprop, Init)

}  // namespace advprop_binding
