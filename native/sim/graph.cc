// cuda-sim's stream capture and graphs: a capturing stream keeps the work queued on it as a list
// of closures, and a graph replays that list in order. What is modelled, and how synchronising
// calls fail during a capture, is described in cuda_sim_runtime.h.
#include <mutex>
#include <string>
#include <unordered_set>

#include "runtime_state.h"

namespace advprop {
namespace sim {

namespace detail {
std::string reject_reason(const LaunchSpec& s);  // launch_checks.cc
}

namespace {

using namespace rt;

std::mutex& mu() {
  static std::mutex m;
  return m;
}
std::atomic<int> g_live{0};  // streams inside BeginCapture ... EndCapture
std::unordered_set<cudaStream_t>& live() {
  static auto* s = new std::unordered_set<cudaStream_t>();  // outlives streams at process exit
  return *s;
}

bool is_special(cudaStream_t s) { return !s || s == cudaStreamLegacy || s == cudaStreamPerThread; }

void end_locked(cudaStream_t s) {
  s->capture = cudaStreamCaptureStatusNone;
  s->ops.clear();
  live().erase(s);
  g_live.fetch_sub(1, std::memory_order_release);
}

// What was recorded is dropped at once: it can never be launched.
void invalidate_locked(cudaStream_t s) {
  s->capture = cudaStreamCaptureStatusInvalidated;
  s->ops.clear();
}

std::string error_text(cudaError_t err) { return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")"; }

}  // namespace

bool any_capture() { return g_live.load(std::memory_order_acquire) > 0; }

Capture capture_op(cudaStream_t stream, std::function<void()> op, cudaError_t* err) {
  if (is_special(stream)) return Capture::none;
  std::lock_guard<std::mutex> g(mu());
  switch (stream->capture) {
    case cudaStreamCaptureStatusNone: return Capture::none;
    case cudaStreamCaptureStatusInvalidated: *err = cudaErrorStreamCaptureInvalidated; return Capture::refused;
    default: stream->ops.push_back(std::move(op)); return Capture::recorded;
  }
}

bool capture_launch(const LaunchSpec& spec, cudaStream_t stream, std::function<void()> run) {
  if (is_special(stream)) return false;
  std::lock_guard<std::mutex> g(mu());
  if (stream->capture == cudaStreamCaptureStatusNone) return false;
  const std::string head = std::string("cuda-sim: launch of ") + spec.name;
  if (stream->capture == cudaStreamCaptureStatusInvalidated)
    throw Error(ErrorCode::Cuda, head + " into an invalidated capture: " + error_text(cudaErrorStreamCaptureInvalidated));
  const std::string reason = detail::reject_reason(spec);
  if (!reason.empty()) {
    invalidate_locked(stream);
    throw Error(ErrorCode::Cuda, head + " rejected during stream capture: " + reason);
  }
  stream->ops.push_back(std::move(run));
  return true;
}

cudaError_t sync_allowed(cudaStream_t stream) {
  if (!any_capture()) return cudaSuccess;
  std::lock_guard<std::mutex> g(mu());
  if (is_special(stream)) {
    if (live().empty()) return cudaSuccess;
    for (cudaStream_t s : live()) invalidate_locked(s);
    return cudaErrorStreamCaptureUnsupported;
  }
  if (stream->capture == cudaStreamCaptureStatusNone) return cudaSuccess;
  invalidate_locked(stream);
  return cudaErrorStreamCaptureUnsupported;
}

void forget_capture(cudaStream_t stream) {
  if (is_special(stream)) return;
  std::lock_guard<std::mutex> g(mu());
  if (stream->capture != cudaStreamCaptureStatusNone) end_locked(stream);
}

bool capture_event(cudaEvent_t event, cudaStream_t stream) {
  if (is_special(stream)) return false;
  std::lock_guard<std::mutex> g(mu());
  if (stream->capture == cudaStreamCaptureStatusNone) return false;
  event->captured_by = stream;
  return true;
}

bool event_in_capture(cudaEvent_t event) {
  if (!any_capture() || !event->captured_by) return false;
  std::lock_guard<std::mutex> g(mu());
  return live().count(event->captured_by) > 0;
}

namespace rt {

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  if (is_special(stream)) return record_error(cudaErrorStreamCaptureUnsupported);
  if (mode < cudaStreamCaptureModeGlobal || mode > cudaStreamCaptureModeRelaxed)
    return record_error(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> g(mu());
  if (stream->capture != cudaStreamCaptureStatusNone) return record_error(cudaErrorIllegalState);
  stream->capture = cudaStreamCaptureStatusActive;
  stream->mode = mode;
  stream->owner = std::this_thread::get_id();
  stream->ops.clear();
  live().insert(stream);
  g_live.fetch_add(1, std::memory_order_release);
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!graph) return record_error(cudaErrorInvalidValue);
  *graph = nullptr;
  if (is_special(stream)) return record_error(cudaErrorIllegalState);
  std::lock_guard<std::mutex> g(mu());
  if (stream->capture == cudaStreamCaptureStatusNone) return record_error(cudaErrorIllegalState);
  if (stream->mode != cudaStreamCaptureModeRelaxed && stream->owner != std::this_thread::get_id())
    return record_error(cudaErrorStreamCaptureWrongThread);
  if (stream->capture == cudaStreamCaptureStatusInvalidated) {
    end_locked(stream);
    return record_error(cudaErrorStreamCaptureInvalidated);
  }
  *graph = new CUgraph_st{std::move(stream->ops)};
  end_locked(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (!status) return record_error(cudaErrorInvalidValue);
  *status = cudaStreamCaptureStatusNone;
  if (is_special(stream)) return cudaSuccess;
  std::lock_guard<std::mutex> g(mu());
  *status = stream->capture;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!exec || !graph) return record_error(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}

// Runs the operations now (launches are synchronous); a kernel's error is thrown as from an
// eager launch.
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return record_error(cudaErrorInvalidResourceHandle);
  if (any_capture()) {
    const GraphOps ops = exec->ops;
    cudaError_t err = cudaSuccess;
    const Capture c = capture_op(stream, [ops] {
      for (const auto& op : ops) op();
    }, &err);
    if (c != Capture::none) return record_error(err);
  }
  for (const auto& op : exec->ops) op();
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  if (!exec) return record_error(cudaErrorInvalidValue);
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  if (!graph) return record_error(cudaErrorInvalidValue);
  delete graph;
  return cudaSuccess;
}

}  // namespace rt
}  // namespace sim
}  // namespace advprop
