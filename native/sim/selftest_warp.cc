// cuda-sim self tests of the warp intrinsics: shuffles (down, xor, up, indexed, with a width)
// and votes over full and partial warps.
#include "selftest_harness.h"

#include <algorithm>
#include <string>
#include <vector>

namespace advprop {
namespace sim {
namespace {

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

}  // namespace

namespace selftest {

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

}  // namespace selftest
}  // namespace sim
}  // namespace advprop
