// What the cuda-sim self-test files (selftest_*.cc) share: the harness and each test's
// declaration. Internal to native/sim; selftest.h is the public side. The kernels are written as
// they would be for nvcc and go through common.cuh, exactly like native/cuda/*.cu.
#pragma once
#define ADVPROP_SIM 1
#include "../cuda/common.cuh"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "selftest.h"

namespace advprop {
namespace sim {
namespace selftest {

struct Failed {
  std::string why;
};
void require(bool ok, const std::string& why);

// Expects `fn` to throw advprop::Error with `code` and a message containing `needle`.
void expect_error(const std::function<void()>& fn, ErrorCode code, const std::string& needle);

// Device buffers through the simulated runtime, freed on scope exit.
template <typename T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  explicit DevBuf(size_t count) : n(count) {
    require(cudaMalloc(&p, count * sizeof(T)) == cudaSuccess, "cudaMalloc failed");
  }
  DevBuf(const std::vector<T>& host) : DevBuf(host.size()) {
    require(cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess, "cudaMemcpy H2D");
  }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  std::vector<T> get() const {
    std::vector<T> h(n);
    require(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess, "cudaMemcpy D2H");
    return h;
  }
};

inline uint32_t lcg(uint32_t& state) {
  state = state * 1664525u + 1013904223u;
  return state >> 8;
}

// Each returns a short note on what it checked and throws Failed when a check fails.
// selftest_sync.cc
std::string test_reduction();
std::string test_missing_barrier();
std::string test_transpose();
std::string test_early_exit();
std::string test_dynamic_smem();
std::string test_atomics();
// selftest_warp.cc
std::string test_warp_shuffle();
std::string test_votes();
// selftest_ptx.cc
std::string test_warp_collective();
std::string test_cp_async_model();
std::string test_half_types();
// selftest_launch.cc
std::string test_launch_rejections();
std::string test_deadlock();
std::string test_exception();
std::string test_indexing();
// selftest_runtime.cc
std::string test_runtime();
std::string test_many_threads();
// selftest_graph.cc
std::string test_graph_replay();
std::string test_capture_sync();

}  // namespace selftest
}  // namespace sim
}  // namespace advprop
