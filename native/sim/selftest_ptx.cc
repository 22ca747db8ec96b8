// cuda-sim self tests of what the tensor-core kernels rely on: the warp-wide exchange behind
// mma.sync and ldmatrix (detail::warp_collective: every lane's words reach the instruction, its
// results come back to the right lane, warps that cannot take part as a whole are refused), the
// cp.async model (copies land at wait_group and not before), and __half / __nv_bfloat16 (16-bit
// results, rounded once). The instructions' layouts are checked by native/tests/tensor_core_test.cc.
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

// Half-type arithmetic whose result shows whether it was rounded to 16 bits: 1 + 2^-11 in f16
// and 1 + 2^-8 in bf16 are ties that round to even (1); 65504 * 2 overflows f16.
__global__ void half_kernel(float* f, uint32_t* u) {
  const __half one(1.0f), tiny(0.00048828125f);
  f[0] = one + tiny;
  f[1] = __nv_bfloat16(1.0f) + __nv_bfloat16(0.00390625f);
  f[2] = __half(65504.0f) * __half(2);
  __half acc = __float2half_rn(0.1f);
  acc += __half(0.2f);
  f[3] = __half2float(acc);
  f[4] = __bfloat162float(__float2bfloat16(3.14159f));
  u[0] = __bfloat16_as_ushort(__float2bfloat16(__int_as_float(0x7fc00001)));
  const __half2 h2 = __floats2half2_rn(1.0f, 2.0f);
  const __nv_bfloat162 b2 = __floats2bfloat162_rn(1.0f, -2.0f);
  memcpy(&u[1], &h2, 4);
  memcpy(&u[2], &b2, 4);
  const __half nan = __ushort_as_half(0x7e00);
  u[3] = (nan == nan) | (nan != nan) << 1 | (one < tiny) << 2 | (-one < tiny) << 3;
}

}  // namespace

namespace selftest {

std::string test_half_types() {
  DevBuf<float> f(5);
  DevBuf<uint32_t> u(4);
  ADVPROP_LAUNCH(half_kernel, 1, 1, 0, nullptr)(f.p, u.p);
  const std::vector<float> hf = f.get();
  const std::vector<uint32_t> hu = u.get();
  require(hf[0] == 1.0f, "f16 1 + 2^-11 rounds to even (1), got " + std::to_string(hf[0]));
  require(hf[1] == 1.0f, "bf16 1 + 2^-8 rounds to even (1), got " + std::to_string(hf[1]));
  require(std::isinf(hf[2]) && hf[2] > 0, "f16 65504 * 2 overflows");
  require(hf[3] == f16_bits_to_f32(f32_to_f16_bits(f16_bits_to_f32(f32_to_f16_bits(0.1f)) +
                                                   f16_bits_to_f32(f32_to_f16_bits(0.2f)))),
          "f16 0.1 + 0.2, rounded at each step");
  require(hf[4] == bf16_bits_to_f32(0x4049), "bf16 of 3.14159");
  require(hu[0] == 0x7fffu, "a NaN narrows to the canonical 0x7fff");
  require(hu[1] == 0x40003c00u, "__half2 (1, 2): x in the low half");
  require(hu[2] == 0xc0003f80u, "__nv_bfloat162 (1, -2): x in the low half");
  require(hu[3] == 0xau, "comparisons: NaN unordered, -1 < 2^-11, not 1 < 2^-11");
  return "16-bit rounding of + and *, overflow, NaN, pair layout, comparisons";
}

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
