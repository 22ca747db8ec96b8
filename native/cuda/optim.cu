// Optimizer updates on CUDA (contract: advprop/optim.h; reference: native/cpu/optim.cc).
//
// One launch per kPerLaunch tensors (one for B0's 213): a table of per-tensor slots (the 2 to 4
// pointers, the size, the decay flag, whether the slot's pointers are 16-byte aligned) and a list
// of work items (tensor, chunk of kChunk elements) lives on the device, and a grid-stride loop
// over work items gives each block one chunk at a time. Chunks start at multiples of kChunk, so an
// aligned tensor stays aligned and f32 chunks move as float4.
//
// The table is uploaded once per set of state tensors, not per call (issue 16): list 1 (the
// gradients; the EMA's sources) is the one that changes between calls, so its pointers travel as
// kernel arguments and the rest of the table is cached on the device, keyed by its bytes. A
// steady training loop therefore makes no allocation, no host-to-device copy and no host wait in
// its optimizer and EMA calls, and a captured CUDA graph replays kernels whose table outlives it
// (cached tables are never freed). Past kMaxTables tables on a device a call builds, uploads
// and frees its own, as every call once did.
#include "capture.cuh"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
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

constexpr int kPerLaunch = 192;  // list-1 pointers per launch: 1.5 KB of the 4 KB a launch's arguments may take
constexpr size_t kMaxTables = 32;  // cached tables per device

// List 1's pointers of tensors [first, first + kPerLaunch), by value.
template <typename T>
struct CallPtrs {
  T* p[kPerLaunch];
};

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

// Each op: kSlots pointers per tensor, writes(k) says whether slot k is stored back, and
// apply(v, decay) updates one element's values v[0..kSlots) in registers. `at`, when set, is a
// device scalar (f64) that load() reads once per thread in place of the by-value rate or decay.
template <typename T>
struct RmspropOp {
  static constexpr int kSlots = 4;  // p, g, ms, mom
  RmspropConsts<T> c;
  const double* at;
  static ADVPROP_HD bool writes(int k) { return k != 1; }
  __device__ void load() {
    if (at) c.lr = T(*at);
  }
  ADVPROP_HD void apply(T* v, bool decay) const { rmsprop_element(v[0], v[1], v[2], v[3], c, decay); }
};

template <typename T>
struct SgdOp {
  static constexpr int kSlots = 3;  // p, g, buf
  T lr, mu, wd;
  bool nesterov;
  const double* at;
  static ADVPROP_HD bool writes(int k) { return k != 1; }
  __device__ void load() {
    if (at) lr = T(*at);
  }
  ADVPROP_HD void apply(T* v, bool decay) const { sgd_element(v[0], v[1], v[2], lr, mu, wd, decay, nesterov); }
};

template <typename T>
struct EmaOp {
  static constexpr int kSlots = 2;  // ema, source
  T d, omd;
  const double* at;
  static ADVPROP_HD bool writes(int k) { return k == 0; }
  __device__ void load() {
    if (at) {
      const double v = *at;
      d = T(v);
      omd = T(1.0 - v);
    }
  }
  ADVPROP_HD void apply(T* v, bool) const { v[0] = d == T(0) ? v[1] : ema_element(v[0], v[1], d, omd); }
};

// The device address of an optional f64 scalar.
inline const double* scalar_at(const Tensor& t) { return t.defined() ? t.data_as<double>() : nullptr; }

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

