// Shared by the C API's entry points (native/capi/entries.cc): the exception barrier, the
// descriptor -> Tensor wrapping, the stream bridge and the copy into caller-owned outputs.
#pragma once
#include <string>

#include "advprop/advprop.h"
#include "advprop/error.h"
#include "advprop/tensor.h"

namespace advprop {
namespace capi {

// Runs fn, returning ADVPROP_OK or the status of what it threw, with the message kept for
// advprop_last_error(). Catches everything: nothing crosses the C boundary.
template <typename Fn>
advprop_status guarded(const char* fn_name, Fn&& fn);

advprop_status status_of(ErrorCode code);
// This thread's message for advprop_last_error().
const char* last_error() noexcept;

// A Tensor viewing the caller's memory. Null descriptors, unknown dtypes/devices, bad ndim and
// non-contiguous strides are refused (ERR_ARG / ERR_DTYPE / ERR_DEVICE / ERR_SHAPE) naming `op`
// and `name`.
Tensor wrap(const char* op, const char* name, const advprop_tensor* d);
// Like wrap, but NULL gives an undefined tensor (optional arguments).
Tensor wrap_optional(const char* op, const char* name, const advprop_tensor* d);

// Refuses an output that does not have this shape, dtype and device, before anything is computed
// (so that a bad output never leaves running statistics half updated).
void check_out(const char* op, const char* name, const Tensor& out, const Shape& shape, DType dtype, const Device& dev);
// Copies `result` (a front-end's freshly allocated output) into the caller's `out`, which must
// have its shape, dtype and device.
void copy_out(const char* op, const char* name, const Tensor& result, const Tensor& out);

// Orders the library's stream for `device` after the caller's `stream` on construction, and the
// caller's stream after the library's on finish() (or, best effort, on destruction after an
// error), then makes the caller's current CUDA device current again. cuda only; on cpu nothing,
// on cuda-sim finish() synchronises the simulator.
class StreamBridge {
 public:
  StreamBridge(const Device& device, void* stream);
  ~StreamBridge();
  void finish();
  StreamBridge(const StreamBridge&) = delete;
  StreamBridge& operator=(const StreamBridge&) = delete;

 private:
  void join(bool check);
  Device device_;
  void* user_ = nullptr;
  void* ours_ = nullptr;
  int caller_device_ = -1;
  bool joined_ = false;
};

}  // namespace capi
}  // namespace advprop

#include "common_inl.h"
