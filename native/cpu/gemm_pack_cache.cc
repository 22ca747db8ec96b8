// See gemm_pack_cache.h.
#include "gemm_pack_cache.h"

#include <list>
#include <mutex>

#include "advprop/device.h"

namespace advprop {
namespace cpu {
namespace {

struct Entry {
  PackKey key;
  std::shared_ptr<const void> data;
  size_t bytes = 0;
};

struct Cache {
  std::mutex mu;
  std::list<Entry> entries;
  size_t bytes = 0;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: gemm may run during static destruction
  return *c;
}

// Storage's destructor hook: the storage's packs go with it.
void forget_storage(const Storage* storage) {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.mu);
  for (auto it = c.entries.begin(); it != c.entries.end();) {
    if (it->key.storage == storage) {
      c.bytes -= it->bytes;
      it = c.entries.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

std::shared_ptr<const void> packed_weights(const Tensor& b, const PackKey& key, size_t bytes,
                                           const std::function<void(void*)>& fill) {
  if (!b.storage()->owned()) return nullptr;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> g(c.mu);
    for (auto it = c.entries.begin(); it != c.entries.end();) {
      // The same storage under another stamp has been written since: that pack is stale.
      if (it->key.storage == key.storage && it->key.stamp != key.stamp) {
        c.bytes -= it->bytes;
        it = c.entries.erase(it);
        continue;
      }
      if (it->key == key) return it->data;
      ++it;
    }
  }
  // Packed outside the lock: fill runs the pool's threads.
  // From the cpu device's allocator, so memoryStats counts the packs and emptyCache frees them.
  DeviceBackend& be = backend(DeviceType::cpu);
  std::shared_ptr<void> data(be.allocate(bytes, 0), [&be, bytes](void* p) { be.deallocate(p, bytes, 0); });
  fill(data.get());
  std::lock_guard<std::mutex> g(c.mu);
  if (c.bytes + bytes <= kPackCacheBytes) {
    c.entries.push_back(Entry{key, data, bytes});
    c.bytes += bytes;
    b.storage()->set_derived(&forget_storage);
  }
  return data;
}

void clear_packed_weights() {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.mu);
  c.entries.clear();
  c.bytes = 0;
}

PackCacheStats packed_weights_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.mu);
  return {static_cast<int64_t>(c.entries.size()), static_cast<int64_t>(c.bytes)};
}

}  // namespace cpu
}  // namespace advprop
