// advprop::Stager (advprop/staging.h): argument checks, then the device's backend (native/cpu/
// staging.cc, native/cuda/staging.cu for cuda and cuda-sim).
#include "advprop/staging.h"

#include <string>

#include "checks.h"

namespace advprop {
namespace {

constexpr const char* kOp = "Stager";
constexpr int kMaxSlots = 8;

// The backend of a device (require_device already refused a missing one).
struct Backend {
  void* (*create)(int index, int slots);
  void (*destroy)(void* state);
  void (*upload)(void* state, int slot, const void* host, size_t bytes, void* dst);
  void (*release)(void* state, int slot);
};

const Backend& backend_for(const Device& d) {
  if (d.type == DeviceType::cpu) {
    static const Backend b{cpu::stager_create, cpu::stager_destroy, cpu::stager_upload, cpu::stager_release};
    return b;
  }
  if (d.type == DeviceType::cuda) {
#if ADVPROP_WITH_CUDA
    static const Backend b{cuda::stager_create, cuda::stager_destroy, cuda::stager_upload, cuda::stager_release};
    return b;
#endif
  } else if (d.type == DeviceType::cuda_sim) {
#if ADVPROP_WITH_SIM
    static const Backend b{cudasim::stager_create, cudasim::stager_destroy, cudasim::stager_upload,
                           cudasim::stager_release};
    return b;
#endif
  }
  fail(ErrorCode::Device, std::string(kOp) + ": no staging backend for " + device_str(d));
}

}  // namespace

Stager::Stager(const Device& device, int slots) : device_(device), slots_(slots) {
  require_device(device, kOp);
  if (slots < 1 || slots > kMaxSlots)
    fail(ErrorCode::Arg, std::string(kOp) + ": argument 'slots' must be 1 to " + std::to_string(kMaxSlots) + ", got " +
                             std::to_string(slots));
  state_ = backend_for(device).create(device.index, slots);
}

Stager::~Stager() {
  if (state_) backend_for(device_).destroy(state_);
}

void Stager::upload(int slot, const uint8_t* host, size_t bytes, Tensor& dst) {
  const char* op = "Stager.upload";
  if (slot < 0 || slot >= slots_)
    fail(ErrorCode::Arg, std::string(op) + ": argument 'slot' must be 0 to " + std::to_string(slots_ - 1) + ", got " +
                             std::to_string(slot));
  ops::TensorArg(op, "dst", dst).contiguous().dtype(DType::u8).on(device_);
  if (static_cast<size_t>(dst.numel()) != bytes)
    fail(ErrorCode::Shape, std::string(op) + ": argument 'host' has " + std::to_string(bytes) + " bytes but 'dst' " +
                               shape_str(dst.shape()) + " holds " + std::to_string(dst.numel()));
  if (bytes == 0) return;
  mark_written(dst);
  backend_for(device_).upload(state_, slot, host, bytes, dst.data());
}

void Stager::release(int slot) {
  if (slot < 0 || slot >= slots_)
    fail(ErrorCode::Arg, "Stager.release: argument 'slot' must be 0 to " + std::to_string(slots_ - 1) + ", got " +
                             std::to_string(slot));
  backend_for(device_).release(state_, slot);
}

}  // namespace advprop
