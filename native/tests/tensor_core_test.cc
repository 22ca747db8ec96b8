// The PTX wrappers of native/cuda/ptx.cuh (through the kernels of tensor_core_check.cu) against
// scalar references written from the PTX ISA: on cuda-sim always, and on the GPU when one with
// compute capability 8.0 or newer is present (otherwise those tests print why they skipped).
//
// mma references: the products (exact in f32 and in double for bf16, f16 and tf32 operands) added
// to C in increasing k in double, rounded once to f32; tf32 operands with their low 13 mantissa
// bits dropped. cuda-sim implements exactly that, so it must match bit for bit. The GPU's order
// and internal precision are unspecified (it truncates while aligning the products), so there
// |D - ref| <= 2^-20 * (|C| + sum |A B|), 8 f32 ulps of the sum of magnitudes, is allowed.
// ldmatrix and cp.async move bits: exact on both.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "advprop/device.h"
#include "advprop/half.h"
#include "advprop/tensor_core_check.h"
#include "harness.h"

namespace advprop {
namespace {

struct Backend {
  const char* name;
  bool exact;  // the simulator: mma results must equal the reference's bits
  bool (*usable)(int);
  std::vector<float> (*mma)(int, TcMma, const std::vector<uint32_t>&, const std::vector<uint32_t>&,
                            const std::vector<float>&);
  std::vector<uint32_t> (*ldmatrix)(int, int, bool, const std::vector<uint16_t>&, const std::vector<int>&);
  std::vector<float> (*ldmatrix_mma)(int, const std::vector<uint16_t>&, const std::vector<uint16_t>&,
                                     const std::vector<float>&);
  std::vector<uint32_t> (*cp_async)(int, const std::vector<uint32_t>&);
  std::vector<uint32_t> (*conversions)(int, const std::vector<float>&);
};

#if ADVPROP_WITH_SIM
const Backend kSim{"cuda-sim", true, cudasim::tensor_cores_usable, cudasim::check_mma, cudasim::check_ldmatrix,
                   cudasim::check_ldmatrix_mma, cudasim::check_cp_async, cudasim::check_conversions};
#endif
#if ADVPROP_WITH_CUDA
const Backend kGpu{"cuda", false, cuda::tensor_cores_usable, cuda::check_mma, cuda::check_ldmatrix,
                   cuda::check_ldmatrix_mma, cuda::check_cp_async, cuda::check_conversions};
#endif

// Runs body(backend) when the GPU can, else says why not.
void on_gpu(const char* test, const std::function<void(const Backend&)>& body) {
#if ADVPROP_WITH_CUDA
  if (!device_available(DeviceType::cuda)) {
    std::printf("       %s skipped on cuda: %s\n", test, backend(DeviceType::cuda).unavailable_reason().c_str());
    return;
  }
  if (!cuda::tensor_cores_usable(0)) {
    std::printf("       %s skipped on cuda: device 0 is older than compute capability 8.0\n", test);
    return;
  }
  body(kGpu);
#else
  (void)body;
  std::printf("       %s skipped on cuda: built without CUDA\n", test);
#endif
}

uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// ---- mma ------------------------------------------------------------------------------------

struct MmaCase {
  TcMma shape;
  int k;
  std::vector<uint32_t> a, b;  // operand words as the check takes them
  std::vector<float> c;
};

double operand(TcMma shape, uint32_t w) {
  switch (shape) {
    case TcMma::m16n8k16_bf16: return bf16_bits_to_f32(static_cast<uint16_t>(w));
    case TcMma::m16n8k16_f16: return f16_bits_to_f32(static_cast<uint16_t>(w));
    case TcMma::m16n8k8_tf32: return from_bits(w & 0xffffe000u);
  }
  return NAN;
}

uint32_t encode(TcMma shape, float x) {
  switch (shape) {
    case TcMma::m16n8k16_bf16: return f32_to_bf16_bits(x);
    case TcMma::m16n8k16_f16: return f32_to_f16_bits(x);
    case TcMma::m16n8k8_tf32: return bits(x);  // all 32 bits: the low 13 must be ignored
  }
  return 0;
}

// Values of mixed signs and magnitudes (2^-6 to 2^6), f16 subnormals among the f16 ones.
MmaCase random_case(TcMma shape, uint64_t seed) {
  MmaCase m{shape, shape == TcMma::m16n8k8_tf32 ? 8 : 16, {}, {}, {}};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> e(-6, 6);
  auto value = [&]() { return std::ldexp(u(rng), e(rng)); };
  for (int i = 0; i < 16 * m.k; ++i) m.a.push_back(encode(shape, value()));
  for (int i = 0; i < m.k * 8; ++i) m.b.push_back(encode(shape, value()));
  for (int i = 0; i < 16 * 8; ++i) m.c.push_back(value());
  if (shape == TcMma::m16n8k16_f16)
    for (int i = 0; i < 16 * m.k; i += 7) m.a[i] = static_cast<uint32_t>(1 + i) | (i & 8 ? 0x8000u : 0u);
  return m;
}

void check_mma_result(const Backend& be, const MmaCase& m, const std::vector<float>& d, const std::string& what) {
  REQUIRE(d.size() == 16 * 8);
  int bad = 0;
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < 8; ++col) {
      double s = m.c[row * 8 + col], mag = std::fabs(s);
      for (int k = 0; k < m.k; ++k) {
        const double p = operand(m.shape, m.a[row * m.k + k]) * operand(m.shape, m.b[k * 8 + col]);
        s += p;
        mag += std::fabs(p);
      }
      const float want = static_cast<float>(s), got = d[row * 8 + col];
      bool ok;
      if (std::isnan(want)) ok = std::isnan(got) && (!be.exact || bits(got) == 0x7fffffffu);
      else if (be.exact || std::isinf(want)) ok = bits(got) == bits(want);
      else ok = std::fabs(static_cast<double>(got) - want) <= std::ldexp(mag, -20);
      if (!ok && ++bad <= 5)
        EXPECT_MSG(false, what + " on " + be.name + ": D[" + std::to_string(row) + "][" + std::to_string(col) +
                              "] = " + test::describe_double(got) + ", want " + test::describe_double(want));
    }
  EXPECT_EQ(bad, 0);
}

const char* shape_name(TcMma s) {
  return s == TcMma::m16n8k16_bf16 ? "mma m16n8k16 bf16" : s == TcMma::m16n8k16_f16 ? "mma m16n8k16 f16" : "mma m16n8k8 tf32";
}

void mma_cases(const Backend& be) {
  for (TcMma shape : {TcMma::m16n8k16_bf16, TcMma::m16n8k16_f16, TcMma::m16n8k8_tf32})
    for (uint64_t seed : {1, 2, 3}) {
      const MmaCase m = random_case(shape, seed * 10 + static_cast<uint64_t>(shape));
      check_mma_result(be, m, be.mma(0, shape, m.a, m.b, m.c), std::string(shape_name(shape)) + " seed " + std::to_string(seed));
    }
}

// A NaN in row 3 of A and +inf in column 5 of B, column 2 of A positive: D's row 3 is NaN, the
// rest of column 5 +inf.
void mma_specials(const Backend& be) {
  for (TcMma shape : {TcMma::m16n8k16_bf16, TcMma::m16n8k16_f16, TcMma::m16n8k8_tf32}) {
    MmaCase m = random_case(shape, 77);
    for (int row = 0; row < 16; ++row) m.a[row * m.k + 2] = encode(shape, 0.5f + row);
    m.a[3 * m.k] = shape == TcMma::m16n8k8_tf32 ? 0x7fc00000u : 0x7fffu;
    m.b[2 * 8 + 5] = encode(shape, INFINITY);
    check_mma_result(be, m, be.mma(0, shape, m.a, m.b, m.c), std::string(shape_name(shape)) + " with NaN and inf");
  }
}

// ---- ldmatrix ---------------------------------------------------------------------------------

// The registers of ldmatrix .x{num}[.trans] as the PTX ISA describes them: matrix j is made of the
// rows lanes 8j..8j+7 point at; .trans hands out the transposed matrix by the same rule.
std::vector<uint32_t> ldmatrix_reference(int num, bool trans, const std::vector<uint16_t>& image,
                                         const std::vector<int>& offsets) {
  std::vector<uint32_t> r(32 * static_cast<size_t>(num));
  for (int j = 0; j < num; ++j) {
    uint16_t m[8][8], x[8][8];
    for (int row = 0; row < 8; ++row)
      for (int col = 0; col < 8; ++col) m[row][col] = image[static_cast<size_t>(offsets[8 * j + row]) + col];
    for (int row = 0; row < 8; ++row)
      for (int col = 0; col < 8; ++col) x[row][col] = trans ? m[col][row] : m[row][col];
    // Thread l receives fragment l of the row-major walk over x: row l / 4, two columns.
    for (int l = 0; l < 32; ++l) r[l * num + j] = x[l / 4][2 * (l % 4)] | static_cast<uint32_t>(x[l / 4][2 * (l % 4) + 1]) << 16;
  }
  return r;
}

void ldmatrix_cases(const Backend& be) {
  std::mt19937 rng(5);
  std::vector<uint16_t> image(8 * 48);  // 48 rows of 8 elements
  for (auto& v : image) v = static_cast<uint16_t>(rng());
  for (int num : {1, 2, 4})
    for (bool trans : {false, true}) {
      // Rows in a shuffled order, so the per-lane addresses matter; lanes past 8 * num point
      // elsewhere, and must not change the result.
      std::vector<int> rows(48);
      for (int i = 0; i < 48; ++i) rows[i] = i;
      std::shuffle(rows.begin(), rows.end(), rng);
      std::vector<int> offsets(32);
      for (int l = 0; l < 32; ++l) offsets[l] = 8 * rows[l];
      const std::vector<uint32_t> want = ldmatrix_reference(num, trans, image, offsets);
      for (int l = 8 * num; l < 32; ++l) offsets[l] = 8 * rows[32 + l % 16];
      const std::vector<uint32_t> got = be.ldmatrix(0, num, trans, image, offsets);
      int bad = 0;
      for (size_t i = 0; i < want.size(); ++i)
        if (got.at(i) != want[i] && ++bad <= 3)
          EXPECT_MSG(false, std::string("ldmatrix x") + std::to_string(num) + (trans ? ".trans" : "") + " on " +
                                be.name + ": lane " + std::to_string(i / num) + " register " +
                                std::to_string(i % num));
      EXPECT_EQ(bad, 0);
    }
}

// ldmatrix.x4 + ldmatrix.x2.trans feeding the bf16 mma: the fragments must be what the mma wants.
void ldmatrix_mma_case(const Backend& be) {
  const MmaCase m = random_case(TcMma::m16n8k16_bf16, 99);
  std::vector<uint16_t> a(m.a.begin(), m.a.end()), b(m.b.begin(), m.b.end());
  check_mma_result(be, m, be.ldmatrix_mma(0, a, b, m.c), "ldmatrix + mma");
}

// ---- cp.async -------------------------------------------------------------------------------

void cp_async_case(const Backend& be) {
  const int n = kCpAsyncThreads;
  std::vector<uint32_t> src(kCpAsyncSrcWords);
  for (size_t i = 0; i < src.size(); ++i) src[i] = 0x9e3779b9u * static_cast<uint32_t>(i + 1);
  const std::vector<uint32_t> got = be.cp_async(0, src);
  // What each thread's chunk of each group holds once complete.
  auto chunk = [&](int group, int t) {
    std::vector<uint32_t> w;
    if (group == 0) w.assign(src.begin() + 4 * t, src.begin() + 4 * t + 4);
    if (group == 1) w.assign(src.begin() + 4 * n + 2 * t, src.begin() + 4 * n + 2 * t + 2);
    if (group == 2) {
      w.push_back(src[6 * n + t]);
      for (int i = 0; i < 4; ++i) w.push_back(i < t % 5 ? src[7 * n + 4 * t + i] : 0u);
    }
    return w;
  };
  std::vector<uint32_t> want;
  for (int g = 0; g < 3; ++g)
    for (int neighbour = 0; neighbour < 2; ++neighbour)
      for (int t = 0; t < n; ++t) {
        const std::vector<uint32_t> w = chunk(g, neighbour ? (t + 1) % n : t);
        want.insert(want.end(), w.begin(), w.end());
      }
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i] && ++bad <= 3)
      EXPECT_MSG(false, std::string("cp.async on ") + be.name + ": word " + std::to_string(i) + " = " +
                            test::describe_unsigned(got[i]) + ", want " + test::describe_unsigned(want[i]));
  EXPECT_EQ(bad, 0);
}

