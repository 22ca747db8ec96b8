// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011),
// written once for host and device so that cpu, cuda and cuda-sim draw identical numbers.
//
// Numbering used by every kernel that draws: element i of a fill keyed by (seed, offset) takes
// word i % 4 of philox(counter = {i / 4 low, i / 4 high, offset low, offset high}, key = seed).
// A caller that needs fresh numbers for the next call advances `offset` by one.
#pragma once
#include <cmath>
#include <cstdint>

#include "advprop/hostdevice.h"

namespace advprop {

struct Philox4 {
  uint32_t v[4];
};

ADVPROP_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

ADVPROP_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint64_t seed) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  const uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = philox_mulhilo(M0, c0, &hi0);
    uint32_t lo1 = philox_mulhilo(M1, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += W0; k1 += W1;
  }
  Philox4 r;
  r.v[0] = c0; r.v[1] = c1; r.v[2] = c2; r.v[3] = c3;
  return r;
}

// The 4-word block that element `i` of a (seed, offset) stream belongs to.
ADVPROP_HD Philox4 philox_block(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t blk = i >> 2;
  return philox4x32_10(static_cast<uint32_t>(blk), static_cast<uint32_t>(blk >> 32),
                       static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32), seed);
}

// Uniform in (0, 1]: 24 random bits, never 0 so that log() is finite. Exact in f32 and f64.
ADVPROP_HD float philox_uniform01(uint32_t bits) {
  return static_cast<float>((bits >> 8) + 1u) * (1.0f / 16777216.0f);
}

ADVPROP_HD double philox_uniform_element(uint64_t seed, uint64_t offset, uint64_t i) {
  Philox4 b = philox_block(seed, offset, i);
  return static_cast<double>(philox_uniform01(b.v[i & 3]));
}

// Box-Muller on the word pairs (0,1) and (2,3) of a block, computed in double so the host and
// the device round to the same f32 value (their libm results agree far below f32 precision).
// philox_normal_block gives all four normals of the block holding element i; the per-element
// form evaluates the same expressions, so the two agree bit for bit.
ADVPROP_HD void philox_normal_pair(uint32_t w0, uint32_t w1, double* z0, double* z1) {
  double u1 = static_cast<double>(philox_uniform01(w0));
  double u2 = static_cast<double>(philox_uniform01(w1));
  double r = sqrt(-2.0 * log(u1));
  double theta = 6.283185307179586476925286766559 * u2;
  *z0 = r * cos(theta);
  *z1 = r * sin(theta);
}

ADVPROP_HD void philox_normal_block(uint64_t seed, uint64_t offset, uint64_t i, double z[4]) {
  Philox4 b = philox_block(seed, offset, i);
  philox_normal_pair(b.v[0], b.v[1], &z[0], &z[1]);
  philox_normal_pair(b.v[2], b.v[3], &z[2], &z[3]);
}

ADVPROP_HD double philox_normal_element(uint64_t seed, uint64_t offset, uint64_t i) {
  double z[4];
  philox_normal_block(seed, offset, i, z);
  return z[i & 3];
}

}  // namespace advprop
