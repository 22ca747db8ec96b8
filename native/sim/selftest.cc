// Self tests of cuda-sim. The kernels are written as they would be for nvcc and go through
// common.cuh, exactly like native/cuda/*.cu.
#define ADVPROP_SIM 1
#include "../cuda/common.cuh"

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "selftest.h"

namespace advprop {
namespace sim {
namespace {

// ---- kernels ----------------------------------------------------------------------------------

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

// Per warp: sum by __shfl_down_sync (lane 0) and by __shfl_xor_sync (every lane), an inclusive
// scan by __shfl_up_sync, and sums over 8-lane segments (width 8).
__global__ void warp_shuffle_kernel(const float* in, int n, float* down, float* bfly, float* scan, float* seg8) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const float v = i < n ? in[i] : 0.0f;
  float a = v, b = v, c = v, d = v;
  for (int off = 16; off > 0; off >>= 1) a += __shfl_down_sync(0xffffffffu, a, off);
  for (int m = 16; m > 0; m >>= 1) b += __shfl_xor_sync(0xffffffffu, b, m);
  const int lane = threadIdx.x & 31;
  for (int off = 1; off < 32; off <<= 1) {
    float up = __shfl_up_sync(0xffffffffu, c, off);
    if (lane >= off) c += up;
  }
  for (int off = 4; off > 0; off >>= 1) d += __shfl_down_sync(0xffffffffu, d, off, 8);
  if (i < n) {
    if (lane == 0) down[i / 32] = a;
    bfly[i] = b;
    scan[i] = c;
    if ((lane & 7) == 0) seg8[i / 8] = d;
  }
}

__global__ void shfl_idx_kernel(int* out) {
  const int lane = threadIdx.x & 31;
  // Broadcast from lane 5, a rotation, and an index beyond the 16-lane segment (wraps within it).
  out[threadIdx.x * 3 + 0] = __shfl_sync(0xffffffffu, lane * 10, 5);
  out[threadIdx.x * 3 + 1] = __shfl_sync(0xffffffffu, lane * 10, (lane + 1) & 31);
  out[threadIdx.x * 3 + 2] = __shfl_sync(0xffffffffu, lane * 10, 17, 16);
}

__global__ void vote_kernel(const int* in, unsigned* ballot, int* any, int* all, unsigned* active) {
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int pred = in[t];
  unsigned b = __ballot_sync(0xffffffffu, pred);
  int an = __any_sync(0xffffffffu, pred);
  int al = __all_sync(0xffffffffu, pred);
  if ((t & 31) == 0) {
    ballot[t / 32] = b;
    any[t / 32] = an;
    all[t / 32] = al;
    active[t / 32] = __activemask();
  }
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

__global__ void saxpy_kernel(int n, float a, const float* x, float* y) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) y[i] = a * x[i] + y[i];
}

// ---- harness ----------------------------------------------------------------------------------

struct Failed {
  std::string why;
};
void require(bool ok, const std::string& why) {
  if (!ok) throw Failed{why};
}

// Expects `fn` to throw advprop::Error with `code` and a message containing `needle`.
void expect_error(const std::function<void()>& fn, ErrorCode code, const std::string& needle) {
  try {
    fn();
  } catch (const Error& e) {
    require(e.code() == code, std::string("wrong error code for: ") + e.what());
    require(std::string(e.what()).find(needle) != std::string::npos,
            std::string("message lacks '") + needle + "': " + e.what());
    return;
  }
  throw Failed{"no error thrown (expected '" + needle + "')"};
}

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

uint32_t lcg(uint32_t& state) {
  state = state * 1664525u + 1013904223u;
  return state >> 8;
}

// ---- tests ------------------------------------------------------------------------------------

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

std::string test_warp_shuffle() {
  const int threads = 96, blocks = 3, n = threads * blocks;
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i % 17 + 1);
  DevBuf<float> din(in), down(n / 32), bfly(n), scan(n), seg8(n / 8);
  ADVPROP_LAUNCH(warp_shuffle_kernel, blocks, threads, 0, nullptr)(din.p, n, down.p, bfly.p, scan.p, seg8.p);
  std::vector<float> hd = down.get(), hb = bfly.get(), hs = scan.get(), h8 = seg8.get();
  for (int w = 0; w < n / 32; ++w) {
    float sum = 0, run = 0;
    for (int l = 0; l < 32; ++l) sum += in[w * 32 + l];
    require(hd[w] == sum, "shfl_down sum of warp " + std::to_string(w));
    for (int l = 0; l < 32; ++l) {
      run += in[w * 32 + l];
      require(hb[w * 32 + l] == sum, "shfl_xor sum at lane " + std::to_string(l));
      require(hs[w * 32 + l] == run, "shfl_up scan at lane " + std::to_string(l));
    }
  }
  for (int s = 0; s < n / 8; ++s) {
    float sum = 0;
    for (int l = 0; l < 8; ++l) sum += in[s * 8 + l];
    require(h8[s] == sum, "width-8 segment " + std::to_string(s));
  }

