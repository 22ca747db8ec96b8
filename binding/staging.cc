// Entries of advprop::Stager (advprop/staging.h): a stager is an External holding the C++ object.
// Unlike tensors (see handle.h) a program makes a handful of these, so a finalizer is cheap; a
// trainer still disposes its stager at once through stagerDispose.
#include <memory>
#include <string>

#include "advprop/staging.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {
namespace {

struct StagerBox {
  std::unique_ptr<advprop::Stager> stager;
};

advprop::Stager& from(Napi::Value v, const char* op) {
  if (!v.IsExternal()) throw_arg(std::string(op) + ": argument 'stager' must be a stager made by stagerCreate");
  auto* box = v.As<Napi::External<StagerBox>>().Data();
  if (!box || !box->stager) advprop::fail(advprop::ErrorCode::Disposed, std::string(op) + ": the stager is disposed");
  return *box->stager;
}

int slot_of(const Napi::CallbackInfo& info, size_t i, const char* op, const advprop::Stager& s) {
  return static_cast<int>(to_int(info[i], op, "slot", 0, s.slots() - 1));
}

}  // namespace

// (device, slots) -> stager
ADVPROP_ENTRY(StagerCreate)
  const char* op = "stagerCreate";
  check_arg_count(info, 2, op);
  const advprop::Device d = to_usable_device(info[0], op, "device");
  const int slots = static_cast<int>(to_int(info[1], op, "slots", 1, 8));
  auto* box = new StagerBox{std::make_unique<advprop::Stager>(d, slots)};
  return Napi::External<StagerBox>::New(info.Env(), box, [](Napi::Env, StagerBox* b) { delete b; });
ADVPROP_ENTRY_END

// (stager, slot, bytes: Uint8Array, dst: u8 tensor)
ADVPROP_ENTRY(StagerUpload)
  const char* op = "stagerUpload";
  check_arg_count(info, 4, op);
  advprop::Stager& s = from(info[0], op);
  const int slot = slot_of(info, 1, op, s);
  Napi::Uint8Array a = to_typed_array<uint8_t>(info[2], op, "bytes");
  advprop::Tensor dst = TensorHandle::From(info, 3, op, "dst");
  s.upload(slot, a.Data(), a.ElementLength(), dst);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

// (stager, slot)
ADVPROP_ENTRY(StagerRelease)
  const char* op = "stagerRelease";
  check_arg_count(info, 2, op);
  advprop::Stager& s = from(info[0], op);
  s.release(slot_of(info, 1, op, s));
  return info.Env().Undefined();
ADVPROP_ENTRY_END

// (stager): frees its pinned buffers and stream now (waiting for its copies); idempotent.
ADVPROP_ENTRY(StagerDispose)
  check_arg_count(info, 1, "stagerDispose");
  if (!info[0].IsExternal()) throw_arg("stagerDispose: argument 'stager' must be a stager made by stagerCreate");
  auto* box = info[0].As<Napi::External<StagerBox>>().Data();
  if (box) box->stager.reset();
  return info.Env().Undefined();
ADVPROP_ENTRY_END

}  // namespace advprop_binding
