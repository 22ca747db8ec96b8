// CUDA graphs of a device's op stream: capture the ops queued between begin and end once, then
// replay them with one launch (docs/ARCHITECTURE.md, "CUDA graphs"). The ops front-ends are in
// native/ops/graph.cc; the backends in native/cuda/graph.cu, compiled for cuda and cuda-sim.
#pragma once
#include <cstdint>

#include "advprop/device.h"
#include "advprop/tensor.h"

namespace advprop {
namespace ops {

// Starts capturing `device`'s stream: ops are recorded, not run, and their allocations come from
// a pool private to the graph. The cpu device has no graphs (ERR_DEVICE); a device already
// capturing is ERR_ARG. Host synchronisation until graph_end is ERR_CUDA and aborts the capture.
void graph_begin(const Device& device);
// Ends the capture and returns the graph's id (ERR_CUDA when the capture was invalidated).
int64_t graph_end(const Device& device);
// Ends a capture without keeping it; nothing when none is open.
void graph_abort(const Device& device);
// Runs the graph's recorded ops again, on its device's stream. Its random kernels draw at their
// captured Philox offsets plus `offset_shift` (lib/cuda_graph.ts keeps the global generator in step).
void graph_replay(const Device& device, int64_t id, uint64_t offset_shift);
// Frees the graph and returns its private pool to the device's cache.
void graph_destroy(const Device& device, int64_t id);
// Copies src's bytes into dst (same shape and dtype; src on dst's device or the cpu), in stream
// order: how new data reaches a captured graph's static input.
void copy_into(Tensor& dst, const Tensor& src);

}  // namespace ops

#define ADVPROP_GRAPH_KERNELS                      \
  void graph_begin(int index);                     \
  int64_t graph_end(int index);                    \
  void graph_abort(int index);                     \
  void graph_replay(int index, int64_t id, uint64_t offset_shift); \
  void graph_destroy(int index, int64_t id);

namespace cuda {
ADVPROP_GRAPH_KERNELS
}
namespace cudasim {
ADVPROP_GRAPH_KERNELS
}

}  // namespace advprop
