// Host batches on their way to a device, through pinned memory on a copy stream (issue 16).
//
// A Stager owns `slots` pinned host buffers and, on cuda and cuda-sim, one copy stream. upload()
// copies the caller's bytes into the slot's pinned buffer, queues the host-to-device copy on the
// copy stream and makes the device's op stream wait for it on the device, so the host never waits
// for the op stream and the op stream only for that copy. With two slots a trainer stages step
// t+1's batch while step t's kernels run. The rules that keep it safe:
// - the host reuses a slot's pinned buffer only after that slot's previous copy finished (it waits
//   for the copy stream, never for the op stream);
// - the copy into a slot's destination waits, on the device, for the op stream's release() of
//   that slot (its last read of the previous batch), and for everything queued on the op stream
//   before the destination's first upload (the block may have had another owner);
// - the op stream waits for every copy right after it is queued, so a destination freed later
//   cannot be handed to a new owner while its copy is in flight.
// On cpu, upload() is a plain memcpy and release() does nothing.
#pragma once
#include <cstddef>
#include <cstdint>

#include "advprop/device.h"
#include "advprop/tensor.h"

namespace advprop {

class Stager {
 public:
  Stager(const Device& device, int slots);
  ~Stager();
  Stager(const Stager&) = delete;
  Stager& operator=(const Stager&) = delete;

  const Device& device() const { return device_; }
  int slots() const { return slots_; }
  // dst: a contiguous u8 tensor on the stager's device with exactly `bytes` elements.
  void upload(int slot, const uint8_t* host, size_t bytes, Tensor& dst);
  // Marks the op stream's last read of the slot's destination (call after queuing that read).
  void release(int slot);

 private:
  Device device_;
  int slots_;
  void* state_ = nullptr;  // the backend's
};

// The backends' halves: native/cpu/staging.cc, and native/cuda/staging.cu compiled for cuda and
// for cuda-sim.
#define ADVPROP_STAGER_BACKEND                                                        \
  void* stager_create(int index, int slots);                                         \
  void stager_destroy(void* state);                                                  \
  void stager_upload(void* state, int slot, const void* host, size_t bytes, void* dst); \
  void stager_release(void* state, int slot);
namespace cpu { ADVPROP_STAGER_BACKEND }
namespace cuda { ADVPROP_STAGER_BACKEND }
namespace cudasim { ADVPROP_STAGER_BACKEND }
#undef ADVPROP_STAGER_BACKEND

}  // namespace advprop
