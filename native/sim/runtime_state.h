// The state behind cuda-sim's runtime handles, shared by runtime.cc and graph.cc. Internal to
// native/sim.
#pragma once
#define ADVPROP_SIM 1
#include "cuda_sim.h"

#include <functional>
#include <thread>
#include <vector>

namespace advprop {
namespace sim {

using GraphOps = std::vector<std::function<void()>>;

// Sets the thread's sticky error when err is one (cudaGetLastError reads it); returns err.
rt::cudaError_t record_error(rt::cudaError_t err);

namespace rt {

// Capture fields are guarded by graph.cc's mutex.
struct CUstream_st {
  unsigned flags;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id owner;
  GraphOps ops;
};
struct CUevent_st {
  unsigned flags;
  bool recorded;
  double ms;
  CUstream_st* captured_by = nullptr;  // the stream whose live capture recorded it
};
struct CUgraph_st {
  GraphOps ops;
};
struct CUgraphExec_st {
  GraphOps ops;
};

}  // namespace rt

// Forgets a destroyed stream's capture (runtime.cc's cudaStreamDestroy).
void forget_capture(rt::cudaStream_t stream);
// Marks `event` as recorded by `stream`'s live capture; returns false if the stream captures
// nothing. cudaErrorCapturedEvent is due while the capture lasts (event_in_capture).
bool capture_event(rt::cudaEvent_t event, rt::cudaStream_t stream);
bool event_in_capture(rt::cudaEvent_t event);

}  // namespace sim
}  // namespace advprop
