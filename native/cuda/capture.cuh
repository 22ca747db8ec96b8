// What runtime.cu (the allocator) and graph.cu (stream capture and graphs) tell each other about
// a capture. Internal to native/cuda.
#pragma once
#include "common.cuh"

#include <cstdint>

#include "advprop/hostdevice.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {

// runtime.cu: allocations on device `index` come from graph `graph`'s private pool until
// pool_end_capture; pool_release_graph hands that pool's blocks back to the shared cache.
void pool_begin_capture(int index, int64_t graph);
void pool_end_capture(int index);
void pool_release_graph(int index, int64_t graph);

// graph.cu: whether device `index` is being captured; abort_capture ends such a capture, drops
// what it recorded and releases its pool (never throws).
bool capture_open(int index);
void abort_capture(int index) noexcept;
// A host buffer that a copy queued now may read: `data` itself outside a capture; during one, a
// pinned copy of it that lives as long as the graph, since a captured copy reads its source at
// every replay, long after the caller's buffer is gone.
const void* capture_host_source(int index, const void* data, size_t bytes);
// The device word a random kernel queued now adds to its Philox offset: null outside a capture
// (eager draws are unchanged); during one, the graph's word, which each replay sets first, so a
// replay draws at the offsets the global generator has reached (lib/cuda_graph.ts).
const uint64_t* capture_offset_word(int index);

ADVPROP_HD uint64_t shifted_offset(uint64_t offset, const uint64_t* add) { return add ? offset + *add : offset; }

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
