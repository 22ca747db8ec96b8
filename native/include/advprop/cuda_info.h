// Versions of the CUDA driver and runtime, for `advprop info`. Works with no GPU and no driver
// (the driver version is then 0). Defined by native/cuda/runtime.cu, so only in builds with CUDA
// (ADVPROP_WITH_CUDA); the cuda-sim build gets its simulated twin in namespace cudasim.
#pragma once

namespace advprop {

struct CudaVersions {
  int driver = 0;   // CUDA version the installed driver supports (cudaDriverGetVersion), 0 if none
  int runtime = 0;  // version of the linked CUDA runtime (cudaRuntimeGetVersion)
  int built = 0;    // CUDART_VERSION of the headers the kernels were compiled with
};

namespace cuda {
// An event recorded on `stream` (a cudaStream_t) now, whether it has completed (true also when the
// device failed: the next synchronising call reports that), and freeing one; for the watchdog of
// collectives queued on a stream (native/dist/device_watchdog.h).
void* record_event(void* stream);
bool event_done(void* event);
void destroy_event(void* event);
CudaVersions versions();
// The stream every op on device `index` is ordered on, as a cudaStream_t (for NCCL, native/dist),
// after making `index` the current device.
void* op_stream(int index);
// A second stream of device `index` for collectives (NCCL), so they overlap the op stream's kernels.
void* comm_stream(int index);
// `waiter` waits on the device for the work queued on `signaller` so far (an event, no host wait).
void stream_after(void* waiter, void* signaller);
}
namespace cudasim {
void* record_event(void* stream);
bool event_done(void* event);
void destroy_event(void* event);
CudaVersions versions();
void* op_stream(int index);
void* comm_stream(int index);
void stream_after(void* waiter, void* signaller);
}

}  // namespace advprop
