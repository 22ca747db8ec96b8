// The cuda and cuda-sim half of advprop/staging.h: pinned buffers, the copy stream and the events
// that order it against the op stream (the header states the rules); and small_upload
// (common.cuh), the ring through which small host-to-device copies avoid a host wait.
#include "common.cuh"

#include <cstring>
#include <mutex>
#include <vector>

#include "advprop/staging.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

struct Slot {
  void* pinned = nullptr;
  size_t capacity = 0;
  cudaEvent_t copied = nullptr;    // on the copy stream: this slot's last copy is done
  cudaEvent_t released = nullptr;  // on the op stream: the last read of this slot's destination
  const void* dst = nullptr;       // the destination of the last upload
};

struct State {
  int index = 0;
  cudaStream_t copy = nullptr;
  std::vector<Slot> slots;
};

}  // namespace

void* stager_create(int index, int slots) {
  stream_for(index);  // checks the index and makes it current
  auto* s = new State();
  s->index = index;
  s->slots.resize(static_cast<size_t>(slots));
  try {
    check_cuda(cudaStreamCreateWithFlags(&s->copy, cudaStreamNonBlocking), "stager: cudaStreamCreateWithFlags");
    for (Slot& sl : s->slots) {
      check_cuda(cudaEventCreateWithFlags(&sl.copied, cudaEventDisableTiming), "stager: cudaEventCreateWithFlags");
      check_cuda(cudaEventCreateWithFlags(&sl.released, cudaEventDisableTiming), "stager: cudaEventCreateWithFlags");
    }
  } catch (...) {
    stager_destroy(s);
    throw;
  }
  return s;
}

// Waits for the copies in flight, since their pinned sources are freed here. Errors are not
// thrown: this runs from finalizers, and a failed context has nothing left to wait for.
void stager_destroy(void* state) {
  auto* s = static_cast<State*>(state);
  if (!s) return;
  for (Slot& sl : s->slots) {
    if (sl.copied) {
      cudaEventSynchronize(sl.copied);
      cudaEventDestroy(sl.copied);
    }
    if (sl.released) cudaEventDestroy(sl.released);
    if (sl.pinned) cudaFreeHost(sl.pinned);
  }
  if (s->copy) cudaStreamDestroy(s->copy);
  cudaGetLastError();
  delete s;
}

void stager_upload(void* state, int slot, const void* host, size_t bytes, void* dst) {
  auto* s = static_cast<State*>(state);
  Slot& sl = s->slots[static_cast<size_t>(slot)];
  cudaStream_t op = stream_for(s->index);
  // The previous copy out of this pinned buffer must be done before it is overwritten.
  check_cuda(cudaEventSynchronize(sl.copied), "stager: wait for the slot's previous copy");
  if (bytes > sl.capacity) {
    if (sl.pinned) check_cuda(cudaFreeHost(sl.pinned), "stager: cudaFreeHost");
    sl.pinned = nullptr;
    sl.capacity = 0;
    check_cuda(cudaHostAlloc(&sl.pinned, bytes, cudaHostAllocDefault), "stager: cudaHostAlloc");
    sl.capacity = bytes;
  }
  std::memcpy(sl.pinned, host, bytes);
  // A new destination block may still be read or written by op-stream work queued before it was
  // handed out: order the copy after all of it, once.
  if (dst != sl.dst) check_cuda(cudaEventRecord(sl.released, op), "stager: cudaEventRecord");
  sl.dst = dst;
  check_cuda(cudaStreamWaitEvent(s->copy, sl.released, 0), "stager: cudaStreamWaitEvent");
  check_cuda(cudaMemcpyAsync(dst, sl.pinned, bytes, cudaMemcpyHostToDevice, s->copy), "stager: cudaMemcpyAsync");
  check_cuda(cudaEventRecord(sl.copied, s->copy), "stager: cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(op, sl.copied, 0), "stager: cudaStreamWaitEvent");
}

void stager_release(void* state, int slot) {
  auto* s = static_cast<State*>(state);
  check_cuda(cudaEventRecord(s->slots[static_cast<size_t>(slot)].released, stream_for(s->index)),
             "stager: cudaEventRecord");
}

// small_upload's ring, one per device: kSegments segments of kSmallUploadBytes of pinned memory.
// A copy never straddles segments; after each copy the segment's event is recorded on the op
// stream, so when the ring comes back to a segment, waiting for its event waits for the last copy
// out of it. The host waits only when the device is a whole ring of uploads behind.
namespace {
constexpr int kSegments = 16;
constexpr size_t kAlign = 256;

struct Ring {
  std::mutex mu;
  unsigned char* pinned = nullptr;
  cudaEvent_t done[kSegments] = {};
  int segment = 0;
  size_t offset = 0;  // within the segment
};
Ring g_rings[64];

void ring_init(Ring& r) {
  check_cuda(cudaHostAlloc(&r.pinned, kSmallUploadBytes * kSegments, cudaHostAllocDefault), "upload: cudaHostAlloc");
  for (cudaEvent_t& e : r.done) check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "upload: cudaEventCreateWithFlags");
}
}  // namespace

void small_upload(void* dst, const void* src, size_t bytes, int index) {
  cudaStream_t op = stream_for(index);
  ADVPROP_ASSERT(index >= 0 && index < 64 && bytes <= kSmallUploadBytes);
  Ring& r = g_rings[index];
  std::lock_guard<std::mutex> g(r.mu);
  if (!r.pinned) ring_init(r);
  if (r.offset + bytes > kSmallUploadBytes) {
    r.segment = (r.segment + 1) % kSegments;
    r.offset = 0;
    check_cuda(cudaEventSynchronize(r.done[r.segment]), "upload: wait for the ring segment's last copy");
  }
  unsigned char* staged = r.pinned + static_cast<size_t>(r.segment) * kSmallUploadBytes + r.offset;
  std::memcpy(staged, src, bytes);
  check_cuda(cudaMemcpyAsync(dst, staged, bytes, cudaMemcpyHostToDevice, op), "copy_from_host");
  check_cuda(cudaEventRecord(r.done[r.segment], op), "upload: cudaEventRecord");
  r.offset += (bytes + kAlign - 1) / kAlign * kAlign;
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
