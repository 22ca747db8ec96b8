// The cpu device: host memory from a caching buffer pool, and no stream (work is synchronous).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

#include "advprop/backends.h"
#include "advprop/error.h"
#include "advprop/host_memory.h"
#include "advprop/parallel.h"
#include "../cpu/gemm_pack_cache.h"

namespace advprop {
namespace cpu {
namespace {

constexpr size_t kAlign = 64;                  // a cache line; also enough for AVX-512 loads
// Freed buffers are kept for reuse up to the larger of this and twice the peak of bytes in use
// (twice: blocks cached in one phase of a step, e.g. the attack's N-image sizes, sit beside those
// the 2N pass needs), so that a step whose working set is above 1 GiB (AdvProp's 2N batch at
// 224×224) reuses its buffers instead of going to the OS (~500 fresh allocations and their page
// faults per step otherwise). Reserved memory can thus reach about three times the peak in use; the
// peak falls only on emptyCache.
constexpr size_t kMinCacheCap = size_t(1) << 30;

// Up to 4 KiB: multiples of 64 bytes. Above: the next of 2^k·{1, 1.25, 1.5, 1.75}, so at most a
// quarter is wasted and a training loop's repeated shapes land in a handful of bins.
size_t round_size(size_t bytes) {
  if (bytes <= 4096) return bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
  size_t p = 4096;
  while (p * 2 < bytes) p *= 2;
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

class CpuBackend final : public DeviceBackend {
 public:
  DeviceType type() const override { return DeviceType::cpu; }
  bool available() const override { return true; }
  std::string unavailable_reason() const override { return ""; }
  int device_count() const override { return 1; }
  DeviceInfo info(int) const override {
    DeviceInfo i;
    i.name = "cpu (" + std::to_string(num_threads()) + " threads)";
    i.multiprocessors = num_threads();
    i.total_memory = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
    return i;
  }

  void* allocate(size_t bytes, int) override {
    size_t size = round_size(bytes);
    std::lock_guard<std::mutex> g(mu_);
    ++stats_.alloc_calls;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= size;
      return hand_out(p, size);
    }
    // The budget first: past it, the cache goes back to the system and the request is retried once.
    bool budget = host_memory::reserve(size);
    if (!budget) {
      release_cached_locked();
      budget = host_memory::reserve(size);
    }
    void* p = budget ? std::aligned_alloc(kAlign, size) : nullptr;
    if (!p && budget) {
      release_cached_locked();
      p = std::aligned_alloc(kAlign, size);
      if (!p) host_memory::release(size);
    }
    if (!p)
      fail(ErrorCode::OOM, "cpu: out of memory allocating " + std::to_string(bytes) + " bytes (" +
                               std::to_string(stats_.bytes_in_use) + " bytes in use by tensors)" +
                               host_memory::limit_note());
    ++stats_.system_allocs;
    stats_.bytes_reserved += size;
    return hand_out(p, size);
  }

  void deallocate(void* p, size_t bytes, int) override {
    if (!p) return;
    size_t size = round_size(bytes);
    std::lock_guard<std::mutex> g(mu_);
    --stats_.live_tensors;
    stats_.bytes_in_use -= size;
    const size_t cap = std::max(kMinCacheCap, 2 * peak_in_use_);
    if (static_cast<size_t>(stats_.bytes_cached) + size <= cap) {
      // Runs from Storage's destructor, so it must not throw: with no memory left for the free
      // list's node, the block goes back to the system instead (an uncaught bad_alloc here was
      // a std::terminate).
      try {
        free_[size].push_back(p);
        stats_.bytes_cached += size;
        return;
      } catch (...) {
      }
    }
    give_back(p, size);
  }

  void copy_to_host(void* dst, const void* src, size_t n, int) override { copy(dst, src, n); }
  void copy_from_host(void* dst, const void* src, size_t n, int) override { copy(dst, src, n); }
  void copy_on_device(void* dst, const void* src, size_t n, int) override { copy(dst, src, n); }
  void synchronize(int) override {}
  void empty_cache() override {
    clear_packed_weights();  // before the lock: freeing the packs takes it
    std::lock_guard<std::mutex> g(mu_);
    release_cached_locked();
    peak_in_use_ = static_cast<size_t>(stats_.bytes_in_use);  // the caller asked for memory back
  }
  MemoryStats stats(int) const override {
    std::lock_guard<std::mutex> g(mu_);
    return stats_;
  }
  // Only the reported peak: the cache cap keeps its own (peak_in_use_), which emptyCache resets.
  void reset_peak(int) override {
    std::lock_guard<std::mutex> g(mu_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }

 private:
  void* hand_out(void* p, size_t size) {
    ++stats_.live_tensors;
    stats_.bytes_in_use += size;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    peak_in_use_ = std::max(peak_in_use_, static_cast<size_t>(stats_.bytes_in_use));
    return p;
  }
  void give_back(void* p, size_t size) {
    std::free(p);
    stats_.bytes_reserved -= size;
    host_memory::release(size);
  }
  void release_cached_locked() {
    for (auto& kv : free_)
      for (void* p : kv.second) give_back(p, kv.first);
    free_.clear();
    stats_.bytes_cached = 0;
  }
  static void copy(void* dst, const void* src, size_t n) {
    if (n == 0 || dst == src) return;
    // Large copies are split over the pool: one core cannot saturate memory bandwidth.
    const int64_t grain = int64_t(1) << 20;
    if (n <= static_cast<size_t>(grain)) {
      std::memmove(dst, src, n);
      return;
    }
    parallel_for(0, static_cast<int64_t>(n), grain, [&](int64_t lo, int64_t hi) {
      std::memcpy(static_cast<char*>(dst) + lo, static_cast<const char*>(src) + lo, hi - lo);
    });
  }

  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  MemoryStats stats_;
  size_t peak_in_use_ = 0;
};

}  // namespace

DeviceBackend& device_backend() {
  static CpuBackend* b = new CpuBackend();  // outlives tensors freed during process exit
  return *b;
}

}  // namespace cpu
}  // namespace advprop