// ---- conversions ----------------------------------------------------------------------------

// cvt.rna.tf32.f32 from its definition: the nearest tf32 with ties away from zero, in double.
uint32_t tf32_reference(float x) {
  if (std::isnan(x)) return 0x7fffffffu;
  if (std::isinf(x) || x == 0) return bits(x);
  const int e = std::ilogb(x);
  const double ulp = std::ldexp(1.0, std::max(e, -126) - 10);
  const double q = static_cast<double>(x) / ulp;
  const double r = std::copysign(std::floor(std::fabs(q) + 0.5), q) * ulp;  // ties away from zero
  return bits(static_cast<float>(r));  // exact unless past f32's range, where it is infinity
}

// The device's conversions (hardware cvt on a GPU) against half.h's and the tf32 reference:
// random patterns, values near ties, overflow edges, NaN and infinities.
void conversion_cases(const Backend& be) {
  std::vector<float> x;
  std::mt19937 rng(11);
  for (int i = 0; i < 4096; ++i) x.push_back(from_bits(rng()));
  for (uint32_t u : {0x3f808000u, 0x3f818000u, 0x3f801000u, 0x3f803000u, 0x477ff000u, 0x477fefffu, 0x7f7fffffu,
                     0x7f7ff000u, 0x00000001u, 0x33000001u, 0x7f800000u, 0xff800000u, 0x7fc00001u, 0xff800001u,
                     0x80000000u, 0x387fe000u})
    x.push_back(from_bits(u));
  if (x.size() % 2) x.push_back(1.0f);
  const std::vector<uint32_t> got = be.conversions(0, x);
  REQUIRE(got.size() == 2 * x.size());
  int bad = 0;
  for (size_t i = 0; i < x.size() / 2; ++i) {
    const float lo = x[2 * i], hi = x[2 * i + 1];
    const uint32_t want[4] = {tf32_reference(lo), tf32_reference(hi),
                              f32_to_bf16_bits(lo) | static_cast<uint32_t>(f32_to_bf16_bits(hi)) << 16,
                              f32_to_f16_bits(lo) | static_cast<uint32_t>(f32_to_f16_bits(hi)) << 16};
    for (int j = 0; j < 4; ++j)
      if (got[4 * i + j] != want[j] && ++bad <= 5)
        EXPECT_MSG(false, std::string(j < 2 ? "f32_to_tf32" : j == 2 ? "pack_bf16x2" : "pack_f16x2") + " on " + be.name +
                              " of " + test::describe_unsigned(bits(lo)) + ", " + test::describe_unsigned(bits(hi)) +
                              ": " + test::describe_unsigned(got[4 * i + j]) + " vs " + test::describe_unsigned(want[j]));
  }
  EXPECT_EQ(bad, 0);
}

