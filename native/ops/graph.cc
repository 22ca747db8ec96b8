// CUDA graph front-ends (advprop/cuda_graph.h): the device check, then the backend; and
// copy_into, the in-place copy that feeds a captured graph's static input.
#include <string>

#include "advprop/cuda_graph.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

// Graphs exist on cuda and cuda-sim; the cpu runs every op at once and has nothing to capture.
void require_graph_device(const Device& d, const char* op) {
  if (d.type == DeviceType::cpu)
    fail(ErrorCode::Device, std::string(op) + ": argument 'device' is cpu, which has no CUDA graphs (use cuda or cuda-sim)");
  require_device(d, op);
}

#if ADVPROP_WITH_CUDA
#define ADVPROP_GRAPH_CUDA(fn, ...) return ::advprop::cuda::fn(__VA_ARGS__)
#else
#define ADVPROP_GRAPH_CUDA(fn, ...) fail(ErrorCode::Device, "built without CUDA")
#endif
#if ADVPROP_WITH_SIM
#define ADVPROP_GRAPH_SIM(fn, ...) return ::advprop::cudasim::fn(__VA_ARGS__)
#else
#define ADVPROP_GRAPH_SIM(fn, ...) fail(ErrorCode::Device, "built without cuda-sim")
#endif
// Like ADVPROP_DISPATCH, for the two devices that have graphs, returning the backend's result.
#define ADVPROP_GRAPH_CALL(device, op, fn, ...)                          \
  require_graph_device(device, op);                                      \
  if ((device).type == DeviceType::cuda) ADVPROP_GRAPH_CUDA(fn, __VA_ARGS__); \
  ADVPROP_GRAPH_SIM(fn, __VA_ARGS__)

}  // namespace

void graph_begin(const Device& device) { ADVPROP_GRAPH_CALL(device, "cudaGraph.capture", graph_begin, device.index); }
int64_t graph_end(const Device& device) { ADVPROP_GRAPH_CALL(device, "cudaGraph.capture", graph_end, device.index); }
void graph_abort(const Device& device) { ADVPROP_GRAPH_CALL(device, "cudaGraph.abort", graph_abort, device.index); }
void graph_replay(const Device& device, int64_t id, uint64_t offset_shift) {
  ADVPROP_GRAPH_CALL(device, "cudaGraph.replay", graph_replay, device.index, id, offset_shift);
}
void graph_destroy(const Device& device, int64_t id) {
  ADVPROP_GRAPH_CALL(device, "cudaGraph.dispose", graph_destroy, device.index, id);
}

void copy_into(Tensor& dst, const Tensor& src) {
  TensorArg("copyInto", "dst", dst).contiguous().usable_device();
  TensorArg("copyInto", "src", src).contiguous().usable_device();
  check_same_shape(dst, src, "copyInto", "dst", "src");
  check_same_dtype(dst, src, "copyInto", "dst", "src");
  check_no_overlap(dst, src, "copyInto", "dst", "src");
  const Device& d = dst.device();
  const size_t bytes = dst.nbytes();
  if (!bytes) return;
  mark_written(dst);
  if (src.device() == d) {
    backend(d.type).copy_on_device(dst.data(), src.data(), bytes, d.index);
  } else if (src.device().type == DeviceType::cpu) {
    backend(d.type).copy_from_host(dst.data(), src.data(), bytes, d.index);
  } else {
    fail(ErrorCode::Device, "copyInto: argument 'src' " + shape_str(src.shape()) + " is on " +
                                device_str(src.device()) + ", expected " + device_str(d) +
                                (d.type == DeviceType::cpu ? "" : " or cpu"));
  }
}

}  // namespace ops
}  // namespace advprop
