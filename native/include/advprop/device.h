// Devices and the per-device memory/stream backend. Ops never call cudaMalloc or memcpy
// themselves: they go through DeviceBackend so that cpu, cuda and cuda-sim share one code path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/enum_table.h"

namespace advprop {

// X(id, name). The C API's ADVPROP_DEVICE_* follow this list. A device type also needs its
// DeviceBackend (backend() in core/device.cc) and a branch in ADVPROP_DISPATCH (ops/dispatch.h).
#define ADVPROP_DEVICE_TYPES(X) X(cpu, "cpu") X(cuda, "cuda") X(cuda_sim, "cuda-sim")
ADVPROP_ENUM_AS(DeviceType, uint8_t, "device type", ADVPROP_DEVICE_TYPES);

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

inline const char* device_type_name(DeviceType t) { return enum_name(t); }
std::string device_str(const Device& d);     // "cpu", "cuda:0", "cuda-sim:0"
// Parses "cpu", "cuda", "cuda:1", "cuda-sim"; throws ERR_DEVICE.
Device device_from_str(const std::string& s);

struct MemoryStats {
  int64_t live_tensors = 0;    // Storage objects alive on this device
  int64_t bytes_in_use = 0;    // bytes handed out to live storages (rounded sizes)
  int64_t peak_bytes_in_use = 0;  // the most bytes_in_use has been since reset_peak (or since start)
  int64_t bytes_cached = 0;    // bytes held by the allocator's free lists
  int64_t bytes_reserved = 0;  // bytes obtained from the system/driver and not yet returned
  int64_t alloc_calls = 0;     // allocations served
  int64_t system_allocs = 0;   // allocations that had to go to the system/driver
};

struct DeviceInfo {
  std::string name;
  int64_t total_memory = 0;
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
  int max_threads_per_block = 0;
  int64_t shared_mem_per_block = 0;
  int warp_size = 0;
  int driver_version = 0, runtime_version = 0;
};

// Memory and stream operations of one device type. Copies are ordered on the device's stream;
// anything that returns data to the host synchronises first.
class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual DeviceType type() const = 0;
  virtual bool available() const = 0;
  // Why available() is false, for messages ("no CUDA driver", "built without CUDA").
  virtual std::string unavailable_reason() const = 0;
  virtual int device_count() const = 0;
  virtual DeviceInfo info(int index) const = 0;
  // Returns memory of at least `bytes`; throws ERR_OOM after emptying the cache and retrying once.
  virtual void* allocate(size_t bytes, int index) = 0;
  virtual void deallocate(void* ptr, size_t bytes, int index) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes, int index) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes, int index) = 0;
  virtual void copy_on_device(void* dst, const void* src, size_t bytes, int index) = 0;
  virtual void synchronize(int index) = 0;
  virtual void empty_cache() = 0;
  virtual MemoryStats stats(int index) const = 0;
  // Sets peak_bytes_in_use to the bytes in use now, so that it measures from here on.
  virtual void reset_peak(int index) = 0;
};

// Always returns a backend; available() says whether it can be used.
DeviceBackend& backend(DeviceType t);
bool device_available(DeviceType t);
// Throws ERR_DEVICE naming `op` when the device is not usable.
void require_device(const Device& d, const char* op);

}  // namespace advprop
