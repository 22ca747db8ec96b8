// cuda-sim self tests of the CUDA runtime calls (devices, memory, copies, streams, events) and of
// a launch of a million threads.
#include "selftest_harness.h"

#include <cstdint>
#include <string>
#include <vector>

namespace advprop {
namespace sim {
namespace {

__global__ void saxpy_kernel(int n, float a, const float* x, float* y) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) y[i] = a * x[i] + y[i];
}

}  // namespace

namespace selftest {

std::string test_runtime() {
  int count = 0, dev = -1, version = 0;
  require(cudaGetDeviceCount(&count) == cudaSuccess && count == 1, "device count");
  require(cudaSetDevice(0) == cudaSuccess && cudaGetDevice(&dev) == cudaSuccess && dev == 0, "current device");
  require(cudaSetDevice(1) == cudaErrorInvalidDevice, "cudaSetDevice(1)");
  require(cudaPeekAtLastError() == cudaErrorInvalidDevice, "peek keeps the error");
  require(cudaGetLastError() == cudaErrorInvalidDevice && cudaGetLastError() == cudaSuccess, "last error resets");
  require(std::string(cudaGetErrorString(cudaErrorMemoryAllocation)) == "out of memory", "error string");
  cudaDeviceProp prop;
  require(cudaGetDeviceProperties(&prop, 0) == cudaSuccess, "properties");
  require(std::string(prop.name) == "advprop cuda-sim" && prop.major == 9 && prop.minor == 0 &&
              prop.maxThreadsPerBlock == 1024 && prop.warpSize == 32 && prop.sharedMemPerBlock == 48 * 1024 &&
              prop.sharedMemPerBlockOptin == 227 * 1024 && prop.multiProcessorCount >= 1 && prop.totalGlobalMem > 0,
          "property values");
  require(cudaDriverGetVersion(&version) == cudaSuccess && version > 0, "driver version");
  size_t free_b = 0, total_b = 0;
  require(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && total_b > 0 && free_b <= total_b, "cudaMemGetInfo");

  cudaStream_t stream;
  require(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess, "stream");
  cudaEvent_t start, stop;
  require(cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess, "events");
  require(cudaEventRecord(start, stream) == cudaSuccess, "record");
  const int n = 1000;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = static_cast<float>(i);
    y[i] = 1.0f;
  }
  float *dx = nullptr, *dy = nullptr, *dz = nullptr;
  require(cudaMalloc(&dx, n * sizeof(float)) == cudaSuccess && cudaMalloc(&dy, n * sizeof(float)) == cudaSuccess &&
              cudaMalloc(&dz, n * sizeof(float)) == cudaSuccess,
          "cudaMalloc");
  require(reinterpret_cast<uintptr_t>(dx) % 256 == 0, "256-byte alignment");
  require(cudaMemcpyAsync(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream) == cudaSuccess, "H2D");
  require(cudaMemcpyAsync(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream) == cudaSuccess, "H2D");
  ADVPROP_LAUNCH(saxpy_kernel, 3, 128, 0, stream)(n, 2.0f, dx, dy);
  require(cudaMemcpyAsync(dz, dy, n * sizeof(float), cudaMemcpyDeviceToDevice, stream) == cudaSuccess, "D2D");
  require(cudaMemsetAsync(dy, 0, n * sizeof(float), stream) == cudaSuccess, "memset");
  require(cudaEventRecord(stop, stream) == cudaSuccess && cudaStreamWaitEvent(stream, stop, 0) == cudaSuccess,
          "record/wait");
  require(cudaStreamSynchronize(stream) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess, "sync");
  float ms = -1.0f;
  require(cudaEventElapsedTime(&ms, start, stop) == cudaSuccess && ms >= 0.0f, "elapsed time");
  std::vector<float> z(n), zero(n);
  require(cudaMemcpy(z.data(), dz, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess, "D2H");
  require(cudaMemcpy(zero.data(), dy, n * sizeof(float), cudaMemcpyDefault) == cudaSuccess, "D2H default");
  for (int i = 0; i < n; ++i) {
    require(z[i] == 2.0f * i + 1.0f, "saxpy element " + std::to_string(i));
    require(zero[i] == 0.0f, "memset element " + std::to_string(i));
  }
  require(cudaMemcpy(z.data(), dz, 4, static_cast<cudaMemcpyKind>(7)) == cudaErrorInvalidValue, "bad memcpy kind");
  cudaGetLastError();
  void* host = nullptr;
  require(cudaMallocHost(&host, 4096) == cudaSuccess && host, "cudaMallocHost");
  require(cudaFreeHost(host) == cudaSuccess, "cudaFreeHost");
  void* none = reinterpret_cast<void*>(1);
  require(cudaMalloc(&none, 0) == cudaSuccess && cudaFree(none) == cudaSuccess, "zero-byte cudaMalloc");
  require(cudaFree(dx) == cudaSuccess && cudaFree(dy) == cudaSuccess && cudaFree(dz) == cudaSuccess, "cudaFree");
  require(cudaEventDestroy(start) == cudaSuccess && cudaEventDestroy(stop) == cudaSuccess, "event destroy");
  require(cudaStreamDestroy(stream) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess, "stream destroy");
  return "malloc, memcpy, memset, stream, events";
}

std::string test_many_threads() {
  const int n = 1 << 20;
  std::vector<float> x(n, 1.0f), y(n, 2.0f);
  DevBuf<float> dx(x), dy(y);
  ADVPROP_LAUNCH(saxpy_kernel, n / 256, 256, 0, nullptr)(n, 3.0f, dx.p, dy.p);
  std::vector<float> h = dy.get();
  for (int i = 0; i < n; i += 997) require(h[i] == 5.0f, "element " + std::to_string(i));
  return "2^20 threads";
}

}  // namespace selftest
}  // namespace sim
}  // namespace advprop
