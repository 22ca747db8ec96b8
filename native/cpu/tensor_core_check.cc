// The cpu twins of the tensor-core checks (contract: advprop/tensor_core_check.h): what each check
// returns, computed on the host from the PTX ISA's definitions of the instructions. They are the
// references the device checks are compared with, so they are written independently of both the
// kernels and the simulator's model (native/sim/ptx_sim.cc): the mma works on whole matrices (the
// check takes matrices and returns D, so a fragment layout wrong in a kernel or in the simulator
// shows as a difference), ldmatrix hands out registers by the ISA's rule for each lane.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "advprop/half.h"
#include "advprop/tensor_core_check.h"

namespace advprop {
namespace cpu {
namespace {


// An operand word as the mma reads it: bf16 / f16 from the low 16 bits, tf32 as the f32 pattern
// without its low 13 mantissa bits. Every one converts to double exactly.
double operand(TcMma shape, uint32_t w) {
  switch (shape) {
    case TcMma::m16n8k16_bf16: return bf16_bits_to_f32(static_cast<uint16_t>(w));
    case TcMma::m16n8k16_f16: return f16_bits_to_f32(static_cast<uint16_t>(w));
    case TcMma::m16n8k8_tf32: return half_detail::f32_from_bits(w & 0xffffe000u);
  }
  return NAN;
}

// D = A * B + C, A 16 x k, B k x 8: the products (exact in double for these operand types) added
// to C in increasing k in double, rounded once to f32; a NaN is the GPU's canonical 0x7fffffff.
// The GPU's order and internal precision are unspecified, so a GPU may differ from this by a few
// ulps of the sum of magnitudes (native/tests/tensor_core_test.cc says how many).
std::vector<float> mma_reference(TcMma shape, const std::vector<uint32_t>& a, const std::vector<uint32_t>& b,
                                 const std::vector<float>& c) {
  const int k_dim = tc_mma_k(shape);
  std::vector<float> d(16 * 8);
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < 8; ++col) {
      double s = c[row * 8 + col];
      for (int k = 0; k < k_dim; ++k) s += operand(shape, a[row * k_dim + k]) * operand(shape, b[k * 8 + col]);
      const float f = static_cast<float>(s);
      d[row * 8 + col] = std::isnan(f) ? half_detail::f32_from_bits(0x7fffffffu) : f;
    }
  return d;
}

// cvt.rna.tf32.f32 from its definition: the nearest tf32 with ties away from zero, in double; a
// NaN becomes 0x7fffffff.
uint32_t tf32_rna(float x) {
  if (std::isnan(x)) return 0x7fffffffu;
  if (std::isinf(x) || x == 0) return half_detail::f32_bits(x);
  const int e = std::ilogb(x);
  const double ulp = std::ldexp(1.0, std::max(e, -126) - 10);
  const double q = static_cast<double>(x) / ulp;
  const double r = std::copysign(std::floor(std::fabs(q) + 0.5), q) * ulp;  // ties away from zero
  return half_detail::f32_bits(static_cast<float>(r));  // exact unless past f32's range, where it is infinity
}

uint32_t pack(uint16_t lo, uint16_t hi) { return lo | static_cast<uint32_t>(hi) << 16; }

}  // namespace

// The cpu is a host that models every instruction: its one device, 0, can run them all.
bool tensor_cores_usable(int device) { return device == 0; }

std::vector<float> check_mma(int device, TcMma shape, const std::vector<uint32_t>& a, const std::vector<uint32_t>& b,
                             const std::vector<float>& c) {
  require_tc_usable(tensor_cores_usable(device), device, "check_mma");
  check_tc_mma_args(shape, a.size(), b.size(), c.size());
  return mma_reference(shape, a, b, c);
}

// ldmatrix .x{num}[.trans]: matrix j is made of the 8 rows that lanes 8j..8j+7 point at (the
// other lanes' addresses are not read); .trans hands out the transposed matrix by the same rule.
// Lane l receives, in its register j, fragment l of the row-major walk over matrix j: row l / 4,
// columns 2 (l % 4) and 2 (l % 4) + 1, the first in the low half.
std::vector<uint32_t> check_ldmatrix(int device, int num, bool trans, const std::vector<uint16_t>& image,
                                     const std::vector<int>& row_offsets) {
  require_tc_usable(tensor_cores_usable(device), device, "check_ldmatrix");
  check_tc_ldmatrix_args(num, image.size(), row_offsets);
  std::vector<uint32_t> r(32 * static_cast<size_t>(num));
  for (int j = 0; j < num; ++j) {
    uint16_t m[8][8], x[8][8];
    for (int row = 0; row < 8; ++row)
      for (int col = 0; col < 8; ++col) m[row][col] = image[static_cast<size_t>(row_offsets[8 * j + row]) + col];
    for (int row = 0; row < 8; ++row)
      for (int col = 0; col < 8; ++col) x[row][col] = trans ? m[col][row] : m[row][col];
    for (int l = 0; l < 32; ++l) r[l * num + j] = pack(x[l / 4][2 * (l % 4)], x[l / 4][2 * (l % 4) + 1]);
  }
  return r;
}

// The device loads A with ldmatrix.x4 and B with ldmatrix.x2.trans; when those fragments are what
// the mma expects, the result is the bf16 mma of the matrices as given.
std::vector<float> check_ldmatrix_mma(int device, const std::vector<uint16_t>& a, const std::vector<uint16_t>& b,
                                      const std::vector<float>& c) {
  require_tc_usable(tensor_cores_usable(device), device, "check_ldmatrix_mma");
  check_tc_ldmatrix_mma_args(a.size(), b.size(), c.size());
  return mma_reference(TcMma::m16n8k16_bf16, std::vector<uint32_t>(a.begin(), a.end()),
                       std::vector<uint32_t>(b.begin(), b.end()), c);
}

// Every group is complete when it is recorded, so each chunk holds its source words: group 0
// words 4t.., group 1 the next section's 2t.., group 2 word t of the third section, then the
// first 4 * (t % 5) bytes of the fourth section's 4t.. and zeros for the rest (zfill).
std::vector<uint32_t> check_cp_async(int device, const std::vector<uint32_t>& src) {
  require_tc_usable(tensor_cores_usable(device), device, "check_cp_async");
  check_tc_cp_async_args(src.size());
  const int n = kCpAsyncThreads;
  auto chunk = [&](int group, int t, std::vector<uint32_t>& out) {
    if (group == 0) out.insert(out.end(), src.begin() + 4 * t, src.begin() + 4 * t + 4);
    if (group == 1) out.insert(out.end(), src.begin() + 4 * n + 2 * t, src.begin() + 4 * n + 2 * t + 2);
    if (group == 2) {
      out.push_back(src[6 * n + t]);
      for (int i = 0; i < 4; ++i) out.push_back(i < t % 5 ? src[7 * n + 4 * t + i] : 0u);
    }
  };
  std::vector<uint32_t> out;
  out.reserve(kCpAsyncOutWords);
  for (int g = 0; g < 3; ++g)
    for (int neighbour = 0; neighbour < 2; ++neighbour)
      for (int t = 0; t < n; ++t) chunk(g, neighbour ? (t + 1) % n : t, out);
  return out;
}

// f32_to_tf32 is cvt.rna.tf32.f32; pack_bf16x2 and pack_f16x2 round to nearest even (cvt.rn),
// the low half from the first value, as half.h does.
std::vector<uint32_t> check_conversions(int device, const std::vector<float>& x) {
  require_tc_usable(tensor_cores_usable(device), device, "check_conversions");
  check_tc_conversions_args(x.size());
  std::vector<uint32_t> out;
  out.reserve(2 * x.size());
  for (size_t i = 0; i < x.size() / 2; ++i) {
    const float lo = x[2 * i], hi = x[2 * i + 1];
    out.push_back(tf32_rna(lo));
    out.push_back(tf32_rna(hi));
    out.push_back(pack(f32_to_bf16_bits(lo), f32_to_bf16_bits(hi)));
    out.push_back(pack(f32_to_f16_bits(lo), f32_to_f16_bits(hi)));
  }
  return out;
}

}  // namespace cpu
}  // namespace advprop
