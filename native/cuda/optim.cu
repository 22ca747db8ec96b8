// Optimizer updates on CUDA (contract: advprop/optim.h; reference: native/cpu/optim.cc).
//
// One launch per call, whatever the number of tensors: the host packs a table of per-tensor
// slots (the 2 to 4 pointers, the size, the decay flag, whether every pointer is 16-byte
// aligned) followed by a list of work items (tensor, chunk of kChunk elements), copies it to the
// device with one asynchronous copy, and a grid-stride loop over work items gives each block one
// chunk at a time. Chunks start at multiples of kChunk, so an aligned tensor stays aligned and
// f32 chunks move as float4.
#include "capture.cuh"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "advprop/dtype_dispatch.h"
#include "advprop/hostdevice.h"
#include "advprop/optim.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kChunk = 4096;  // 16 elements a thread: enough work per item to hide the table read
constexpr unsigned kMaxBlocks = 65535;

constexpr uint32_t kFlagDecay = 1, kFlagAligned = 2;

template <typename T>
struct Slot {
  T* ptr[4];
  int64_t n;
  uint32_t flags;
  uint32_t unused;
};
struct Work {
  int32_t tensor;
  int32_t chunk;
};

// Each op: kSlots pointers per tensor, kWrites[k] says whether slot k is stored back, and
// apply(v, decay) updates one element's values v[0..kSlots) in registers.
template <typename T>
struct RmspropOp {
  static constexpr int kSlots = 4;  // p, g, ms, mom
  RmspropConsts<T> c;
  static ADVPROP_HD bool writes(int k) { return k != 1; }
  ADVPROP_HD void apply(T* v, bool decay) const { rmsprop_element(v[0], v[1], v[2], v[3], c, decay); }
};

template <typename T>
struct SgdOp {
  static constexpr int kSlots = 3;  // p, g, buf
  T lr, mu, wd;
  bool nesterov;
  static ADVPROP_HD bool writes(int k) { return k != 1; }
  ADVPROP_HD void apply(T* v, bool decay) const { sgd_element(v[0], v[1], v[2], lr, mu, wd, decay, nesterov); }
};

template <typename T>
struct EmaOp {
  static constexpr int kSlots = 2;  // ema, source
  T d, omd;
  static ADVPROP_HD bool writes(int k) { return k == 0; }
  ADVPROP_HD void apply(T* v, bool) const { v[0] = d == T(0) ? v[1] : ema_element(v[0], v[1], d, omd); }
};

template <typename T, typename Op>
__device__ void scalar_range(const Slot<T>& s, int64_t lo, int64_t hi, const Op& op, bool decay) {
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    T v[Op::kSlots];
    for (int k = 0; k < Op::kSlots; ++k) v[k] = s.ptr[k][i];
    op.apply(v, decay);
    for (int k = 0; k < Op::kSlots; ++k)
      if (Op::writes(k)) s.ptr[k][i] = v[k];
  }
}

// Lane l (0 to 3) of a float4. The loop that calls it is unrolled, so l is a constant and q stays
// in registers.
__device__ __forceinline__ float& lane(float4& q, int l) { return l == 0 ? q.x : l == 1 ? q.y : l == 2 ? q.z : q.w; }

template <typename T, typename Op>
__global__ void multi_tensor_kernel(const Slot<T>* slots, const Work* work, int64_t n_work, Op op) {
  for (int64_t w = blockIdx.x; w < n_work; w += gridDim.x) {
    const Work wk = work[w];
    const Slot<T> s = slots[wk.tensor];
    const int64_t lo = static_cast<int64_t>(wk.chunk) * kChunk;
    const int64_t hi = lo + kChunk < s.n ? lo + kChunk : s.n;
    const bool decay = (s.flags & kFlagDecay) != 0;
    if constexpr (std::is_same<T, float>::value) {
      if (s.flags & kFlagAligned) {
        const int64_t lo4 = lo / 4, hi4 = lo4 + (hi - lo) / 4;
        for (int64_t i = lo4 + threadIdx.x; i < hi4; i += blockDim.x) {
          float4 q[Op::kSlots];
          for (int k = 0; k < Op::kSlots; ++k) q[k] = reinterpret_cast<const float4*>(s.ptr[k])[i];
#pragma unroll
          for (int l = 0; l < 4; ++l) {
            float v[Op::kSlots];
            for (int k = 0; k < Op::kSlots; ++k) v[k] = lane(q[k], l);
            op.apply(v, decay);
            for (int k = 0; k < Op::kSlots; ++k) lane(q[k], l) = v[k];
          }
          for (int k = 0; k < Op::kSlots; ++k)
            if (Op::writes(k)) reinterpret_cast<float4*>(s.ptr[k])[i] = q[k];
        }
        scalar_range(s, hi4 * 4, hi, op, decay);
        continue;
      }
    }
    scalar_range(s, lo, hi, op, decay);
  }
}