  DevBuf<int> idx(64 * 3);
  ADVPROP_LAUNCH(shfl_idx_kernel, 1, 64, 0, nullptr)(idx.p);
  std::vector<int> hi = idx.get();
  for (int t = 0; t < 64; ++t) {
    const int lane = t & 31;
    require(hi[t * 3] == 50, "broadcast from lane 5");
    require(hi[t * 3 + 1] == ((lane + 1) & 31) * 10, "rotation");
    require(hi[t * 3 + 2] == ((lane & 16) + 1) * 10, "index 17 with width 16");
  }
  return "down, xor, up, idx, width";
}

std::string test_votes() {
  // 3-D block of 4 x 5 x 3 = 60 threads: one full warp and a partial one of 28 lanes.
  const int threads = 60;
  std::vector<int> in(threads);
  uint32_t st = 7;
  for (int& v : in) v = lcg(st) & 1;
  DevBuf<int> din(in), any(2), all(2);
  DevBuf<unsigned> ballot(2), active(2);
  ADVPROP_LAUNCH(vote_kernel, 1, dim3(4, 5, 3), 0, nullptr)(din.p, ballot.p, any.p, all.p, active.p);
  std::vector<unsigned> hb = ballot.get(), ha = active.get();
  std::vector<int> han = any.get(), hal = all.get();
  for (int w = 0; w < 2; ++w) {
    unsigned want = 0;
    const int lanes = std::min(32, threads - 32 * w);
    for (int l = 0; l < lanes; ++l)
      if (in[w * 32 + l]) want |= 1u << l;
    const unsigned live = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u;
    require(hb[w] == want, "ballot of warp " + std::to_string(w));
    require(han[w] == (want != 0), "any of warp " + std::to_string(w));
    require(hal[w] == (want == live), "all of warp " + std::to_string(w));
    require(ha[w] == live, "activemask of warp " + std::to_string(w));
  }
  std::vector<int> ones(threads, 1);
  DevBuf<int> dones(ones);
  ADVPROP_LAUNCH(vote_kernel, 1, dim3(4, 5, 3), 0, nullptr)(dones.p, ballot.p, any.p, all.p, active.p);
  require(all.get()[1] == 1, "all over a partial warp whose lanes all agree");
  return "ballot, any, all on a partial warp";
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

}  // namespace

std::vector<SelfTestResult> run_self_tests() {
  const std::pair<const char*, std::string (*)()> tests[] = {
      {"block reduction with __syncthreads", test_reduction},
      {"reduction without barriers goes wrong", test_missing_barrier},
      {"tiled transpose through __shared__", test_transpose},
      {"warp shuffles", test_warp_shuffle},
      {"warp votes", test_votes},
      {"exited threads count as arrived", test_early_exit},
      {"dynamic shared memory", test_dynamic_smem},
      {"atomics from many blocks", test_atomics},
      {"launch limits are enforced", test_launch_rejections},
      {"deadlock raises an error", test_deadlock},
      {"kernel exception propagates", test_exception},
      {"built-in indices", test_indexing},
      {"runtime calls", test_runtime},
      {"a million threads", test_many_threads},
  };
  std::vector<SelfTestResult> results;
  for (const auto& t : tests) {
    SelfTestResult r;
    r.name = t.first;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      r.detail = t.second();
      r.passed = true;
    } catch (const Failed& f) {
      r.detail = f.why;
    } catch (const std::exception& e) {
      r.detail = std::string("unexpected exception: ") + e.what();
    } catch (...) {
      r.detail = "unexpected non-standard exception";
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.1f ms)", ms);
    r.detail += buf;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace sim
}  // namespace advprop
