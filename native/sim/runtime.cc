// The CUDA runtime calls of cuda-sim: one device whose memory is host memory. Launches are
// synchronous (scheduler.cc), so every stream is always idle and events are host timestamps.
// A capturing stream records its work instead (graph.cc).
#include "runtime_state.h"

#include <unistd.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "advprop/host_memory.h"
#include "advprop/parallel.h"

namespace advprop {
namespace sim {

namespace {

constexpr size_t kDeviceAlign = 256;  // what cudaMalloc guarantees
constexpr size_t kHostAlign = 64;

thread_local rt::cudaError_t tl_last_error = rt::cudaSuccess;

rt::cudaError_t record(rt::cudaError_t err) {
  if (err != rt::cudaSuccess) tl_last_error = err;
  return err;
}

std::mutex g_attr_mutex;
std::unordered_map<const void*, size_t>& smem_limits() {
  static std::unordered_map<const void*, size_t> limits;
  return limits;
}

bool valid_kind(rt::cudaMemcpyKind kind) {
  return kind >= rt::cudaMemcpyHostToHost && kind <= rt::cudaMemcpyDefault;
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

rt::cudaError_t record_error(rt::cudaError_t err) { return record(err); }

size_t max_dynamic_smem(const void* kernel) {
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  auto it = smem_limits().find(kernel);
  return it == smem_limits().end() ? rt::kSharedMemPerBlock : it->second;
}

}  // namespace sim
}  // namespace advprop

namespace advprop {
namespace sim {
namespace rt {

void __trap() { throw Error(ErrorCode::Cuda, "cuda-sim: __trap() called by a kernel"); }

const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorCapturedEvent: return "operation not permitted on an event last recorded in a capturing stream";
    case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
    default: return "unknown error";
  }
}

const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorCapturedEvent: return "cudaErrorCapturedEvent";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    default: return "cudaErrorUnknown";
  }
}

cudaError_t cudaGetLastError() {
  cudaError_t e = tl_last_error;
  tl_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return tl_last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return record(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  if (!device) return record(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return record(cudaErrorInvalidValue);
  if (device != 0) return record(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "%s", "advprop cuda-sim");
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  prop->totalGlobalMem = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
  prop->sharedMemPerBlock = kSharedMemPerBlock;
  prop->sharedMemPerBlockOptin = kSharedMemPerBlockOptin;
  prop->sharedMemPerMultiprocessor = 228 * 1024;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = kMaxThreadsPerBlock;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->clockRate = 1000000;
  prop->totalConstMem = 64 * 1024;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = num_threads();
  prop->l2CacheSize = 0;
  prop->memoryBusWidth = 0;
  prop->concurrentKernels = 0;
  prop->unifiedAddressing = 1;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return record(cudaErrorInvalidValue);
  if (device != 0) return record(cudaErrorInvalidDevice);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(p.sharedMemPerBlockOptin); break;
    default: return record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

// CUDA 12.0, the oldest toolkit the cuda device is built with.
cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return record(cudaErrorInvalidValue);
  *version = 12000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  if (!version) return record(cudaErrorInvalidValue);
  *version = 12000;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return record(sync_allowed(nullptr)); }
cudaError_t cudaDeviceReset() { return cudaSuccess; }

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return record(cudaErrorInvalidValue);
  const long page = sysconf(_SC_PAGESIZE);
  const long total = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES);
  *total_bytes = total > 0 ? static_cast<size_t>(total) * static_cast<size_t>(page) : 0;
  *free_bytes = avail > 0 ? static_cast<size_t>(avail) * static_cast<size_t>(page) : 0;
  return cudaSuccess;
}

// The simulated device's memory is host memory, so it draws from the host budget: a leak on
// cuda-sim then ends in the caching allocator's ERR_OOM, as it would on a GPU, not in the
// kernel's OOM killer. cudaFree is not told the size, hence the map.
std::mutex& device_alloc_mu() {
  static std::mutex mu;
  return mu;
}
std::unordered_map<void*, size_t>& device_allocs() {
  static auto* m = new std::unordered_map<void*, size_t>();  // outlives frees at process exit
  return *m;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (!advprop::host_memory::reserve(bytes)) return record(cudaErrorMemoryAllocation);
  void* p = ::operator new(bytes, std::align_val_t(kDeviceAlign), std::nothrow);
  if (p) {
    try {
      std::lock_guard<std::mutex> g(device_alloc_mu());
      device_allocs()[p] = bytes;
    } catch (...) {
      ::operator delete(p, std::align_val_t(kDeviceAlign));
      p = nullptr;
    }
  }
  if (!p) {
    advprop::host_memory::release(bytes);
    return record(cudaErrorMemoryAllocation);
  }
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (cudaError_t err = sync_allowed(nullptr)) return record(err);
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> g(device_alloc_mu());
    auto it = device_allocs().find(ptr);
    if (it == device_allocs().end()) return record(cudaErrorInvalidValue);
    bytes = it->second;
    device_allocs().erase(it);
  }
  ::operator delete(ptr, std::align_val_t(kDeviceAlign));
  advprop::host_memory::release(bytes);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) { return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault); }
cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned) {
  if (!ptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  void* p = ::operator new(bytes, std::align_val_t(kHostAlign), std::nothrow);
  if (!p) return record(cudaErrorMemoryAllocation);
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  if (ptr) ::operator delete(ptr, std::align_val_t(kHostAlign));
  return cudaSuccess;
}

// Each copy or memset is checked when called; the bytes move now, or at replay when the stream
// captures (`queue`).
template <typename Op>
static cudaError_t queue(cudaStream_t stream, Op op) {
  if (any_capture()) {
    cudaError_t err = cudaSuccess;
    if (capture_op(stream, op, &err) != Capture::none) return record(err);
  }
  op();
  return cudaSuccess;
}

static cudaError_t memcpy_on(cudaStream_t stream, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (!valid_kind(kind)) return record(cudaErrorInvalidValue);
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src) return record(cudaErrorInvalidValue);
  return queue(stream, [=] { std::memcpy(dst, src, bytes); });
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (cudaError_t err = sync_allowed(nullptr)) return record(err);
  return memcpy_on(nullptr, dst, src, bytes, kind);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  return memcpy_on(stream, dst, src, bytes, kind);
}

static cudaError_t memcpy2d_on(cudaStream_t stream, void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                        size_t height, cudaMemcpyKind kind) {
  if (!valid_kind(kind) || width > dpitch || width > spitch) return record(cudaErrorInvalidValue);
  if (width == 0 || height == 0) return cudaSuccess;
  if (!dst || !src) return record(cudaErrorInvalidValue);
  return queue(stream, [=] {
    for (size_t r = 0; r < height; ++r)
      std::memcpy(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  });
}
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
  if (cudaError_t err = sync_allowed(nullptr)) return record(err);
  return memcpy2d_on(nullptr, dst, dpitch, src, spitch, width, height, kind);
}
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                              size_t height, cudaMemcpyKind kind, cudaStream_t stream) {
  return memcpy2d_on(stream, dst, dpitch, src, spitch, width, height, kind);
}

static cudaError_t memset_on(cudaStream_t stream, void* ptr, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!ptr) return record(cudaErrorInvalidValue);
  return queue(stream, [=] { std::memset(ptr, value, bytes); });
}
cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (cudaError_t err = sync_allowed(nullptr)) return record(err);
  return memset_on(nullptr, ptr, value, bytes);
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  return memset_on(stream, ptr, value, bytes);
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (!stream) return record(cudaErrorInvalidValue);
  *stream = new CUstream_st{flags};
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream || stream == cudaStreamLegacy || stream == cudaStreamPerThread)
    return record(cudaErrorInvalidResourceHandle);
  forget_capture(stream);
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) { return record(sync_allowed(stream)); }
cudaError_t cudaStreamQuery(cudaStream_t stream) { return record(sync_allowed(stream)); }
// Work runs in call order, so waiting is ordering only, in a capture too.
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t event, unsigned) {
  return event ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (!event) return record(cudaErrorInvalidValue);
  *event = new CUevent_st{flags, false, 0.0};
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return record(cudaErrorInvalidResourceHandle);
  if (any_capture() && capture_event(event, stream)) return cudaSuccess;
  event->captured_by = nullptr;
  event->recorded = true;
  event->ms = now_ms();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return record(cudaErrorInvalidResourceHandle);
  return event_in_capture(event) ? record(cudaErrorCapturedEvent) : cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return record(cudaErrorInvalidValue);
  if (!start || !end || (start->flags & cudaEventDisableTiming) || (end->flags & cudaEventDisableTiming))
    return record(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = static_cast<float>(end->ms - start->ms);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return record(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return record(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<size_t>(value) > kSharedMemPerBlockOptin)
    return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  smem_limits()[func] = static_cast<size_t>(value);
  return cudaSuccess;
}

}  // namespace rt
}  // namespace sim
}  // namespace advprop