// Builds the table for `lists` (kSlots lists of equal length, already checked), uploads it and
// launches the kernel once.
template <typename T, typename Op>
void launch(const char* name, const std::vector<const TensorList*>& lists, const std::vector<uint8_t>& decay,
            const Op& op) {
  const TensorList& lead = *lists[0];
  std::vector<Slot<T>> slots(lead.size());
  std::vector<Work> work;
  for (size_t i = 0; i < lead.size(); ++i) {
    Slot<T>& s = slots[i];
    std::memset(&s, 0, sizeof(s));
    uintptr_t addr_bits = 0;
    for (int k = 0; k < Op::kSlots; ++k) {
      s.ptr[k] = (*lists[k])[i].template data_as<T>();
      addr_bits |= reinterpret_cast<uintptr_t>(s.ptr[k]);
    }
    s.n = lead[i].numel();
    s.flags = (decays(decay, i) ? kFlagDecay : 0) | ((addr_bits & 15) == 0 ? kFlagAligned : 0);
    const int64_t chunks = (s.n + kChunk - 1) / kChunk;
    // Work items index chunks in 32 bits: 2^31 chunks of kChunk are 8.8e12 elements, more than
    // any device holds, so a tensor the front-end was given always fits.
    ADVPROP_ASSERT(chunks <= INT32_MAX);
    for (int64_t c = 0; c < chunks; ++c) work.push_back({static_cast<int32_t>(i), static_cast<int32_t>(c)});
  }
  if (work.empty()) return;
  const size_t slot_bytes = slots.size() * sizeof(Slot<T>), work_bytes = work.size() * sizeof(Work);
  std::vector<unsigned char> host(slot_bytes + work_bytes);
  std::memcpy(host.data(), slots.data(), slot_bytes);
  std::memcpy(host.data() + slot_bytes, work.data(), work_bytes);
  const Device& dev = lead[0].device();
  // The table is freed when this returns; the caching allocator hands blocks out again in stream
  // order, so a later reuse is queued behind this kernel.
  Tensor table = Tensor::empty({static_cast<int64_t>(host.size())}, DType::u8, dev);
  cudaStream_t stream = stream_for(dev.index);
  // From pageable memory the copy is staged before the call returns, so `host` may be freed; a
  // captured copy reads its source at every replay, so a capture gets a copy the graph keeps.
  const void* src = capture_host_source(dev.index, host.data(), host.size());
  check_cuda(cudaMemcpyAsync(table.data(), src, host.size(), cudaMemcpyHostToDevice, stream), name);
  const auto* d_slots = static_cast<const Slot<T>*>(table.data());
  const auto* d_work = reinterpret_cast<const Work*>(static_cast<const unsigned char*>(table.data()) + slot_bytes);
  const int64_t n_work = static_cast<int64_t>(work.size());
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(n_work, kMaxBlocks));
  ADVPROP_LAUNCH((multi_tensor_kernel<T, Op>), blocks, kThreads, 0, stream)(d_slots, d_work, n_work, op);
}

}  // namespace

void rmsprop_update(const TensorList& params, const TensorList& grads, const TensorList& ms, const TensorList& mom,
                    const std::vector<uint8_t>& decay, const RmspropHyper& h) {
  dispatch_dtype(list_dtype(params), "rmspropUpdate", [&](auto zero) {
    using T = decltype(zero);
    launch<T>("rmspropUpdate", {&params, &grads, &ms, &mom}, decay, RmspropOp<T>{rmsprop_consts<T>(h)});
  });
}

void sgd_update(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                const std::vector<uint8_t>& decay, const SgdHyper& h) {
  dispatch_dtype(list_dtype(params), "sgdUpdate", [&](auto zero) {
    using T = decltype(zero);
    launch<T>("sgdUpdate", {&params, &grads, &bufs}, decay, SgdOp<T>{T(h.lr), T(h.momentum), T(h.weight_decay), h.nesterov});
  });
}

void ema_update(const TensorList& emas, const TensorList& sources, double decay) {
  dispatch_dtype(list_dtype(emas), "emaUpdate", [&](auto zero) {
    using T = decltype(zero);
    launch<T>("emaUpdate", {&emas, &sources}, {}, EmaOp<T>{T(decay), T(1.0 - decay)});
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
