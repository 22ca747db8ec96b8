// The peak of bytes in use (MemoryStats::peak_bytes_in_use, DeviceBackend::reset_peak) on the cpu
// allocator and on cuda-sim's, which is the CUDA caching allocator of native/cuda/runtime.cu.
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "advprop/backends.h"
#include "advprop/device.h"
#include "harness.h"

namespace advprop {
namespace {

std::vector<DeviceType> types_with_backend() {
  std::vector<DeviceType> t{DeviceType::cpu};
  if (device_available(DeviceType::cuda_sim)) t.push_back(DeviceType::cuda_sim);
  return t;
}

ADVPROP_NATIVE_TEST(memory_peak_grows_stays_and_resets) {
  for (DeviceType t : types_with_backend()) {
    DeviceBackend& b = backend(t);
    const std::string name = device_type_name(t);
    b.reset_peak(0);
    const MemoryStats s0 = b.stats(0);
    EXPECT_MSG(s0.peak_bytes_in_use == s0.bytes_in_use, name + ": reset_peak");
    void* p = b.allocate(1 << 20, 0);
    const MemoryStats s1 = b.stats(0);
    EXPECT_MSG(s1.peak_bytes_in_use == s1.bytes_in_use && s1.bytes_in_use >= s0.bytes_in_use + (1 << 20),
               name + ": the peak follows an allocation");
    b.deallocate(p, 1 << 20, 0);
    const MemoryStats s2 = b.stats(0);
    EXPECT_MSG(s2.bytes_in_use == s0.bytes_in_use && s2.peak_bytes_in_use == s1.peak_bytes_in_use,
               name + ": deallocate keeps the peak");
    b.empty_cache();
    EXPECT_MSG(b.stats(0).peak_bytes_in_use == s1.peak_bytes_in_use, name + ": empty_cache keeps the peak");
    b.reset_peak(0);
    EXPECT_MSG(b.stats(0).peak_bytes_in_use == s0.bytes_in_use, name + ": reset_peak after deallocate");
  }
  if (device_available(DeviceType::cuda_sim)) EXPECT_THROWS(backend(DeviceType::cuda_sim).reset_peak(1), ErrorCode::Device);
}

// Threads allocating at once: the peak is at least what was live together, and never below the
// bytes in use, so its update shares the counters' lock.
ADVPROP_NATIVE_TEST(memory_peak_under_concurrent_allocations) {
  constexpr int kThreads = 4, kRounds = 200;
  constexpr size_t kBytes = 64 << 10;
  for (DeviceType t : types_with_backend()) {
    DeviceBackend& b = backend(t);
    b.reset_peak(0);
    const MemoryStats s0 = b.stats(0);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([&] {
        void* held = b.allocate(kBytes, 0);
        ++ready;
        while (ready.load() < kThreads) std::this_thread::yield();  // all four blocks live at once
        for (int r = 0; r < kRounds; ++r) b.deallocate(b.allocate(kBytes, 0), kBytes, 0);
        b.deallocate(held, kBytes, 0);
      });
    for (auto& th : threads) th.join();
    const MemoryStats s1 = b.stats(0);
    const std::string name = device_type_name(t);
    EXPECT_MSG(s1.bytes_in_use == s0.bytes_in_use, name + ": every block came back");
    EXPECT_MSG(s1.peak_bytes_in_use >= s0.bytes_in_use + static_cast<int64_t>(kThreads * kBytes),
               name + ": peak " + std::to_string(s1.peak_bytes_in_use) + " below the four held blocks");
    EXPECT_MSG(s1.peak_bytes_in_use <= s0.bytes_in_use + static_cast<int64_t>(2 * kThreads * kBytes),
               name + ": peak " + std::to_string(s1.peak_bytes_in_use) + " above what was ever live");
  }
}

}  // namespace
}  // namespace advprop
