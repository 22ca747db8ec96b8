// Corner cases of the cuda-sim scheduler beyond its self tests (native/sim/selftest_*.cc).
#include "harness.h"

#if ADVPROP_WITH_SIM
#define ADVPROP_SIM 1
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "cuda/common.cuh"

namespace {

using advprop::Error;
using advprop::ErrorCode;

__global__ void mismatched_intrinsics(int* out) {
  int v = threadIdx.x;
  if (threadIdx.x & 1)
    v = __shfl_sync(0xffffffffu, v, 0);
  else
    __syncwarp();
  out[threadIdx.x] = v;
}

__global__ void mask_without_self(int* out) {
  out[threadIdx.x] = __shfl_sync(0x1u, static_cast<int>(threadIdx.x), 0);
}

__global__ void wide_shuffles(double* d, long long* ll, unsigned* u) {
  const int lane = threadIdx.x & 31;
  double x = 1e300 * (lane + 1);
  long long y = (1ll << 40) + lane;
  unsigned z = 0x80000000u | lane;
  d[threadIdx.x] = __shfl_xor_sync(0xffffffffu, x, 1);
  ll[threadIdx.x] = __shfl_down_sync(0xffffffffu, y, 3);
  u[threadIdx.x] = __shfl_sync(0xffffffffu, z, 31 - lane);
}

// The two half-warps shuffle in different branches with their own masks.
__global__ void divergent_groups(int* out) {
  const int lane = threadIdx.x & 31;
  int v = lane;
  if (lane < 16) {
    for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0x0000ffffu, v, o);
  } else {
    v = __shfl_sync(0xffff0000u, v * 100, 16);
  }
  out[threadIdx.x] = v;
}

__global__ void syncwarp_exchange(int* out) {
  __shared__ int s[64];
  const int t = threadIdx.x;
  s[t] = t * 3;
  __syncwarp();
  out[t] = s[(t & ~31) | ((t + 1) & 31)];
}

__global__ void match_any(const int* keys, unsigned* out) {
  out[threadIdx.x] = __match_any_sync(0xffffffffu, keys[threadIdx.x]);
}

// Counts constructions and destructions of a local object, to check that threads parked at a
// barrier are unwound (not abandoned) when another thread of the block throws.
std::atomic<int> g_alive{0};
struct Tracker {
  Tracker() { g_alive.fetch_add(1); }
  ~Tracker() { g_alive.fetch_sub(1); }
};

__global__ void throw_while_others_wait(int* out) {
  Tracker tracker;
  __syncthreads();
  if (threadIdx.x == 77) throw std::runtime_error("thread 77 gave up");
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void full_block_barriers(int* out) {
  __shared__ int s[1024];
  const int t = threadIdx.x;
  s[t] = t;
  for (int round = 0; round < 4; ++round) {
    __syncthreads();
    const int mine = s[t], other = s[1023 - t];
    __syncthreads();
    s[t] = mine + other;
  }
  __syncthreads();
  out[blockIdx.x * 1024 + t] = s[t];
}

__global__ void grid_stride(int n, int* out) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) out[i] = i * 2;
}

__global__ void smem_fill(int words, int* out) {
  ADVPROP_DYNAMIC_SMEM(int, s);
  for (int k = threadIdx.x; k < words; k += blockDim.x) s[k] = k + blockIdx.x;
  __syncthreads();
  if (threadIdx.x == 0) {
    int acc = 0;
    for (int k = 0; k < words; ++k) acc += s[k];
    out[blockIdx.x] = acc;
  }
}

__global__ void noop(int*) {}

}  // namespace

ADVPROP_NATIVE_TEST(sim_rejects_mismatched_warp_intrinsics) {
  int out[32];
  try {
    ADVPROP_LAUNCH(mismatched_intrinsics, 1, 32, 0, nullptr)(out);
    EXPECT_MSG(false, "no error");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cuda);
    EXPECT_MSG(std::string(e.what()).find("different warp intrinsics") != std::string::npos, e.what());
  }
}

ADVPROP_NATIVE_TEST(sim_rejects_mask_without_own_lane) {
  int out[32];
  try {
    ADVPROP_LAUNCH(mask_without_self, 1, 32, 0, nullptr)(out);
    EXPECT_MSG(false, "no error");
  } catch (const Error& e) {
    EXPECT_MSG(std::string(e.what()).find("leaves out its own lane 1") != std::string::npos, e.what());
  }
}

