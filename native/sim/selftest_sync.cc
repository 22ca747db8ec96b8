// cuda-sim self tests of block-level synchronisation: __syncthreads (and what goes wrong
// without it), static and dynamic shared memory, threads that return before a barrier, atomics.
#include "selftest_harness.h"

#include <string>
#include <vector>

namespace advprop {
namespace sim {
namespace {

constexpr int kReduceThreads = 256;

__global__ void block_sum_kernel(const int* in, int n, int* out) {
  __shared__ int s[kReduceThreads];
  const int t = threadIdx.x;
  const int i = blockIdx.x * blockDim.x + t;
  s[t] = i < n ? in[i] : 0;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// The same reduction without its barriers; in dynamic shared memory, which the simulator fills
// with 0xFF bytes, so a thread that reads a slot before its owner wrote it sees -1.
__global__ void block_sum_racy_kernel(const int* in, int n, int* out) {
  ADVPROP_DYNAMIC_SMEM(int, s);
  const int t = threadIdx.x;
  const int i = blockIdx.x * blockDim.x + t;
  s[t] = i < n ? in[i] : 0;
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride) s[t] += s[t + stride];
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

constexpr int kTile = 32, kTileRows = 8;

__global__ void transpose_kernel(const float* in, int rows, int cols, float* out) {
  __shared__ float tile[kTile][kTile + 1];
  int x = blockIdx.x * kTile + threadIdx.x;
  int y = blockIdx.y * kTile + threadIdx.y;
  for (int j = 0; j < kTile; j += kTileRows)
    if (x < cols && y + j < rows) tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * cols + x];
  __syncthreads();
  x = blockIdx.y * kTile + threadIdx.x;
  y = blockIdx.x * kTile + threadIdx.y;
  for (int j = 0; j < kTile; j += kTileRows)
    if (x < rows && y + j < cols) out[(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
}

__global__ void early_exit_kernel(int n, int* out) {
  __shared__ int count;
  const int t = threadIdx.x;
  if (t == 0) count = 0;
  __syncthreads();
  if (t >= n) return;  // returned threads count as arrived at the barriers below
  atomicAdd(&count, 1);
  __syncthreads();
  const int total = __syncthreads_count(1);
  const int any_big = __syncthreads_or(t == n - 1);
  const int all_small = __syncthreads_and(t < n);
  if (t == 0) {
    out[0] = count;
    out[1] = total;
    out[2] = any_big;
    out[3] = all_small;
  }
}

__global__ void dynamic_smem_kernel(const float* in, int n, float* out) {
  ADVPROP_DYNAMIC_SMEM(float, buf);
  const int t = threadIdx.x;
  const int i = blockIdx.x * blockDim.x + t;
  buf[t] = i < n ? in[i] : 0.0f;
  buf[blockDim.x + t] = 2.0f * buf[t];
  __syncthreads();
  const int r = blockDim.x - 1 - t;
  if (i < n) out[i] = buf[r] + buf[blockDim.x + r];
}

__global__ void big_smem_kernel(int* out) {
  ADVPROP_DYNAMIC_SMEM(int, buf);
  const int words = 64 * 1024 / 4;
  for (int k = threadIdx.x; k < words; k += blockDim.x) buf[k] = k;
  __syncthreads();
  if (threadIdx.x == 0) {
    long long s = 0;
    for (int k = 0; k < words; ++k) s += buf[k];
    out[blockIdx.x] = static_cast<int>(s % 1000003);
  }
}

__global__ void atomics_kernel(int* i32, unsigned long long* u64, float* f32, double* f64, int* mx, int* mn,
                               unsigned* cas_counter, int* exch) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(i32, 1);
  atomicAdd(u64, 3ull);
  atomicAdd(f32, 1.0f);
  atomicAdd(f64, 0.5);
  atomicMax(mx, i);
  atomicMin(mn, -i);
  unsigned old = *cas_counter, seen;
  while ((seen = atomicCAS(cas_counter, old, old + 1u)) != old) old = seen;
  atomicExch(exch, 7);
}

}  // namespace

namespace selftest {

std::string test_reduction() {
  const int n = 37 * kReduceThreads - 11;
  std::vector<int> in(n);
  uint32_t st = 1;
  for (int& v : in) v = static_cast<int>(lcg(st) % 1000) - 500;
  const int blocks = (n + kReduceThreads - 1) / kReduceThreads;
  DevBuf<int> din(in), dout(blocks);
  ADVPROP_LAUNCH(block_sum_kernel, blocks, kReduceThreads, 0, nullptr)(din.p, n, dout.p);
  std::vector<int> out = dout.get();
  for (int b = 0; b < blocks; ++b) {
    int want = 0;
    for (int i = b * kReduceThreads; i < std::min(n, (b + 1) * kReduceThreads); ++i) want += in[i];
    require(out[b] == want, "block " + std::to_string(b) + ": " + std::to_string(out[b]) + " != " + std::to_string(want));
  }
  return std::to_string(blocks) + " blocks";
}

std::string test_missing_barrier() {
  const int n = 8 * kReduceThreads;
  std::vector<int> in(n, 1);
  DevBuf<int> din(in), dout(8);
  ADVPROP_LAUNCH(block_sum_racy_kernel, 8, kReduceThreads, kReduceThreads * sizeof(int), nullptr)(din.p, n, dout.p);
  std::vector<int> out = dout.get();
  int wrong = 0;
  for (int v : out) wrong += v != kReduceThreads;
  require(wrong == 8, std::to_string(8 - wrong) + " of 8 blocks summed correctly without barriers");
  return "every block wrong, e.g. " + std::to_string(out[0]);
}

std::string test_transpose() {
  const int rows = 70, cols = 45;
  std::vector<float> in(rows * cols);
  for (int i = 0; i < rows * cols; ++i) in[i] = static_cast<float>(i);
  DevBuf<float> din(in), dout(in.size());
  dim3 grid((cols + kTile - 1) / kTile, (rows + kTile - 1) / kTile);
  ADVPROP_LAUNCH(transpose_kernel, grid, dim3(kTile, kTileRows), 0, nullptr)(din.p, rows, cols, dout.p);
  std::vector<float> out = dout.get();
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      require(out[c * rows + r] == in[r * cols + c], "mismatch at (" + std::to_string(r) + ", " + std::to_string(c) + ")");
  return "70 x 45";
}

std::string test_early_exit() {
  DevBuf<int> out(4);
  ADVPROP_LAUNCH(early_exit_kernel, 1, 128, 0, nullptr)(100, out.p);
  std::vector<int> h = out.get();
  require(h[0] == 100, "count " + std::to_string(h[0]));
  require(h[1] == 100, "__syncthreads_count " + std::to_string(h[1]));
  require(h[2] == 1, "__syncthreads_or");
  require(h[3] == 1, "__syncthreads_and");
  return "28 threads returned before the barriers";
}

std::string test_dynamic_smem() {
  const int threads = 64, blocks = 5, n = threads * blocks - 3;
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i);
  DevBuf<float> din(in), dout(n);
  ADVPROP_LAUNCH(dynamic_smem_kernel, blocks, threads, 2 * threads * sizeof(float), nullptr)(din.p, n, dout.p);
  std::vector<float> out = dout.get();
  for (int i = 0; i < n; ++i) {
    const int b = i / threads, r = b * threads + threads - 1 - i % threads;
    const float want = r < n ? 3.0f * in[r] : 0.0f;
    require(out[i] == want, "element " + std::to_string(i));
  }
  // 64 KiB needs the opt-in attribute, as on the GPU.
  DevBuf<int> big(2);
  const size_t bytes = 64 * 1024;
  expect_error([&] { ADVPROP_LAUNCH(big_smem_kernel, 2, 256, bytes, nullptr)(big.p); }, ErrorCode::Cuda,
               "dynamic shared memory");
  require(cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)) == cudaSuccess,
          "cudaFuncSetAttribute");
  ADVPROP_LAUNCH(big_smem_kernel, 2, 256, bytes, nullptr)(big.p);
  long long want = 0;
  for (int k = 0; k < 16384; ++k) want += k;
  require(big.get()[1] == static_cast<int>(want % 1000003), "64 KiB block sum");
  require(cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024) ==
              cudaErrorInvalidValue,
          "attribute above the opt-in limit accepted");
  cudaGetLastError();
  return "reversal and a 64 KiB opt-in";
}