// Work items [w_begin, w_end) are those of tensors [first, first + kPerLaunch).
template <typename T, typename Op>
__global__ void multi_tensor_kernel(const Slot<T>* slots, const Work* work, int64_t w_begin, int64_t w_end, int32_t first,
                                    CallPtrs<T> call, Op op) {
  op.load();
  for (int64_t w = w_begin + blockIdx.x; w < w_end; w += gridDim.x) {
    const Work wk = work[w];
    Slot<T> s = slots[wk.tensor];
    s.ptr[1] = call.p[wk.tensor - first];
    if ((reinterpret_cast<uintptr_t>(s.ptr[1]) & 15) != 0) s.flags &= ~kFlagAligned;
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

// Device tables by device, each under its bytes (a header naming the op's slot count and T, the
// slots with list 1's pointers zeroed, the work items). Memory from cudaMalloc, outside the
// caching allocator: never freed, so never reused under a kernel or a graph that reads it.
struct CachedTable {
  std::vector<unsigned char> bytes;
  void* device = nullptr;
};
std::mutex g_tables_mu;
std::vector<CachedTable> g_tables[64];

// The device copy of `host` on device `index`: a cached one, or null when the cache is full.
const void* cached_table(const std::vector<unsigned char>& host, int index, cudaStream_t stream, const char* name) {
  std::lock_guard<std::mutex> g(g_tables_mu);
  ADVPROP_ASSERT(index >= 0 && index < 64);
  auto& tables = g_tables[index];
  for (const CachedTable& t : tables)
    if (t.bytes == host) return t.device;
  if (tables.size() >= kMaxTables) return nullptr;
  CachedTable t;
  t.bytes = host;
  check_cuda(cudaMalloc(&t.device, host.size()), name);
  // From the entry's own bytes, which live as long as the table; inside a capture from the
  // pinned copy the graph keeps, since a graph's copy cannot read pageable memory.
  const void* src = capture_host_source(index, t.bytes.data(), t.bytes.size());
  const cudaError_t err = cudaMemcpyAsync(t.device, src, t.bytes.size(), cudaMemcpyHostToDevice, stream);
  if (err != cudaSuccess) {
    cudaFree(t.device);
    check_cuda(err, name);
  }
  tables.push_back(std::move(t));
  return tables.back().device;
}

// Builds the table for `lists` (kSlots lists of equal length, already checked), finds or uploads
// its device copy and launches the kernel once per kPerLaunch tensors.
template <typename T, typename Op>
void launch(const char* name, const std::vector<const TensorList*>& lists, const std::vector<uint8_t>& decay,
            const Op& op) {
  static_assert(Op::kSlots >= 2, "list 1 is the per-call list");
  const TensorList& lead = *lists[0];
  const int32_t n_tensors = static_cast<int32_t>(lead.size());
  std::vector<Slot<T>> slots(lead.size());
  std::vector<Work> work;
  std::vector<int64_t> work_begin(lead.size() + 1, 0);  // tensor i's items: [work_begin[i], work_begin[i+1])
  for (size_t i = 0; i < lead.size(); ++i) {
    Slot<T>& s = slots[i];
    std::memset(&s, 0, sizeof(s));
    uintptr_t addr_bits = 0;
    for (int k = 0; k < Op::kSlots; ++k) {
      if (k == 1) continue;  // list 1 goes by value; the kernel checks its alignment
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
    work_begin[i + 1] = static_cast<int64_t>(work.size());
  }
  if (work.empty()) return;
  const uint32_t header[2] = {static_cast<uint32_t>(Op::kSlots), static_cast<uint32_t>(sizeof(T))};
  const size_t head_bytes = sizeof(header), slot_bytes = slots.size() * sizeof(Slot<T>),
               work_bytes = work.size() * sizeof(Work);
  std::vector<unsigned char> host(head_bytes + slot_bytes + work_bytes);
  std::memcpy(host.data(), header, head_bytes);
  std::memcpy(host.data() + head_bytes, slots.data(), slot_bytes);
  std::memcpy(host.data() + head_bytes + slot_bytes, work.data(), work_bytes);
  const Device& dev = lead[0].device();
  cudaStream_t stream = stream_for(dev.index);
  const void* table = cached_table(host, dev.index, stream, name);
  Tensor scratch;  // a full cache: this call's own table, freed when it returns
  if (!table) {
    scratch = Tensor::empty({static_cast<int64_t>(host.size())}, DType::u8, dev);
    // From pageable memory the copy is staged before the call returns, so `host` may be freed;
    // the caching allocator hands the block out again in stream order, behind these kernels. A
    // captured copy reads its source at every replay: a capture gets a copy the graph keeps.
    const void* src = capture_host_source(dev.index, host.data(), host.size());
    check_cuda(cudaMemcpyAsync(scratch.data(), src, host.size(), cudaMemcpyHostToDevice, stream), name);
    table = scratch.data();
  }
  const auto* d_slots = reinterpret_cast<const Slot<T>*>(static_cast<const unsigned char*>(table) + head_bytes);
  const auto* d_work = reinterpret_cast<const Work*>(static_cast<const unsigned char*>(table) + head_bytes + slot_bytes);
  for (int32_t first = 0; first < n_tensors; first += kPerLaunch) {
    const int32_t last = std::min<int32_t>(n_tensors, first + kPerLaunch);
    const int64_t w0 = work_begin[first], w1 = work_begin[last];
    if (w1 == w0) continue;
    CallPtrs<T> call;
    std::memset(&call, 0, sizeof(call));
    for (int32_t i = first; i < last; ++i) call.p[i - first] = (*lists[1])[i].template data_as<T>();
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(w1 - w0, kMaxBlocks));
    ADVPROP_LAUNCH((multi_tensor_kernel<T, Op>), blocks, kThreads, 0, stream)(d_slots, d_work, w0, w1, first, call, op);
  }
}

}  // namespace

void rmsprop_update(const TensorList& params, const TensorList& grads, const TensorList& ms, const TensorList& mom,
                    const std::vector<uint8_t>& decay, const RmspropHyper& h) {
  dispatch_dtype(list_dtype(params), "rmspropUpdate", [&](auto zero) {
    using T = decltype(zero);
    launch<T>("rmspropUpdate", {&params, &grads, &ms, &mom}, decay, RmspropOp<T>{rmsprop_consts<T>(h), scalar_at(h.lr_at)});
  });
}

void sgd_update(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                const std::vector<uint8_t>& decay, const SgdHyper& h) {
  dispatch_dtype(list_dtype(params), "sgdUpdate", [&](auto zero) {
    using T = decltype(zero);
    launch<T>("sgdUpdate", {&params, &grads, &bufs}, decay, SgdOp<T>{T(h.lr), T(h.momentum), T(h.weight_decay), h.nesterov, scalar_at(h.lr_at)});
  });
}

void ema_update(const TensorList& emas, const TensorList& sources, double decay, const Tensor& decay_at) {
  dispatch_dtype(list_dtype(emas), "emaUpdate", [&](auto zero) {
    using T = decltype(zero);
    launch<T>("emaUpdate", {&emas, &sources}, {}, EmaOp<T>{T(decay), T(1.0 - decay), scalar_at(decay_at)});
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
