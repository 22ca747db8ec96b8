// The cuda device backend (and, compiled with ADVPROP_SIM, the cuda-sim one): error checks, one
// stream per device, and a caching allocator.
//
// Allocator rule. Requests are rounded up: up to 1 MiB to a multiple of 512 B (0 bytes takes
// one 512 B block, so every allocation is a unique non-null pointer); above 1 MiB to one of 8
// bins per power of two (2^k + j * 2^(k-3)), so at most 1/8 is wasted while a training loop's
// repeated shapes keep landing in the same few bins. A freed block goes to the free list of its
// rounded size and serves the next request of that size. Every op on a device is ordered on that
// device's single stream, so handing a block to a new owner while earlier kernels that used it
// are still queued is safe: the new owner's work runs after them.
//
// Graph pools. While a CUDA graph is captured on a device (graph.cu), its allocations come from
// a private pool owned by that graph: its own free blocks, else new cudaMalloc blocks, never the
// shared cache. A block freed during the capture, or freed later by a tensor that the capture
// made, goes back to that private pool, and a block from the shared cache freed during the
// capture is adopted by it: the graph's kernels may touch all of them at every replay, so none
// is handed to another owner while the graph lives. Destroying the graph moves its free blocks to
// the shared cache and lets its still-live blocks go there when they are freed. Private free
// blocks count in bytes_reserved only (not bytes_cached, which empty_cache can release).
#include "capture.cuh"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "advprop/cuda_info.h"
#include "advprop/device.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr int kMaxDevices = 64;
constexpr size_t kSmallLimit = size_t(1) << 20;
constexpr size_t kSmallStep = 512;


