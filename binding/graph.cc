// CUDA graphs (advprop/cuda_graph.h) and copyInto, the in-place copy that feeds a graph's static
// input.
#include "advprop/cuda_graph.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"

namespace advprop_binding {

ADVPROP_ENTRY(CudaGraphBegin)
  check_arg_count(info, 1, "cudaGraph.capture");
  advprop::ops::graph_begin(to_device(info[0], "cudaGraph.capture", "device"));
  return info.Env().Undefined();
ADVPROP_ENTRY_END

ADVPROP_ENTRY(CudaGraphEnd)
  check_arg_count(info, 1, "cudaGraph.capture");
  const advprop::Device dev = to_device(info[0], "cudaGraph.capture", "device");
  const int64_t id = advprop::ops::graph_end(dev);
  TensorHandle::ReportReserved(info.Env(), dev);
  return Napi::Number::New(info.Env(), static_cast<double>(id));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(CudaGraphAbort)
  check_arg_count(info, 1, "cudaGraph.abort");
  advprop::ops::graph_abort(to_device(info[0], "cudaGraph.abort", "device"));
  return info.Env().Undefined();
ADVPROP_ENTRY_END

ADVPROP_ENTRY(CudaGraphReplay)
  check_arg_count(info, 3, "cudaGraph.replay");
  advprop::ops::graph_replay(to_device(info[0], "cudaGraph.replay", "device"),
                             to_i64(info[1], "cudaGraph.replay", "id"),
                             to_seed(info[2], "cudaGraph.replay", "offsetShift"));
  return info.Env().Undefined();
ADVPROP_ENTRY_END

ADVPROP_ENTRY(CudaGraphDestroy)
  check_arg_count(info, 2, "cudaGraph.dispose");
  const advprop::Device dev = to_device(info[0], "cudaGraph.dispose", "device");
  advprop::ops::graph_destroy(dev, to_i64(info[1], "cudaGraph.dispose", "id"));
  TensorHandle::ReportReserved(info.Env(), dev);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

ADVPROP_ENTRY(CopyInto)
  check_arg_count(info, 2, "copyInto");
  advprop::Tensor dst = TensorHandle::From(info, 0, "copyInto", "dst");
  advprop::ops::copy_into(dst, TensorHandle::From(info, 1, "copyInto", "src"));
  return info.Env().Undefined();
ADVPROP_ENTRY_END

}  // namespace advprop_binding