#if ADVPROP_WITH_SIM
ADVPROP_NATIVE_TEST(tensor_core_conversions_cudasim) { conversion_cases(kSim); }
ADVPROP_NATIVE_TEST(tensor_core_mma_cudasim) { mma_cases(kSim); }
ADVPROP_NATIVE_TEST(tensor_core_mma_specials_cudasim) { mma_specials(kSim); }
ADVPROP_NATIVE_TEST(tensor_core_ldmatrix_cudasim) { ldmatrix_cases(kSim); }
ADVPROP_NATIVE_TEST(tensor_core_ldmatrix_mma_cudasim) { ldmatrix_mma_case(kSim); }
ADVPROP_NATIVE_TEST(tensor_core_cp_async_cudasim) { cp_async_case(kSim); }
ADVPROP_NATIVE_TEST(tensor_core_checks_refuse_bad_arguments_cudasim) {
  EXPECT(cudasim::tensor_cores_usable(0));
  EXPECT(!cudasim::tensor_cores_usable(1));
  EXPECT_THROWS(cudasim::check_mma(0, TcMma::m16n8k8_tf32, std::vector<uint32_t>(16 * 16), std::vector<uint32_t>(64),
                                   std::vector<float>(128)),
                ErrorCode::Shape);
  EXPECT_THROWS(cudasim::check_ldmatrix(0, 3, false, std::vector<uint16_t>(256), std::vector<int>(32)), ErrorCode::Arg);
  EXPECT_THROWS(cudasim::check_ldmatrix(0, 1, false, std::vector<uint16_t>(256), std::vector<int>(32, 4)), ErrorCode::Arg);
  EXPECT_THROWS(cudasim::check_cp_async(1, std::vector<uint32_t>(kCpAsyncSrcWords)), ErrorCode::Device);
}
#endif

ADVPROP_NATIVE_TEST(tensor_core_conversions_cuda) { on_gpu("tensor_core_conversions_cuda", conversion_cases); }
ADVPROP_NATIVE_TEST(tensor_core_mma_cuda) { on_gpu("tensor_core_mma_cuda", mma_cases); }
ADVPROP_NATIVE_TEST(tensor_core_mma_specials_cuda) { on_gpu("tensor_core_mma_specials_cuda", mma_specials); }
ADVPROP_NATIVE_TEST(tensor_core_ldmatrix_cuda) { on_gpu("tensor_core_ldmatrix_cuda", ldmatrix_cases); }
ADVPROP_NATIVE_TEST(tensor_core_ldmatrix_mma_cuda) { on_gpu("tensor_core_ldmatrix_mma_cuda", ldmatrix_mma_case); }
ADVPROP_NATIVE_TEST(tensor_core_cp_async_cuda) { on_gpu("tensor_core_cp_async_cuda", cp_async_case); }

}  // namespace
}  // namespace advprop
