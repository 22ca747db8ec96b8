// cuda-sim self tests of kernel launches: the limits a GPU enforces, deadlock detection, an
// exception thrown by a kernel, and the built-in indices of a 3-D grid.
#include "selftest_harness.h"

#include <string>
#include <vector>

namespace advprop {
namespace sim {
namespace {

__global__ void empty_kernel(int*) {}

__global__ void deadlock_kernel(int* out) {
  // Half of warp 0 waits at the block barrier, the other half at a full-warp shuffle that needs
  // the first half: neither can ever complete.
  const int lane = threadIdx.x & 31;
  int v = lane;
  if (threadIdx.x < 16)
    __syncthreads();
  else
    v = __shfl_sync(0xffffffffu, v, 0);
  out[threadIdx.x] = v;
}

__global__ void throwing_kernel(int* out) {
  out[threadIdx.x] = 1;
  __syncthreads();
  if (blockIdx.x == 3 && threadIdx.x == 5) ::advprop::fail(ErrorCode::Arg, "index 99 out of range");
  __syncthreads();
  out[threadIdx.x] = 2;
}

__global__ void index_kernel(unsigned* out) {
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned per_block = blockDim.x * blockDim.y * blockDim.z;
  out[b * per_block + t] = (b << 16) | t;
}

}  // namespace

namespace selftest {

std::string test_launch_rejections() {
  DevBuf<int> buf(1);
  expect_error([&] { ADVPROP_LAUNCH(empty_kernel, 1, 1025, 0, nullptr)(buf.p); }, ErrorCode::Cuda,
               "launch of empty_kernel rejected: 1025 threads per block");
  expect_error([&] { ADVPROP_LAUNCH(empty_kernel, 1, dim3(1, 1, 65), 0, nullptr)(buf.p); }, ErrorCode::Cuda,
               "block dimensions");
  expect_error([&] { ADVPROP_LAUNCH(empty_kernel, 1, 32, 48 * 1024 + 1, nullptr)(buf.p); }, ErrorCode::Cuda,
               "49153 bytes of dynamic shared memory");
  expect_error([&] { ADVPROP_LAUNCH(empty_kernel, 0, 32, 0, nullptr)(buf.p); }, ErrorCode::Cuda,
               "empty grid or block (grid [0, 1, 1], block [32, 1, 1], smem 0)");
  expect_error([&] { ADVPROP_LAUNCH(empty_kernel, dim3(1, 65536), 32, 0, nullptr)(buf.p); }, ErrorCode::Cuda,
               "grid dimensions");
  ADVPROP_LAUNCH(empty_kernel, 1, 1024, 48 * 1024, nullptr)(buf.p);
  return "1025 threads, z 65, smem, empty grid, grid.y";
}

std::string test_deadlock() {
  DevBuf<int> out(64);
  expect_error([&] { ADVPROP_LAUNCH(deadlock_kernel, 2, 64, 0, nullptr)(out.p); }, ErrorCode::Cuda,
               "kernel deadlock_kernel in block");
  try {
    ADVPROP_LAUNCH(deadlock_kernel, 2, 64, 0, nullptr)(out.p);
  } catch (const Error& e) {
    require(std::string(e.what()).find("16 threads wait at __syncthreads") != std::string::npos,
            std::string("report: ") + e.what());
  }
  // The host thread's scheduler must be usable again.
  return "raised; a reduction then runs on " + test_reduction();
}

std::string test_exception() {
  DevBuf<int> out(64);
  expect_error([&] { ADVPROP_LAUNCH(throwing_kernel, 8, 64, 0, nullptr)(out.p); }, ErrorCode::Arg,
               "index 99 out of range");
  return "ERR_ARG raised; a reduction then runs on " + test_reduction();
}

std::string test_indexing() {
  const dim3 grid(3, 2, 2), block(5, 3, 4);
  const unsigned per_block = 60, nblocks = 12;
  DevBuf<unsigned> out(per_block * nblocks);
  ADVPROP_LAUNCH(index_kernel, grid, block, 0, nullptr)(out.p);
  std::vector<unsigned> h = out.get();
  for (unsigned b = 0; b < nblocks; ++b)
    for (unsigned t = 0; t < per_block; ++t)
      require(h[b * per_block + t] == ((b << 16) | t), "slot " + std::to_string(b * per_block + t));
  return "3-D grid and block";
}

}  // namespace selftest
}  // namespace sim
}  // namespace advprop
