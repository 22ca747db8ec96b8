// Packed weights kept across calls (gemm.cc): the inference path's GEMMs (those with an
// epilogue) take op(B) = a layer's weights, the same at every call, and packing them into
// micro-panels was 3 % of a batch-8 B0 forward and 40 % of a batch-1 one. An entry is keyed on
// the weights' storage, its stamp (advprop/tensor.h: a new one at every write by an op), the
// view and the panel layout, so a pack never outlives a change to the weights: an optimizer
// step, an EMA update or a load makes the next call pack again. The packs hold the values the
// per-call packing writes, so nothing read from the cache changes a bit of C. The depthwise
// forward keeps its transposed weights ([KH, KW, C]) here too, on the same path (depthwise.cc).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "advprop/tensor.h"

namespace advprop {
namespace cpu {

// What a pack is made from and how it is laid out.
struct PackKey {
  const Storage* storage = nullptr;
  uint64_t stamp = 0;
  int64_t offset = 0, k = 0, n = 0, ldb = 0;
  bool trans = false;
  int elem = 0, nr = 0;
  int64_t kc = 0;
  bool operator==(const PackKey& o) const {
    return storage == o.storage && stamp == o.stamp && offset == o.offset && k == o.k && n == o.n && ldb == o.ldb &&
           trans == o.trans && elem == o.elem && nr == o.nr && kc == o.kc;
  }
};

// The pack of key's B (bytes long), from the cache or made now by fill(dst) and kept while the
// cache's total stays under its cap (kPackCacheBytes); past it the pack is made for this call
// alone, so a model larger than the cap keeps its first layers cached rather than evicting in
// a cycle. A storage's entries go when it is destroyed (Storage::set_derived), and those of an
// older stamp when a call finds them. Returns null (the caller packs per tile as before) for
// borrowed storage.
std::shared_ptr<const void> packed_weights(const Tensor& b, const PackKey& key, size_t bytes,
                                           const std::function<void(void*)>& fill);

// Drops every entry (emptyCache on the cpu); entries in use stay alive until their call ends.
void clear_packed_weights();
// Entries and bytes held, for tests.
struct PackCacheStats {
  int64_t entries = 0, bytes = 0;
};
PackCacheStats packed_weights_stats();

constexpr size_t kPackCacheBytes = size_t(512) << 20;

}  // namespace cpu
}  // namespace advprop