ADVPROP_NATIVE_TEST(sim_shuffles_64_bit_values) {
  std::vector<double> d(64);
  std::vector<long long> ll(64);
  std::vector<unsigned> u(64);
  ADVPROP_LAUNCH(wide_shuffles, 1, 64, 0, nullptr)(d.data(), ll.data(), u.data());
  for (int t = 0; t < 64; ++t) {
    const int lane = t & 31;
    EXPECT_EQ(d[t], 1e300 * ((lane ^ 1) + 1));
    EXPECT_EQ(ll[t], (1ll << 40) + (lane + 3 < 32 ? lane + 3 : lane));
    EXPECT_EQ(u[t], 0x80000000u | static_cast<unsigned>(31 - lane));
  }
}

ADVPROP_NATIVE_TEST(sim_divergent_shuffle_groups) {
  std::vector<int> out(64);
  ADVPROP_LAUNCH(divergent_groups, 1, 64, 0, nullptr)(out.data());
  for (int t = 0; t < 64; ++t) EXPECT_EQ(out[t], (t & 31) < 16 ? 120 : 1600);
}

ADVPROP_NATIVE_TEST(sim_syncwarp_orders_shared_memory) {
  std::vector<int> out(64);
  ADVPROP_LAUNCH(syncwarp_exchange, 1, 64, 0, nullptr)(out.data());
  for (int t = 0; t < 64; ++t) EXPECT_EQ(out[t], ((t & ~31) | ((t + 1) & 31)) * 3);
}

ADVPROP_NATIVE_TEST(sim_match_any) {
  std::vector<int> keys(32);
  for (int i = 0; i < 32; ++i) keys[i] = i % 3;
  std::vector<unsigned> out(32);
  ADVPROP_LAUNCH(match_any, 1, 32, 0, nullptr)(keys.data(), out.data());
  for (int i = 0; i < 32; ++i) {
    unsigned want = 0;
    for (int j = 0; j < 32; ++j)
      if (keys[j] == keys[i]) want |= 1u << j;
    EXPECT_EQ(out[i], want);
  }
}

ADVPROP_NATIVE_TEST(sim_unwinds_parked_threads_on_exception) {
  std::vector<int> out(128);
  try {
    ADVPROP_LAUNCH(throw_while_others_wait, 4, 128, 0, nullptr)(out.data());
    EXPECT_MSG(false, "no error");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cuda);
    EXPECT_MSG(std::string(e.what()).find("threw: thread 77 gave up") != std::string::npos, e.what());
  }
  EXPECT_EQ(g_alive.load(), 0);
}

ADVPROP_NATIVE_TEST(sim_full_blocks_with_barriers) {
  const int blocks = 6;
  std::vector<int> out(blocks * 1024);
  ADVPROP_LAUNCH(full_block_barriers, blocks, 1024, 0, nullptr)(out.data());
  // Each round makes s[t] = s[t] + s[1023 - t]: after round 1 every slot holds 1023, then doubles.
  for (int i = 0; i < blocks * 1024; ++i) EXPECT_EQ(out[i], 1023 * 8);
}

ADVPROP_NATIVE_TEST(sim_concurrent_launches_from_host_threads) {
  const int n = 50000;
  std::vector<std::vector<int>> outs(4, std::vector<int>(n));
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 3; ++rep) ADVPROP_LAUNCH(grid_stride, 7, 96, 0, nullptr)(n, outs[k].data());
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < n; i += 101) EXPECT_EQ(outs[k][i], 2 * i);
}

ADVPROP_NATIVE_TEST(sim_dynamic_smem_size_changes_between_launches) {
  std::vector<int> out(3);
  for (int words : {16, 4000, 1, 12000}) {
    ADVPROP_LAUNCH(smem_fill, 3, 64, words * sizeof(int), nullptr)(words, out.data());
    for (int b = 0; b < 3; ++b) EXPECT_EQ(out[b], words * (words - 1) / 2 + words * b);
  }
}

ADVPROP_NATIVE_TEST(sim_smem_attribute_is_per_kernel) {
  int out = 0;
  EXPECT_EQ(cudaFuncSetAttribute(smem_fill, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 * 1024), cudaSuccess);
  ADVPROP_LAUNCH(smem_fill, 1, 32, 100 * 1024, nullptr)(100, &out);
  EXPECT_THROWS(ADVPROP_LAUNCH(noop, 1, 32, 100 * 1024, nullptr)(&out), ErrorCode::Cuda);
  EXPECT_THROWS(ADVPROP_LAUNCH(smem_fill, 1, 32, 100 * 1024 + 4, nullptr)(100, &out), ErrorCode::Cuda);
}

#endif  // ADVPROP_WITH_SIM