size_t round_size(size_t bytes) {
  if (bytes <= kSmallLimit) return bytes == 0 ? kSmallStep : (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  size_t p = kSmallLimit;
  while (p <= bytes / 2) p *= 2;  // p = largest power of two <= bytes
  size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

std::string mib(int64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld bytes (%.1f MiB)", static_cast<long long>(bytes),
                static_cast<double>(bytes) / 1048576.0);
  return buf;
}

// Streams are created on first use and live until process exit: destroying them during static
// destruction would race the CUDA runtime's own teardown.
std::mutex g_stream_mu;
std::atomic<cudaStream_t> g_streams[kMaxDevices];

// Makes `index` current for this thread, so the allocations and launches that follow go there.
void use_device(int index) {
  int cur = -1;
  check_cuda(cudaGetDevice(&cur), "cudaGetDevice");
  if (cur != index) check_cuda(cudaSetDevice(index), "cudaSetDevice");
}

using FreeLists = std::unordered_map<size_t, std::vector<void*>>;  // rounded size -> blocks

struct Block {
  size_t size;    // rounded
  int64_t graph;  // the graph pool it returns to, 0 for the shared cache
};

struct Pool {
  std::mutex mu;
  FreeLists free;                              // the shared cache
  std::unordered_map<void*, Block> live;       // handed-out blocks
  int64_t capturing = 0;                       // the graph being captured, 0 for none
  std::unordered_map<int64_t, FreeLists> graphs;  // each live graph's private free blocks
  MemoryStats st;
};

void* pop_block(FreeLists& lists, size_t size) {
  auto it = lists.find(size);
  if (it == lists.end() || it->second.empty()) return nullptr;
  void* p = it->second.back();
  it->second.pop_back();
  return p;
}

class CudaBackend final : public DeviceBackend {
 public:
  DeviceType type() const override { return kDeviceType; }

  bool available() const override {
    probe();
    return count_ > 0;
  }
  std::string unavailable_reason() const override {
    probe();
    return reason_;
  }
  int device_count() const override {
    probe();
    return count_;
  }

  DeviceInfo info(int index) const override {
    check_index(index, "info");
    cudaDeviceProp p;
    check_cuda(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties");
    DeviceInfo i;
    i.name = p.name;
    i.total_memory = static_cast<int64_t>(p.totalGlobalMem);
    i.compute_major = p.major;
    i.compute_minor = p.minor;
    i.multiprocessors = p.multiProcessorCount;
    i.max_threads_per_block = p.maxThreadsPerBlock;
    i.shared_mem_per_block = static_cast<int64_t>(p.sharedMemPerBlock);
    i.warp_size = p.warpSize;
    check_cuda(cudaDriverGetVersion(&i.driver_version), "cudaDriverGetVersion");
    check_cuda(cudaRuntimeGetVersion(&i.runtime_version), "cudaRuntimeGetVersion");
    return i;
  }

  void* allocate(size_t bytes, int index) override {
    check_index(index, "allocate");
    const size_t size = round_size(bytes);
    Pool& pool = pools_[index];
    std::lock_guard<std::mutex> g(pool.mu);
    ++pool.st.alloc_calls;
    const int64_t graph = pool.capturing;
    if (void* p = pop_block(graph ? pool.graphs[graph] : pool.free, size)) {
      if (!graph) pool.st.bytes_cached -= static_cast<int64_t>(size);
      return hand_out(pool, p, size, graph);
    }
    use_device(index);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    // Releasing the cache synchronises, which a capture forbids: fail at once instead.
    if (err == cudaErrorMemoryAllocation && !graph) {
      cudaGetLastError();  // clear it, or the next launch check would report it
      const int64_t cached = pool.st.bytes_cached;
      release_cached_locked(pool, index);
      err = cudaMalloc(&p, size);
      if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        fail(ErrorCode::OOM, device_str(Device{kDeviceType, index}) + ": out of memory allocating " +
                                 mib(static_cast<int64_t>(bytes)) + "; " + mib(pool.st.bytes_in_use) +
                                 " in use by tensors, " + mib(cached) +
                                 " was cached and has been released");
      }
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      fail(ErrorCode::OOM, device_str(Device{kDeviceType, index}) + ": out of memory allocating " +
                               mib(static_cast<int64_t>(bytes)) + " during a CUDA graph capture; " +
                               mib(pool.st.bytes_in_use) + " in use by tensors");
    }
    check_cuda(err, "cudaMalloc");
    ++pool.st.system_allocs;
    pool.st.bytes_reserved += static_cast<int64_t>(size);
    return hand_out(pool, p, size, graph);
  }

  // Runs from Storage's destructor, so it never throws.
  void deallocate(void* ptr, size_t, int index) override {
    if (!ptr || index < 0 || index >= kMaxDevices) return;
    Pool& pool = pools_[index];
    std::lock_guard<std::mutex> g(pool.mu);
    auto it = pool.live.find(ptr);
    if (it == pool.live.end()) {
      std::fprintf(stderr, "advprop: %s: deallocate of unknown pointer %p ignored\n",
                   device_type_name(kDeviceType), ptr);
      return;
    }
    const size_t size = it->second.size;
    int64_t graph = it->second.graph;
    pool.live.erase(it);
    --pool.st.live_tensors;
    pool.st.bytes_in_use -= static_cast<int64_t>(size);
    if (!graph || !pool.graphs.count(graph)) graph = pool.capturing;
    try {
      if (graph) {
        pool.graphs[graph][size].push_back(ptr);
        return;
      }
      pool.free[size].push_back(ptr);
      pool.st.bytes_cached += static_cast<int64_t>(size);
    } catch (...) {
      // No memory for the list: give the block back instead of caching it.
      pool.st.bytes_reserved -= static_cast<int64_t>(size);
      cudaFree(ptr);
    }
  }

  void copy_to_host(void* dst, const void* src, size_t bytes, int index) override {
    if (bytes == 0) return;
    refuse_in_capture(index, "copy_to_host (a read-back of a tensor to the host)");
    cudaStream_t s = stream_for(index);
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "copy_to_host");
    check_cuda(cudaStreamSynchronize(s), "copy_to_host: synchronize");
  }
  // The caller may free or reuse its host buffer as soon as this returns: a small copy goes
  // through a pinned ring without waiting, a larger one synchronises.
  void copy_from_host(void* dst, const void* src, size_t bytes, int index) override {
    if (bytes == 0) return;
    // A captured copy would read its source again at every replay: refused before either path.
    refuse_in_capture(index, "copy_from_host (a tensor made from host data)");
    if (bytes <= kSmallUploadBytes) return small_upload(dst, src, bytes, index);
    cudaStream_t s = stream_for(index);
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "copy_from_host");
    check_cuda(cudaStreamSynchronize(s), "copy_from_host: synchronize");
  }
  void copy_on_device(void* dst, const void* src, size_t bytes, int index) override {
    if (bytes == 0 || dst == src) return;
    check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_for(index)),
               "copy_on_device");
  }
  void synchronize(int index) override {
    refuse_in_capture(index, "synchronize");
    check_cuda(cudaStreamSynchronize(stream_for(index)), "synchronize");
  }

  void empty_cache() override {
    for (int d = 0; d < device_count() && d < kMaxDevices; ++d) {
      refuse_in_capture(d, "emptyCache");
      Pool& pool = pools_[d];
      std::lock_guard<std::mutex> g(pool.mu);
      if (pool.st.bytes_cached > 0) release_cached_locked(pool, d);
    }
  }

  MemoryStats stats(int index) const override {
    if (index < 0 || index >= kMaxDevices) return {};
    Pool& pool = pools_[index];
    std::lock_guard<std::mutex> g(pool.mu);
    return pool.st;
  }

  void reset_peak(int index) override {
    check_index(index, "reset_peak");
    Pool& pool = pools_[index];
    std::lock_guard<std::mutex> g(pool.mu);
    pool.st.peak_bytes_in_use = pool.st.bytes_in_use;
  }

 private:
  void probe() const {
    std::call_once(probed_, [this] {
      try {
        int n = 0;
        cudaError_t err = cudaGetDeviceCount(&n);
        if (err != cudaSuccess) {
          reason_ = cudaGetErrorString(err);
#if !defined(ADVPROP_SIM)
          // CUDA reports a missing driver as an "insufficient" one; say which it is.
          int driver = 0;
          if (err == cudaErrorInsufficientDriver && cudaDriverGetVersion(&driver) == cudaSuccess) {
            int runtime = 0;
            cudaRuntimeGetVersion(&runtime);
            reason_ = driver == 0 ? "no NVIDIA driver is installed (libcuda.so.1 not found)"
                                  : "the NVIDIA driver supports CUDA " + std::to_string(driver / 1000) + "." +
                                        std::to_string(driver % 1000 / 10) + " but this build needs " +
                                        std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
          }
#endif
          cudaGetLastError();
          n = 0;
        } else if (n <= 0) {
          reason_ = "no CUDA device found";
          n = 0;
        }
        count_ = n < kMaxDevices ? n : kMaxDevices;
      } catch (...) {
        count_ = 0;
        reason_ = "the CUDA runtime could not be queried";
      }
    });
  }

  void check_index(int index, const char* what) const {
    if (index < 0 || index >= device_count())
      fail(ErrorCode::Device, std::string(device_type_name(kDeviceType)) + " " + what + ": device index " +
                                  std::to_string(index) + " out of range (" + std::to_string(device_count()) +
                                  " device(s)" + (count_ ? "" : ": " + reason_) + ")");
  }

 public:
  // The allocator's side of a capture (capture.cuh).
  void begin_graph(int index, int64_t graph) {
    Pool& pool = pools_[index];
    std::lock_guard<std::mutex> g(pool.mu);
    pool.graphs[graph];
    pool.capturing = graph;
  }
  void end_graph_capture(int index) {
    Pool& pool = pools_[index];
    std::lock_guard<std::mutex> g(pool.mu);
    pool.capturing = 0;
  }
  void release_graph(int index, int64_t graph) {
    Pool& pool = pools_[index];
    std::lock_guard<std::mutex> g(pool.mu);
    auto it = pool.graphs.find(graph);
    if (it == pool.graphs.end()) return;
    if (pool.capturing == graph) pool.capturing = 0;
    for (auto& kv : it->second)
      for (void* p : kv.second) {
        pool.free[kv.first].push_back(p);
        pool.st.bytes_cached += static_cast<int64_t>(kv.first);
      }
    pool.graphs.erase(it);
    for (auto& kv : pool.live)
      if (kv.second.graph == graph) kv.second.graph = 0;
  }

 private:
  // A host synchronisation would end a capture with cudaErrorStreamCaptureUnsupported and leave
  // it invalidated; say what was refused and abort the capture so the next eager op works.
  void refuse_in_capture(int index, const char* what) {
    if (!capture_open(index)) return;
    abort_capture(index);
    fail(ErrorCode::Cuda, device_str(Device{kDeviceType, index}) + ": " + what +
                              " inside a CUDA graph capture: the host cannot wait for the device while a step "
                              "is captured; the capture was aborted");
  }

  void* hand_out(Pool& pool, void* p, size_t size, int64_t graph) {
    pool.live.emplace(p, Block{size, graph});
    ++pool.st.live_tensors;
    pool.st.bytes_in_use += static_cast<int64_t>(size);
    if (pool.st.bytes_in_use > pool.st.peak_bytes_in_use) pool.st.peak_bytes_in_use = pool.st.bytes_in_use;
    return p;
  }

  // Cached blocks may still be read by queued kernels of their previous owners: drain the
  // stream before returning them to the driver.
  void release_cached_locked(Pool& pool, int index) {
    check_cuda(cudaStreamSynchronize(stream_for(index)), "empty_cache: synchronize");
    for (auto& kv : pool.free)
      for (void* p : kv.second) {
        check_cuda(cudaFree(p), "cudaFree");
        pool.st.bytes_reserved -= static_cast<int64_t>(kv.first);
        pool.st.bytes_cached -= static_cast<int64_t>(kv.first);
      }
    pool.free.clear();
  }

  mutable std::once_flag probed_;
  mutable int count_ = 0;
  mutable std::string reason_;
  mutable Pool pools_[kMaxDevices];
};

