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

// The per-replay shift of the random kernels' Philox offsets (capture_offset_word).
struct OffsetWord {
  uint64_t* word = nullptr;  // device memory
  bool used = false;         // whether a captured kernel reads it
};

struct Graph {
  cudaGraphExec_t exec;
  int index;
  std::vector<void*> host;  // pinned sources of its host-to-device copies (capture_host_source)
  OffsetWord offset;
};

// Kernel arguments are copied at launch, so the value needs no host buffer that a later replay
// could overwrite before this one's copy ran.
__global__ void set_word_kernel(uint64_t* word, uint64_t value) { *word = value; }

std::mutex g_mu;
std::unordered_map<int64_t, Graph>& graphs() {
  static auto* m = new std::unordered_map<int64_t, Graph>();  // outlives graphs at process exit
  return *m;
}
int64_t g_next_id = 0;
std::atomic<int64_t> g_capturing[kMaxDevices];  // the graph being captured per device, 0 for none
std::vector<void*> g_pending_host[kMaxDevices];  // capture_host_source buffers of that capture
OffsetWord g_pending_word[kMaxDevices];          // that capture's offset word

void free_word(OffsetWord& w) noexcept {
  if (w.word) cudaFree(w.word);
  w = OffsetWord{};
}

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
  free_word(g_pending_word[index]);
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

const uint64_t* capture_offset_word(int index) {
  if (!capture_open(index)) return nullptr;
  std::lock_guard<std::mutex> g(g_mu);
  if (!g_capturing[index].load()) return nullptr;
  g_pending_word[index].used = true;
  return g_pending_word[index].word;
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
  // Allocated and zeroed before the capture: neither may be recorded in it.
  OffsetWord& w = g_pending_word[index];
  check_cuda(cudaMalloc(&w.word, sizeof(uint64_t)), "cudaGraph.capture: cudaMalloc");
  check_cuda(cudaMemset(w.word, 0, sizeof(uint64_t)), "cudaGraph.capture: cudaMemset");
  pool_begin_capture(index, id);
  const cudaError_t err = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  if (err != cudaSuccess) {
    free_word(w);
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
    free_word(g_pending_word[index]);
    pool_release_graph(index, id);
    fail(ErrorCode::Cuda, "cudaGraph.capture: " + dev(index) + ": the capture failed (" + cudaGetErrorString(err) +
                              "); an op inside it used something a graph cannot hold");
  }
  Graph& gr = graphs()[id];
  gr.exec = exec;
  gr.index = index;
  gr.host.swap(g_pending_host[index]);
  gr.offset = g_pending_word[index];
  g_pending_word[index] = OffsetWord{};
  return id;
}

void graph_abort(int index) {
  check_index(index, "cudaGraph.abort");
  abort_capture(index);
}

void graph_replay(int index, int64_t id, uint64_t offset_shift) {
  check_index(index, "cudaGraph.replay");
  std::lock_guard<std::mutex> g(g_mu);
  Graph& gr = find(index, id, "cudaGraph.replay");
  if (g_capturing[index].load())
    fail(ErrorCode::Arg, "cudaGraph.replay: " + dev(index) + " is capturing; replay a graph outside a capture");
  cudaStream_t s = stream_for(index);
  if (gr.offset.used) ADVPROP_LAUNCH(set_word_kernel, 1, 1, 0, s)(gr.offset.word, offset_shift);
  check_cuda(cudaGraphLaunch(gr.exec, s), "cudaGraph.replay: cudaGraphLaunch");
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
  OffsetWord word = gr.offset;
  graphs().erase(id);
  // A replay still queued reads the pinned sources: let it finish before freeing them.
  const cudaError_t synced = host.empty() ? cudaSuccess : cudaStreamSynchronize(stream_for(index));
  free_host(host);
  free_word(word);  // cudaFree waits for the device
  const cudaError_t destroyed = cudaGraphExecDestroy(exec);
  pool_release_graph(index, id);
  check_cuda(synced, "cudaGraph.dispose: synchronize");
  check_cuda(destroyed, "cudaGraph.dispose: cudaGraphExecDestroy");
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
