// cuda-sim self tests of stream capture and graphs: a captured sequence replays with new input
// data and matches the eager run bit for bit; synchronising during a capture fails and
// invalidates it, as on a GPU.
#include "selftest_harness.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace advprop {
namespace sim {
namespace {

__global__ void scale_add_kernel(int n, float a, const float* x, float* y) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) y[i] = a * x[i] + y[i] * 0.5f;
}

constexpr int kN = 777;

// The sequence under test: upload `host` into x, y := 1, y := a*x + y/2 twice, z := y.
void step(cudaStream_t s, const float* host, float a, float* x, float* y, float* z) {
  selftest::require(cudaMemcpyAsync(x, host, kN * sizeof(float), cudaMemcpyHostToDevice, s) == cudaSuccess, "H2D");
  selftest::require(cudaMemsetAsync(y, 0, kN * sizeof(float), s) == cudaSuccess, "memset");
  ADVPROP_LAUNCH(scale_add_kernel, 2, 128, 0, s)(kN, a, x, y);
  ADVPROP_LAUNCH(scale_add_kernel, 3, 64, 0, s)(kN, a + 1.0f, x, y);
  selftest::require(cudaMemcpyAsync(z, y, kN * sizeof(float), cudaMemcpyDeviceToDevice, s) == cudaSuccess, "D2D");
}

void fill(std::vector<float>& v, uint32_t seed) {
  for (auto& e : v) e = static_cast<float>(selftest::lcg(seed) % 2000) / 7.0f - 100.0f;
}

cudaError_t end_status(cudaStream_t s) {
  cudaGraph_t g = reinterpret_cast<cudaGraph_t>(1);
  cudaError_t err = cudaStreamEndCapture(s, &g);
  selftest::require(g == nullptr || err == cudaSuccess, "a failed EndCapture returns no graph");
  if (g) cudaGraphDestroy(g);
  return err;
}

}  // namespace

namespace selftest {

std::string test_graph_replay() {
  cudaStream_t s;
  require(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "stream");
  DevBuf<float> x(kN), y(kN), z(kN), z_eager(kN);
  std::vector<float> input(kN);
  fill(input, 1);
  std::vector<float> before = z.get();

  float a = 1.5f;
  require(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "begin capture");
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  require(cudaStreamIsCapturing(s, &st) == cudaSuccess && st == cudaStreamCaptureStatusActive, "status active");
  step(s, input.data(), a, x.p, y.p, z.p);
  cudaEvent_t ev;
  require(cudaEventCreate(&ev) == cudaSuccess, "event");
  require(cudaEventRecord(ev, s) == cudaSuccess && cudaStreamWaitEvent(s, ev, 0) == cudaSuccess, "record/wait");
  require(cudaEventQuery(ev) == cudaErrorCapturedEvent, "query of a captured event");
  cudaGetLastError();
  // Nothing ran: the simulated device memory is host memory, readable without a copy.
  require(std::memcmp(z.p, before.data(), kN * sizeof(float)) == 0, "capture ran nothing");
  a = -3.0f;  // kernel arguments were copied at capture
  cudaGraph_t graph = nullptr;
  require(cudaStreamEndCapture(s, &graph) == cudaSuccess && graph, "end capture");
  require(cudaStreamIsCapturing(s, &st) == cudaSuccess && st == cudaStreamCaptureStatusNone, "status none");
  require(cudaEventQuery(ev) == cudaSuccess, "event usable after the capture");
  cudaGraphExec_t exec = nullptr;
  require(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess && exec, "instantiate");
  require(cudaGraphDestroy(graph) == cudaSuccess, "graph destroy (the exec keeps its copy)");

  for (uint32_t seed = 2; seed < 5; ++seed) {
    fill(input, seed);  // the replay reads the host buffer it was captured with
    require(cudaGraphLaunch(exec, s) == cudaSuccess, "launch");
    std::vector<float> replayed = z.get();
    step(s, input.data(), 1.5f, x.p, y.p, z_eager.p);
    std::vector<float> eager = z_eager.get();
    require(std::memcmp(replayed.data(), eager.data(), kN * sizeof(float)) == 0,
            "replay differs from eager, seed " + std::to_string(seed));
    require(std::fabs(eager[5] - 3.25f * input[5]) <= 1e-4f * (1.0f + std::fabs(input[5])), "eager value");
  }
  require(cudaGraphExecDestroy(exec) == cudaSuccess && cudaEventDestroy(ev) == cudaSuccess, "destroy");
  require(cudaStreamDestroy(s) == cudaSuccess, "stream destroy");
  return "memcpy, memset, 2 launches, 3 replays bit-equal to eager";
}

std::string test_capture_sync() {
  cudaStream_t s, other;
  require(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess &&
              cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking) == cudaSuccess,
          "streams");
  DevBuf<float> x(kN), y(kN);
  std::vector<float> host(kN, 1.0f);
  cudaStreamCaptureStatus st;

