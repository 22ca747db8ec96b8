#include "advprop/device.h"

#include <string>

#include "advprop/backends.h"
#include "advprop/error.h"

namespace advprop {
namespace {

// Stands in for a device type this build does not contain.
class AbsentBackend final : public DeviceBackend {
 public:
  AbsentBackend(DeviceType t, const char* why) : type_(t), why_(why) {}
  DeviceType type() const override { return type_; }
  bool available() const override { return false; }
  std::string unavailable_reason() const override { return why_; }
  int device_count() const override { return 0; }
  DeviceInfo info(int) const override { absent(); }
  void* allocate(size_t, int) override { absent(); }
  void deallocate(void*, size_t, int) override {}
  void copy_to_host(void*, const void*, size_t, int) override { absent(); }
  void copy_from_host(void*, const void*, size_t, int) override { absent(); }
  void copy_on_device(void*, const void*, size_t, int) override { absent(); }
  void synchronize(int) override {}
  void empty_cache() override {}
  MemoryStats stats(int) const override { return {}; }
  void reset_peak(int) override {}

 private:
  [[noreturn]] void absent() const {
    fail(ErrorCode::Device, std::string(device_type_name(type_)) + " is unavailable: " + why_);
  }
  DeviceType type_;
  const char* why_;
};

}  // namespace

std::string device_str(const Device& d) {
  if (d.type == DeviceType::cpu) return "cpu";
  return std::string(device_type_name(d.type)) + ":" + std::to_string(d.index);
}

Device device_from_str(const std::string& s) {
  std::string kind = s;
  int index = 0;
  auto colon = s.find(':');
  if (colon != std::string::npos) {
    kind = s.substr(0, colon);
    std::string idx = s.substr(colon + 1);
    if (idx.empty() || idx.size() > 3 || idx.find_first_not_of("0123456789") != std::string::npos)
      fail(ErrorCode::Device, "invalid device '" + s + "' (expected cpu, cuda, cuda:N or cuda-sim)");
    index = std::stoi(idx);
  }
  DeviceType t{};
  if (enum_from_name(kind, &t) && (t != DeviceType::cpu || index == 0)) return Device{t, index};
  fail(ErrorCode::Device, "invalid device '" + s + "' (expected cpu, cuda, cuda:N or cuda-sim)");
}

DeviceBackend& backend(DeviceType t) {
  switch (t) {
    case DeviceType::cpu: return cpu::device_backend();
    case DeviceType::cuda: {
#if ADVPROP_WITH_CUDA
      return cuda::device_backend();
#else
      static AbsentBackend absent(t, "this build of advprop has no CUDA code (built without nvcc)");
      return absent;
#endif
    }
    case DeviceType::cuda_sim: {
#if ADVPROP_WITH_SIM
      return cudasim::device_backend();
#else
      static AbsentBackend absent(t, "the simulator is only in development builds (ADVPROP_WITH_SIM=ON)");
      return absent;
#endif
    }
  }
  fail(ErrorCode::Device, "unknown device type");
}

bool device_available(DeviceType t) { return backend(t).available(); }

void require_device(const Device& d, const char* op) {
  DeviceBackend& b = backend(d.type);
  if (!b.available())
    fail(ErrorCode::Device, std::string(op) + ": device " + device_str(d) + " is unavailable (" +
                                b.unavailable_reason() + ")");
  if (d.index < 0 || d.index >= b.device_count())
    fail(ErrorCode::Device, std::string(op) + ": device " + device_str(d) + " does not exist (" +
                                std::to_string(b.device_count()) + " " + device_type_name(d.type) +
                                " device(s))");
}

}  // namespace advprop
