// cuda-sim self tests of the warp-wide exchange behind mma.sync and ldmatrix
// (detail::warp_collective) and of the simulator's cp.async model: every lane's words reach the
// instruction and its results come back to the right lane, warps that cannot take part as a whole
// are refused, and asynchronous copies land at wait_group and not before. The instructions'
// layouts themselves are checked by native/tests/tensor_core_test.cc.
#include "selftest_harness.h"

#include "../cuda/ptx.cuh"

#include <string>
#include <vector>

namespace advprop {
namespace sim {
namespace {

namespace ptx = ::advprop::cudasim::ptx;

// A collective that mixes the whole warp: lane l's out[j] is in[8 + j] of lane (l + 3j) % 32,
// plus the sum over lanes of in[j].
void mix_warp(detail::LaneWords* w) {
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < detail::kLaneWordsOut; ++j) {
      uint32_t sum = 0;
      for (int m = 0; m < 32; ++m) sum += w[m].in[j];
      w[l].out[j] = w[(l + 3 * j) % 32].in[8 + j] + sum;
    }
}
const detail::WarpCollective kMix{"test.mix", mix_warp};
const detail::WarpCollective kOther{"test.other", mix_warp};

__device__ void mix(uint32_t seed, uint32_t* out) {
  uint32_t in[detail::kLaneWordsIn];
  for (int i = 0; i < detail::kLaneWordsIn; ++i) in[i] = seed * 64 + static_cast<uint32_t>(i);
  detail::warp_collective(kMix, in, detail::kLaneWordsIn, out, detail::kLaneWordsOut);
}

// Each thread's seed names its block, warp, lane and round; two rounds in a row.
__global__ void collective_kernel(uint32_t* out) {
  const unsigned t = threadIdx.x;
  for (unsigned round = 0; round < 2; ++round) {
    uint32_t r[detail::kLaneWordsOut];
    mix((blockIdx.x * 1024 + t) * 2 + round, r);
    for (int j = 0; j < detail::kLaneWordsOut; ++j)
      out[((blockIdx.x * blockDim.x + t) * 2 + round) * detail::kLaneWordsOut + j] = r[j];
  }
}

// mode 0: every lane takes part (the block may end in a partial warp); 1: lane 31 returns first;
// 2: the odd lanes run another collective; 3: lane 0 runs a shuffle instead.
__global__ void bad_collective_kernel(int mode, uint32_t* out) {
  const int lane = threadIdx.x & 31;
  uint32_t r[detail::kLaneWordsOut], in[detail::kLaneWordsIn] = {};
  if (mode == 1 && lane == 31) return;
  if (mode == 2 && (lane & 1))
    detail::warp_collective(kOther, in, 1, r, 1);
  else if (mode == 3 && lane == 0)
    r[0] = __shfl_sync(0xffffffffu, 1u, 0);
  else
    mix(0, r);
  out[threadIdx.x] = r[0];
}

// Each thread copies 16 bytes and looks at them before committing, after committing but before
// waiting, and after wait_group 0; then an uncommitted copy, which wait_group 0 does not cover.
__global__ void cp_async_poison_kernel(const uint32_t* src, uint32_t* out) {
  __shared__ __align__(16) uint32_t s[32 * 8];
  const int t = threadIdx.x;
  ptx::cp_async_16(&s[8 * t], &src[4 * t]);
  out[t * 5 + 0] = s[8 * t];
  ptx::cp_async_commit();
  out[t * 5 + 1] = s[8 * t + 1];
  ptx::cp_async_wait<0>();
  out[t * 5 + 2] = s[8 * t + 2];
  ptx::cp_async_8(&s[8 * t + 4], &src[4 * t]);
  ptx::cp_async_wait<0>();
  out[t * 5 + 3] = s[8 * t + 4];
  ptx::cp_async_wait_all();
  out[t * 5 + 4] = s[8 * t + 5];
}

__global__ void misaligned_kernel(int what, const uint32_t* src) {
  __shared__ __align__(16) uint16_t s[32 * 8 + 8];
  uint32_t r[1];
  if (what == 0) ptx::cp_async_16(&s[8 * threadIdx.x + 2], src);
  if (what == 1) ptx::ldmatrix_x1(r, &s[8 * threadIdx.x + (threadIdx.x == 6 ? 4 : 0)]);
  if (what == 2) ptx::ldmatrix_x1(r, &s[8 * threadIdx.x + (threadIdx.x == 9 ? 4 : 0)]);  // lane 9's address is unused
}

}  // namespace

namespace selftest {

std::string test_warp_collective() {
  const int threads = 96, blocks = 3, w = detail::kLaneWordsOut;
  DevBuf<uint32_t> out(static_cast<size_t>(threads) * blocks * 2 * w);
  ADVPROP_LAUNCH(collective_kernel, blocks, threads, 0, nullptr)(out.p);
  const std::vector<uint32_t> h = out.get();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t)
      for (uint32_t round = 0; round < 2; ++round)
        for (int j = 0; j < w; ++j) {
          const int warp0 = t & ~31, l = t & 31;
          auto seed = [&](int lane) { return ((static_cast<uint32_t>(b) * 1024 + warp0 + lane) * 2 + round) * 64; };
          uint32_t sum = 0;
          for (int m = 0; m < 32; ++m) sum += seed(m) + j;
          const uint32_t want = seed((l + 3 * j) % 32) + 8 + j + sum;
          require(h[((static_cast<size_t>(b) * threads + t) * 2 + round) * w + j] == want,
                  "block " + std::to_string(b) + " thread " + std::to_string(t) + " round " + std::to_string(round) +
                      " word " + std::to_string(j));
        }
  DevBuf<uint32_t> small(64);
  expect_error([&] { ADVPROP_LAUNCH(bad_collective_kernel, 1, 48, 0, nullptr)(0, small.p); }, ErrorCode::Cuda,
               "test.mix needs all 32 lanes of warp 1, but lanes 0xffff0000");
  expect_error([&] { ADVPROP_LAUNCH(bad_collective_kernel, 1, 32, 0, nullptr)(1, small.p); }, ErrorCode::Cuda,
               "lanes 0x80000000 have exited");
  expect_error([&] { ADVPROP_LAUNCH(bad_collective_kernel, 1, 32, 0, nullptr)(2, small.p); }, ErrorCode::Cuda,
               "met at different warp-wide instructions");
  expect_error([&] { ADVPROP_LAUNCH(bad_collective_kernel, 1, 32, 0, nullptr)(3, small.p); }, ErrorCode::Cuda,
               "met at different warp intrinsics");
  ADVPROP_LAUNCH(bad_collective_kernel, 1, 64, 0, nullptr)(0, small.p);
  return "16 words in, 8 out, 2 rounds in 9 warps; partial, exited, mismatched warps refused";
}

std::string test_cp_async_model() {
  std::vector<uint32_t> src(32 * 4);
  for (size_t i = 0; i < src.size(); ++i) src[i] = 1000 + static_cast<uint32_t>(i);
  DevBuf<uint32_t> dsrc(src), out(32 * 5);
  ADVPROP_LAUNCH(cp_async_poison_kernel, 1, 32, 0, nullptr)(dsrc.p, out.p);
  const std::vector<uint32_t> h = out.get();
  for (int t = 0; t < 32; ++t) {
    const std::string who = "thread " + std::to_string(t);
    require(h[t * 5 + 0] == 0xffffffffu, who + ": destination poisoned while the copy is uncommitted");
    require(h[t * 5 + 1] == 0xffffffffu, who + ": destination poisoned while the group is pending");
    require(h[t * 5 + 2] == src[4 * t + 2], who + ": data after wait_group 0");
    require(h[t * 5 + 3] == 0xffffffffu, who + ": wait_group does not cover an uncommitted copy");
    require(h[t * 5 + 4] == src[4 * t + 1], who + ": data after wait_all");
  }
  DevBuf<uint32_t> any(8);
  expect_error([&] { ADVPROP_LAUNCH(misaligned_kernel, 1, 32, 0, nullptr)(0, any.p); }, ErrorCode::Cuda,
               "not aligned to 16 bytes");
  expect_error([&] { ADVPROP_LAUNCH(misaligned_kernel, 1, 32, 0, nullptr)(1, any.p); }, ErrorCode::Cuda,
               "lane 6's row address");
  ADVPROP_LAUNCH(misaligned_kernel, 1, 32, 0, nullptr)(2, any.p);
  return "poison before wait_group, data after; misaligned addresses refused";
}

}  // namespace selftest
}  // namespace sim
}  // namespace advprop