  require(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess, "begin");
  require(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaErrorIllegalState, "begin twice");
  require(cudaStreamSynchronize(other) == cudaSuccess, "another stream may synchronise");
  ADVPROP_LAUNCH(scale_add_kernel, 1, 32, 0, s)(kN, 1.0f, x.p, y.p);
  require(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported, "sync during capture");
  require(cudaStreamIsCapturing(s, &st) == cudaSuccess && st == cudaStreamCaptureStatusInvalidated, "invalidated");
  expect_error([&] { ADVPROP_LAUNCH(scale_add_kernel, 1, 32, 0, s)(kN, 1.0f, x.p, y.p); }, ErrorCode::Cuda,
               "cudaErrorStreamCaptureInvalidated");
  require(cudaMemsetAsync(y.p, 0, 4, s) == cudaErrorStreamCaptureInvalidated, "memset after invalidation");
  require(end_status(s) == cudaErrorStreamCaptureInvalidated, "end of an invalidated capture");
  require(cudaStreamIsCapturing(s, &st) == cudaSuccess && st == cudaStreamCaptureStatusNone, "capture ended");

  const std::pair<const char*, std::function<cudaError_t()>> syncs[] = {
      {"cudaStreamQuery", [&] { return cudaStreamQuery(s); }},
      {"cudaMemcpy", [&] { return cudaMemcpy(host.data(), y.p, 4, cudaMemcpyDeviceToHost); }},
      {"cudaMemset", [&] { return cudaMemset(y.p, 0, 4); }},
      {"cudaDeviceSynchronize", [] { return cudaDeviceSynchronize(); }},
      {"cudaFree", [&] { return cudaFree(x.p); }},
  };
  for (const auto& c : syncs) {
    require(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess, "begin");
    require(c.second() == cudaErrorStreamCaptureUnsupported, std::string(c.first) + " during capture");
    require(end_status(s) == cudaErrorStreamCaptureInvalidated, std::string(c.first) + " invalidates");
  }

  require(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess, "begin");
  expect_error([&] { ADVPROP_LAUNCH(scale_add_kernel, 1, 2048, 0, s)(kN, 1.0f, x.p, y.p); }, ErrorCode::Cuda,
               "rejected during stream capture");
  require(end_status(s) == cudaErrorStreamCaptureInvalidated, "a refused launch invalidates");

  require(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "begin");
  cudaError_t from_other = cudaSuccess;
  std::thread t([&] {
    cudaGraph_t g = nullptr;
    from_other = cudaStreamEndCapture(s, &g);
  });
  t.join();
  require(from_other == cudaErrorStreamCaptureWrongThread, "thread-local capture ended elsewhere");
  require(end_status(s) == cudaSuccess, "empty capture ends on its thread");

  require(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal) == cudaErrorStreamCaptureUnsupported,
          "legacy stream");
  require(end_status(s) == cudaErrorIllegalState, "end without begin");
  cudaGetLastError();
  // Eager work goes on as before.
  require(cudaMemcpy(x.p, host.data(), kN * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess, "eager copy");
  require(cudaStreamSynchronize(s) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess, "eager sync");
  require(cudaStreamDestroy(s) == cudaSuccess && cudaStreamDestroy(other) == cudaSuccess, "destroy");
  return "sync, query, memcpy, memset, device sync, free and bad launches invalidate; wrong thread";
}

}  // namespace selftest
}  // namespace sim
}  // namespace advprop
