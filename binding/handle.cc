#include "handle.h"

#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "advprop/device.h"
#include "convert.h"

namespace advprop_binding {

namespace {

struct Slot {
  advprop::Tensor tensor;
  uint32_t gen = 0;  // bumped on dispose: older handles naming this slot are disposed ones
  bool live = false;
};

struct AddonData {
  Napi::FunctionReference ctor;
  Napi::Reference<Napi::Symbol> key;  // the own property holding a handle's External
  // A deque, so that a slot never moves: From() hands out references into it.
  std::deque<Slot> slots;
  std::vector<uint32_t> free_slots;
  int64_t live = 0;
  // Per (device type, index): the allocator's reserved bytes last reported to V8.
  std::map<std::pair<int, int>, int64_t> reported;
};

AddonData& data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// Identifies our handles with one own-property check, so that an object inheriting from a
// handle (whose slot property would be found through the prototype chain) is not one.
constexpr napi_type_tag kHandleTag = {0x61647670726f7031ULL, 0x74656e736f72a7e1ULL};

void* encode(uint32_t index, uint32_t gen) {
  return reinterpret_cast<void*>((static_cast<uintptr_t>(gen) << 32) | index);
}

enum class Lookup { NotHandle, Disposed, Live };

// Finds the slot named by v. Never throws: a bad value is reported through the result.
Lookup find(Napi::Env env, Napi::Value v, Slot** out, uint32_t* out_index = nullptr) {
  *out = nullptr;
  if (!v.IsObject()) return Lookup::NotHandle;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kHandleTag, &tagged) != napi_ok || !tagged) return Lookup::NotHandle;
  AddonData& d = data(env);
  napi_value ext;
  napi_valuetype type;
  void* raw = nullptr;
  if (napi_get_property(env, v, d.key.Value(), &ext) != napi_ok || napi_typeof(env, ext, &type) != napi_ok ||
      type != napi_external || napi_get_value_external(env, ext, &raw) != napi_ok) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    return Lookup::NotHandle;
  }
  const uintptr_t bits = reinterpret_cast<uintptr_t>(raw);
  const uint32_t index = static_cast<uint32_t>(bits & 0xffffffffu);
  const uint32_t gen = static_cast<uint32_t>(bits >> 32);
  if (index >= d.slots.size()) return Lookup::NotHandle;
  Slot& s = d.slots[index];
  if (!s.live || s.gen != gen) return Lookup::Disposed;
  *out = &s;
  if (out_index) *out_index = index;
  return Lookup::Live;
}

Napi::Value NoConstruct(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

}  // namespace

Napi::Function TensorHandle::Define(Napi::Env env) {
  // Handles are made by ctor.New() from Wrap only; one made from JS has no tag and is refused.
  Napi::Function f = Napi::Function::New(env, NoConstruct, "NativeTensor");
  auto* d = new AddonData();
  d->ctor = Napi::Persistent(f);
  d->key = Napi::Persistent(Napi::Symbol::New(env, "advprop.slot"));
  env.SetInstanceData<AddonData>(d);
  return f;
}

// V8 is told the allocators' reserved bytes (what the process holds from the system or driver) as
// they change, not every tensor's size: a training step reuses cached blocks for hundreds of MB
// of activations, and per-tensor reports made V8 run a full mark-compact each time that external
// memory grew past its limit (about 9 per step of B0 at 224, batch 8, ~5 ms each) with nothing
// to collect. Forgotten tensors still lead to a GC: the allocator cannot reuse their blocks, so
// reserved memory grows and is reported, and the FinalizationRegistry in lib/ then disposes them.
void TensorHandle::ReportReserved(Napi::Env env, const advprop::Device& dev) {
  AddonData& d = data(env);
  const int64_t now = advprop::backend(dev.type).stats(dev.index).bytes_reserved;
  int64_t& last = d.reported[{static_cast<int>(dev.type), dev.index}];
  if (now != last) {
    Napi::MemoryManagement::AdjustExternalMemory(env, now - last);
    last = now;
  }
}

