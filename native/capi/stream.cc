// The C API's stream rule: the kernels always run on the library's per-device stream
// (stream_for in native/cuda/runtime.cu, which the caching allocator is ordered on), joined to the
// caller's stream with events in both directions so that the call is ordered as if it ran there.
#include <string>

#include "advprop/device.h"
#include "advprop/error.h"
#include "common.h"

#if ADVPROP_WITH_CUDA
#include <cuda_runtime.h>

namespace advprop {
namespace cuda {
cudaStream_t stream_for(int index);
void check_cuda(cudaError_t err, const char* what);
}  // namespace cuda
}  // namespace advprop
#endif

namespace advprop {
namespace capi {

#if ADVPROP_WITH_CUDA
namespace {

// `waiter` waits for the work queued so far on `signaller`. With check, errors throw ERR_CUDA;
// without (cleanup after an error), they are ignored.
void order_after(cudaStream_t waiter, cudaStream_t signaller, bool check) {
  cudaEvent_t ev = nullptr;
  cudaError_t err = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
  if (err == cudaSuccess) err = cudaEventRecord(ev, signaller);
  if (err == cudaSuccess) err = cudaStreamWaitEvent(waiter, ev, 0);
  if (ev) cudaEventDestroy(ev);  // released once the wait has been satisfied
  if (check) cuda::check_cuda(err, "advprop C API: joining the caller's stream");
}

}  // namespace
#endif

StreamBridge::StreamBridge(const Device& device, void* stream) : device_(device), user_(stream) {
#if ADVPROP_WITH_CUDA
  if (device_.type != DeviceType::cuda) return;
  // stream_for makes device_.index current; the caller's current device is put back in join().
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess) caller_device_ = current;
  cudaStream_t ours = cuda::stream_for(device_.index);
  ours_ = ours;
  if (ours_ != user_) order_after(ours, static_cast<cudaStream_t>(user_), true);
#endif
}

void StreamBridge::join(bool check) {
  if (joined_) return;
  joined_ = true;
#if ADVPROP_WITH_CUDA
  if (ours_ && ours_ != user_)
    order_after(static_cast<cudaStream_t>(user_), static_cast<cudaStream_t>(ours_), check);
  if (caller_device_ >= 0 && caller_device_ != device_.index) cudaSetDevice(caller_device_);
#endif
  // cuda-sim's memory is the caller's host memory: return with the work done, like the cpu.
  if (device_.type == DeviceType::cuda_sim && check) backend(DeviceType::cuda_sim).synchronize(device_.index);
}

void StreamBridge::finish() { join(true); }

StreamBridge::~StreamBridge() {
  try {
    join(false);
  } catch (...) {
  }
}

}  // namespace capi
}  // namespace advprop