CudaBackend& cuda_backend();

}  // namespace

void pool_begin_capture(int index, int64_t graph) { cuda_backend().begin_graph(index, graph); }
void pool_end_capture(int index) { cuda_backend().end_graph_capture(index); }
void pool_release_graph(int index, int64_t graph) { cuda_backend().release_graph(index, graph); }

void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) fail(ErrorCode::Cuda, std::string(what) + ": " + cudaGetErrorString(err));
}

namespace {
CudaBackend& cuda_backend() {
  static CudaBackend* b = new CudaBackend();  // outlives tensors freed during process exit
  return *b;
}
}  // namespace

DeviceBackend& device_backend() { return cuda_backend(); }

cudaStream_t stream_for(int index) {
  if (index < 0 || index >= device_backend().device_count())
    fail(ErrorCode::Device, std::string(device_type_name(kDeviceType)) + ": no device " + std::to_string(index));
  use_device(index);
  cudaStream_t s = g_streams[index].load(std::memory_order_acquire);
  if (s) return s;
  std::lock_guard<std::mutex> g(g_stream_mu);
  s = g_streams[index].load(std::memory_order_relaxed);
  if (!s) {
    check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    g_streams[index].store(s, std::memory_order_release);
  }
  return s;
}

void* op_stream(int index) { return static_cast<void*>(stream_for(index)); }