std::string test_atomics() {
  const int blocks = 500, threads = 128, total = blocks * threads;
  DevBuf<int> i32(std::vector<int>{0}), mx(std::vector<int>{-1}), mn(std::vector<int>{1}), exch(std::vector<int>{0});
  DevBuf<unsigned long long> u64(std::vector<unsigned long long>{0});
  DevBuf<float> f32(std::vector<float>{0.0f});
  DevBuf<double> f64(std::vector<double>{0.0});
  DevBuf<unsigned> cas(std::vector<unsigned>{0});
  ADVPROP_LAUNCH(atomics_kernel, blocks, threads, 0, nullptr)(i32.p, u64.p, f32.p, f64.p, mx.p, mn.p, cas.p, exch.p);
  require(i32.get()[0] == total, "int atomicAdd");
  require(u64.get()[0] == 3ull * total, "u64 atomicAdd");
  require(f32.get()[0] == static_cast<float>(total), "float atomicAdd");
  require(f64.get()[0] == 0.5 * total, "double atomicAdd");
  require(mx.get()[0] == total - 1, "atomicMax");
  require(mn.get()[0] == -(total - 1), "atomicMin");
  require(cas.get()[0] == static_cast<unsigned>(total), "atomicCAS loop");
  require(exch.get()[0] == 7, "atomicExch");
  return std::to_string(total) + " threads in " + std::to_string(blocks) + " blocks";
}

}  // namespace selftest
}  // namespace sim
}  // namespace advprop
