// CUDA graphs of a device's op stream (advprop/cuda_graph.h): capture in relaxed mode, so that
// the caching allocator may still cudaMalloc for the graph's private pool (runtime.cu), then
// instantiate once and launch the executable graph at every replay.
#include "capture.cuh"

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "advprop/cuda_graph.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr int kMaxDevices = 64;

struct Graph {
  cudaGraphExec_t exec;
  int index;
  std::vector<void*> host;  // pinned sources of its host-to-device copies (capture_host_source)
};

std::mutex g_mu;
std::unordered_map<int64_t, Graph>& graphs() {
  static auto* m = new std::unordered_map<int64_t, Graph>();  // outlives graphs at process exit
  return *m;
}
int64_t g_next_id = 0;
std::atomic<int64_t> g_capturing[kMaxDevices];  // the graph being captured per device, 0 for none
std::vector<void*> g_pending_host[kMaxDevices];  // capture_host_source buffers of that capture

void free_host(std::vector<void*>& bufs) noexcept {
  for (void* p : bufs) cudaFreeHost(p);
  bufs.clear();
}

std::string dev(int index) { return device_str(Device{kDeviceType, index}); }

void check_index(int index, const char* op) {
  stream_for(index);  // ERR_DEVICE for a device that does not exist
  if (index >= kMaxDevices) fail(ErrorCode::Device, std::string(op) + ": device index out of range");
}

// Ends the capture on `index` and drops its graph; the caller holds g_mu.
void abort_locked(int index) noexcept {
  const int64_t id = g_capturing[index].exchange(0);
  if (!id) return;
  cudaGraph_t graph = nullptr;
  try {
    if (cudaStreamEndCapture(stream_for(index), &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  } catch (...) {
  }
  cudaGetLastError();  // the capture's error is not the next launch's
  free_host(g_pending_host[index]);
  pool_end_capture(index);
  pool_release_graph(index, id);
}

Graph& find(int index, int64_t id, const char* op) {
  auto it = graphs().find(id);
  if (it == graphs().end() || it->second.index != index)
    fail(ErrorCode::Arg, std::string(op) + ": no CUDA graph " + std::to_string(id) + " on " + dev(index) +
                             " (destroyed, or captured on another device)");
  return it->second;
}

}  // namespace

bool capture_open(int index) {
  return index >= 0 && index < kMaxDevices && g_capturing[index].load(std::memory_order_acquire) != 0;
}

void abort_capture(int index) noexcept {
  if (!capture_open(index)) return;
  std::lock_guard<std::mutex> g(g_mu);
  abort_locked(index);
}

const void* capture_host_source(int index, const void* data, size_t bytes) {
  if (!capture_open(index) || bytes == 0) return data;
  std::lock_guard<std::mutex> g(g_mu);
  if (!g_capturing[index].load()) return data;
  void* p = nullptr;
  check_cuda(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "cudaHostAlloc (a copy's source kept by a CUDA graph)");
  g_pending_host[index].push_back(p);
  std::memcpy(p, data, bytes);
  return p;
}

void graph_begin(int index) {
  check_index(index, "cudaGraph.capture");
  cudaStream_t s = stream_for(index);
  std::lock_guard<std::mutex> g(g_mu);
  if (g_capturing[index].load())
    fail(ErrorCode::Arg, "cudaGraph.capture: " + dev(index) + " is already capturing a graph (captures do not nest)");
  // Work queued before the capture must not be mistaken for the graph's.
  check_cuda(cudaStreamSynchronize(s), "cudaGraph.capture: synchronize");
  const int64_t id = ++g_next_id;
  pool_begin_capture(index, id);
  const cudaError_t err = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  if (err != cudaSuccess) {
    pool_end_capture(index);
    pool_release_graph(index, id);
    check_cuda(err, "cudaGraph.capture: cudaStreamBeginCapture");
  }
  g_capturing[index].store(id, std::memory_order_release);
}

int64_t graph_end(int index) {
  check_index(index, "cudaGraph.capture");
  std::lock_guard<std::mutex> g(g_mu);
  const int64_t id = g_capturing[index].exchange(0);
  if (!id) fail(ErrorCode::Arg, "cudaGraph.capture: " + dev(index) + " has no capture to end");
  cudaGraph_t graph = nullptr;
  cudaError_t err = cudaStreamEndCapture(stream_for(index), &graph);
  pool_end_capture(index);
  cudaGraphExec_t exec = nullptr;
  if (err == cudaSuccess) err = cudaGraphInstantiate(&exec, graph, 0);
  if (graph) cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    cudaGetLastError();
    free_host(g_pending_host[index]);
    pool_release_graph(index, id);
    fail(ErrorCode::Cuda, "cudaGraph.capture: " + dev(index) + ": the capture failed (" + cudaGetErrorString(err) +
                              "); an op inside it used something a graph cannot hold");
  }
  Graph& gr = graphs()[id];
  gr.exec = exec;
  gr.index = index;
  gr.host.swap(g_pending_host[index]);
  return id;
}

void graph_abort(int index) {
  check_index(index, "cudaGraph.abort");
  abort_capture(index);
}

void graph_replay(int index, int64_t id) {
  check_index(index, "cudaGraph.replay");
  std::lock_guard<std::mutex> g(g_mu);
  Graph& gr = find(index, id, "cudaGraph.replay");
  if (g_capturing[index].load())
    fail(ErrorCode::Arg, "cudaGraph.replay: " + dev(index) + " is capturing; replay a graph outside a capture");
  check_cuda(cudaGraphLaunch(gr.exec, stream_for(index)), "cudaGraph.replay: cudaGraphLaunch");
}

// CUDA frees an executable graph that is still running once it completes, and the pool's blocks
// go to the cache, whose next owners queue behind the replay on the same stream.
void graph_destroy(int index, int64_t id) {
  check_index(index, "cudaGraph.dispose");
  std::lock_guard<std::mutex> g(g_mu);
  Graph& gr = find(index, id, "cudaGraph.dispose");
  if (g_capturing[index].load())
    fail(ErrorCode::Arg, "cudaGraph.dispose: " + dev(index) + " is capturing; dispose a graph outside a capture");
  cudaGraphExec_t exec = gr.exec;
  std::vector<void*> host;
  host.swap(gr.host);
  graphs().erase(id);
  // A replay still queued reads the pinned sources: let it finish before freeing them.
  if (!host.empty()) {
    const cudaError_t err = cudaStreamSynchronize(stream_for(index));
    free_host(host);
    check_cuda(err, "cudaGraph.dispose: synchronize");
  }
  check_cuda(cudaGraphExecDestroy(exec), "cudaGraph.dispose: cudaGraphExecDestroy");
  pool_release_graph(index, id);
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