Napi::Object TensorHandle::Wrap(Napi::Env env, advprop::Tensor t, bool owns_memory) {
  AddonData& d = data(env);
  if (d.free_slots.empty()) {
    if (d.slots.size() >= 0xffffffffu) advprop::fail(advprop::ErrorCode::OOM, "tensor handles: 2^32 slots in use");
    d.slots.emplace_back();
    d.free_slots.push_back(static_cast<uint32_t>(d.slots.size() - 1));
  }
  // The slot leaves the free list only once nothing below can fail, so a slot is never taken
  // by a handle that JS did not receive.
  const uint32_t index = d.free_slots.back();
  Slot& s = d.slots[index];
  Napi::Object obj = d.ctor.New({});
  napi_status st = napi_type_tag_object(env, obj, &kHandleTag);
  if (st != napi_ok) throw Napi::Error::New(env);
  const advprop::Device dev = t.device();
  const napi_property_descriptor props[] = {
      {nullptr, d.key.Value(), nullptr, nullptr, nullptr, Napi::External<void>::New(env, encode(index, s.gen)),
       napi_default, nullptr},
      {"shape", nullptr, nullptr, nullptr, nullptr, shape_to_js(env, t.shape()), napi_default_jsproperty, nullptr},
      {"dtype", nullptr, nullptr, nullptr, nullptr, Napi::String::New(env, advprop::dtype_name(t.dtype())),
       napi_default_jsproperty, nullptr},
      {"device", nullptr, nullptr, nullptr, nullptr, Napi::String::New(env, advprop::device_str(dev)),
       napi_default_jsproperty, nullptr},
      {"nbytes", nullptr, nullptr, nullptr, nullptr, Napi::Number::New(env, static_cast<double>(t.nbytes())),
       napi_default_jsproperty, nullptr},
  };
  st = napi_define_properties(env, obj, sizeof(props) / sizeof(props[0]), props);
  if (st != napi_ok) throw Napi::Error::New(env);
  d.free_slots.pop_back();
  const bool report = owns_memory && t.nbytes();
  s.tensor = std::move(t);
  s.live = true;
  ++d.live;
  if (report) ReportReserved(env, dev);
  return obj;
}

const advprop::Tensor* TensorHandle::TryFrom(Napi::Env env, Napi::Value v) {
  Slot* s;
  return find(env, v, &s) == Lookup::Live ? &s->tensor : nullptr;
}

const advprop::Tensor& TensorHandle::FromValue(Napi::Env env, Napi::Value v, const char* op, const char* arg) {
  Slot* s;
  switch (find(env, v, &s)) {
    case Lookup::Live: return s->tensor;
    case Lookup::Disposed:
      advprop::fail(advprop::ErrorCode::Disposed, std::string(op) + ": argument '" + arg + "' is a disposed tensor");
    case Lookup::NotHandle: break;
  }
  throw_arg(std::string(op) + ": argument '" + arg + "' must be a tensor handle");
}

const advprop::Tensor& TensorHandle::From(const Napi::CallbackInfo& info, size_t index, const char* op,
                                          const char* arg) {
  return FromValue(info.Env(), info[index], op, arg);
}

bool TensorHandle::Dispose(Napi::Env env, Napi::Value v, const char* op) {
  Slot* s;
  uint32_t index = 0;
  switch (find(env, v, &s, &index)) {
    case Lookup::Disposed: return false;
    case Lookup::NotHandle: throw_arg(std::string(op) + ": argument 'tensor' must be a tensor handle");
    case Lookup::Live: break;
  }
  AddonData& d = data(env);
  d.free_slots.push_back(index);  // the one step that can fail (bad_alloc), before any change
  s->live = false;
  ++s->gen;
  --d.live;
  s->tensor = advprop::Tensor();  // the storage goes back to its allocator now
  return true;
}

std::string oom_hint(Napi::Env env) {
  const HandleStats st = TensorHandle::Stats(env);
  return "; " + std::to_string(st.live) +
         " tensors are alive. Tensors a loop forgets are only reclaimed by the garbage collector "
         "after the event loop turns, so a synchronous loop must free what each step makes: wrap the "
         "step in ap.tidy(() => ...) or dispose() its tensors (memory() shows what is alive)";
}

HandleStats TensorHandle::Stats(Napi::Env env) {
  AddonData& d = data(env);
  return {d.live, static_cast<int64_t>(d.slots.size())};
}

}  // namespace advprop_binding