void* comm_stream(int index) {
  stream_for(index);  // checks the index, makes it current
  static std::mutex mu;
  static cudaStream_t streams[kMaxDevices] = {};  // index < device_count() <= kMaxDevices
  std::lock_guard<std::mutex> g(mu);
  if (!streams[index]) check_cuda(cudaStreamCreateWithFlags(&streams[index], cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  return static_cast<void*>(streams[index]);
}

void stream_after(void* waiter, void* signaller) {
  cudaEvent_t e = nullptr;
  check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  // Destroying an event whose wait is queued is allowed: the wait keeps what it needs.
  const cudaError_t rec = cudaEventRecord(e, static_cast<cudaStream_t>(signaller));
  const cudaError_t wait = rec == cudaSuccess ? cudaStreamWaitEvent(static_cast<cudaStream_t>(waiter), e, 0) : rec;
  cudaEventDestroy(e);
  check_cuda(wait, "stream_after: cudaEventRecord/cudaStreamWaitEvent");
}

// Driver and runtime versions for `advprop info` (see advprop/cuda_info.h). Safe without a
// driver: the statically linked runtime then reports driver version 0.
CudaVersions versions() {
  CudaVersions v;
  if (cudaDriverGetVersion(&v.driver) != cudaSuccess) v.driver = 0;
  if (cudaRuntimeGetVersion(&v.runtime) != cudaSuccess) v.runtime = 0;
#if defined(CUDART_VERSION)
  v.built = CUDART_VERSION;
#else
  v.built = v.runtime;
#endif
  cudaGetLastError();  // clear any sticky error from the queries
  return v;
}

void* record_event(void* stream) {
  cudaEvent_t e = nullptr;
  check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  const cudaError_t err = cudaEventRecord(e, static_cast<cudaStream_t>(stream));
  if (err != cudaSuccess) {
    cudaEventDestroy(e);
    check_cuda(err, "cudaEventRecord");
  }
  return static_cast<void*>(e);
}

bool event_done(void* event) { return cudaEventQuery(static_cast<cudaEvent_t>(event)) != cudaErrorNotReady; }

void destroy_event(void* event) { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
