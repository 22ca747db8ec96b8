// The PTX wrappers of native/cuda/ptx.cuh (through the kernels of tensor_core_check.cu) against
// their cpu twins (native/cpu/tensor_core_check.cc, written from the PTX ISA): on cuda-sim always,
// and on the GPU when one with compute capability 8.0 or newer is present (otherwise those tests
// print why they skipped).
//
// The twin's mma adds the products (exact in double for bf16, f16 and tf32 operands) to C in
// increasing k in double and rounds once to f32; tf32 operands lose their low 13 mantissa bits.
// cuda-sim implements exactly that, so it must match bit for bit. The GPU's order and internal
// precision are unspecified (it truncates while aligning the products), so there
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
using half_detail::f32_bits;
using half_detail::f32_from_bits;

struct Backend : TensorCoreChecks {
  const char* name;
  bool exact;  // the simulator: mma results must equal the reference's bits
};

const Backend kCpu{ADVPROP_TENSOR_CORE_CHECKS_OF(cpu), "cpu", true};
#if ADVPROP_WITH_SIM
const Backend kSim{ADVPROP_TENSOR_CORE_CHECKS_OF(cudasim), "cuda-sim", true};
#endif
#if ADVPROP_WITH_CUDA
const Backend kGpu{ADVPROP_TENSOR_CORE_CHECKS_OF(cuda), "cuda", false};
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


// ---- mma ------------------------------------------------------------------------------------

struct MmaCase {
  TcMma shape;
  int k;
  std::vector<uint32_t> a, b;  // operand words as the check takes them
  std::vector<float> c;
};

uint32_t encode(TcMma shape, float x) {
  switch (shape) {
    case TcMma::m16n8k16_bf16: return f32_to_bf16_bits(x);
    case TcMma::m16n8k16_f16: return f32_to_f16_bits(x);
    case TcMma::m16n8k8_tf32: return f32_bits(x);  // all 32 bits: the low 13 must be ignored
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

// |x| of an operand word: its sign bit cleared (bit 15 of a 16-bit pattern, bit 31 of a tf32 word).
std::vector<uint32_t> magnitudes(TcMma shape, std::vector<uint32_t> w) {
  for (uint32_t& x : w) x &= shape == TcMma::m16n8k8_tf32 ? 0x7fffffffu : 0x7fffu;
  return w;
}

// d, the device's D for m, against the cpu twin's: bit for bit on an exact backend, else within
// 2^-20 of |C| + sum |A B| (the twin's mma of the operands' magnitudes; its one rounding to f32
// changes the bound by a relative 2^-24), a NaN for a NaN and the same infinity.
void check_mma_result(const Backend& be, const MmaCase& m, const std::vector<float>& d, const std::string& what) {
  REQUIRE(d.size() == 16 * 8);
  const std::vector<float> ref = cpu::check_mma(0, m.shape, m.a, m.b, m.c);
  std::vector<float> abs_c(m.c);
  for (float& x : abs_c) x = std::fabs(x);
  const std::vector<float> mag = cpu::check_mma(0, m.shape, magnitudes(m.shape, m.a), magnitudes(m.shape, m.b), abs_c);
  int bad = 0;
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < 8; ++col) {
      const float want = ref[row * 8 + col], got = d[row * 8 + col];
      bool ok;
      if (std::isnan(want)) ok = std::isnan(got) && (!be.exact || f32_bits(got) == 0x7fffffffu);
      else if (be.exact || std::isinf(want)) ok = f32_bits(got) == f32_bits(want);
      else ok = std::fabs(static_cast<double>(got) - want) <= std::ldexp(static_cast<double>(mag[row * 8 + col]), -20);
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
      const std::vector<uint32_t> want = cpu::check_ldmatrix(0, num, trans, image, offsets);
      for (int l = 8 * num; l < 32; ++l) offsets[l] = 8 * rows[32 + l % 16];
      const std::vector<uint32_t> got = be.ldmatrix(0, num, trans, image, offsets);
      REQUIRE(got.size() == want.size());
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
  std::vector<uint32_t> src(kCpAsyncSrcWords);
  for (size_t i = 0; i < src.size(); ++i) src[i] = 0x9e3779b9u * static_cast<uint32_t>(i + 1);
  const std::vector<uint32_t> got = be.cp_async(0, src);
  const std::vector<uint32_t> want = cpu::check_cp_async(0, src);
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i] && ++bad <= 3)
      EXPECT_MSG(false, std::string("cp.async on ") + be.name + ": word " + std::to_string(i) + " = " +
                            test::describe_unsigned(got[i]) + ", want " + test::describe_unsigned(want[i]));
  EXPECT_EQ(bad, 0);
}

// ---- conversions ----------------------------------------------------------------------------

// The device's conversions (hardware cvt on a GPU) against the twin's (half.h's and cvt.rna's):
// random patterns, values near ties, overflow edges, NaN and infinities.
void conversion_cases(const Backend& be) {
  std::vector<float> x;
  std::mt19937 rng(11);
  for (int i = 0; i < 4096; ++i) x.push_back(f32_from_bits(rng()));
  for (uint32_t u : {0x3f808000u, 0x3f818000u, 0x3f801000u, 0x3f803000u, 0x477ff000u, 0x477fefffu, 0x7f7fffffu,
                     0x7f7ff000u, 0x00000001u, 0x33000001u, 0x7f800000u, 0xff800000u, 0x7fc00001u, 0xff800001u,
                     0x80000000u, 0x387fe000u})
    x.push_back(f32_from_bits(u));
  if (x.size() % 2) x.push_back(1.0f);
  const std::vector<uint32_t> got = be.conversions(0, x);
  const std::vector<uint32_t> ref = cpu::check_conversions(0, x);
  REQUIRE(got.size() == 2 * x.size());
  REQUIRE(ref.size() == 2 * x.size());
  int bad = 0;
  for (size_t i = 0; i < x.size() / 2; ++i) {
    const float lo = x[2 * i], hi = x[2 * i + 1];
    const uint32_t* want = &ref[4 * i];
    for (int j = 0; j < 4; ++j)
      if (got[4 * i + j] != want[j] && ++bad <= 5)
        EXPECT_MSG(false, std::string(j < 2 ? "f32_to_tf32" : j == 2 ? "pack_bf16x2" : "pack_f16x2") + " on " + be.name +
                              " of " + test::describe_unsigned(f32_bits(lo)) + ", " + test::describe_unsigned(f32_bits(hi)) +
                              ": " + test::describe_unsigned(got[4 * i + j]) + " vs " + test::describe_unsigned(want[j]));
  }
  EXPECT_EQ(bad, 0);
}

// ---- the cpu twins on values worked out by hand ----------------------------------------------
// Everything above compares a device with the twins; these pin the twins to the ISA on their own.

ADVPROP_NATIVE_TEST(tensor_core_cpu_twin_mma_known_values) {
  // bf16: A = I (1.0 = 0x3f80, junk in the high 16 bits), so D = B + C.
  std::vector<uint32_t> a(16 * 16, 0xabcd0000u), b(16 * 8);
  for (int i = 0; i < 16; ++i) a[i * 16 + i] |= 0x3f80u;
  std::vector<float> c(16 * 8, 0.5f);
  for (int i = 0; i < 16 * 8; ++i) b[i] = f32_to_bf16_bits(static_cast<float>(i - 64));
  std::vector<float> d = cpu::check_mma(0, TcMma::m16n8k16_bf16, a, b, c);
  for (int i = 0; i < 16 * 8; ++i) EXPECT_EQ(d[i], static_cast<float>(i - 64) + 0.5f);
  // tf32: A = I in its first 8 rows with junk in the low 13 bits (ignored), so D = B + C there
  // and C below; a product of 2^-10 and 2^-10 under 1.0 survives the one rounding to f32.
  a.assign(16 * 8, 0);
  for (int i = 0; i < 8; ++i) a[i * 8 + i] = 0x3f801fffu;
  b.assign(8 * 8, 0);
  for (int i = 0; i < 8 * 8; ++i) b[i] = f32_bits(static_cast<float>(i));
  a[15 * 8 + 0] = f32_bits(std::ldexp(1.0f, -10));
  b[0] = f32_bits(std::ldexp(1.0f, -10));
  c.assign(16 * 8, 1.0f);
  d = cpu::check_mma(0, TcMma::m16n8k8_tf32, a, b, c);
  for (int i = 0; i < 8 * 8; ++i) EXPECT_EQ(d[i], (i == 0 ? std::ldexp(1.0f, -10) : static_cast<float>(i)) + 1.0f);
  EXPECT_EQ(d[15 * 8], 1.0f + std::ldexp(1.0f, -20));
  for (int i = 8 * 8; i < 15 * 8; ++i) EXPECT_EQ(d[i], 1.0f);
  // f16: a NaN operand gives the canonical NaN.
  a.assign(16 * 16, 0x3c00u);
  a[0] = 0x7e01u;
  b.assign(16 * 8, 0x3c00u);
  d = cpu::check_mma(0, TcMma::m16n8k16_f16, a, b, std::vector<float>(16 * 8, 0.0f));
  EXPECT_EQ(f32_bits(d[0]), 0x7fffffffu);
  EXPECT_EQ(d[8], 16.0f);
}

ADVPROP_NATIVE_TEST(tensor_core_cpu_twin_ldmatrix_known_values) {
  // One 8 x 8 matrix, element (r, c) = 8r + c, row r at offset 8r; lanes 8.. point anywhere.
  std::vector<uint16_t> image(64);
  for (int i = 0; i < 64; ++i) image[i] = static_cast<uint16_t>(i);
  std::vector<int> offsets(32);
  for (int l = 0; l < 32; ++l) offsets[l] = 8 * (l < 8 ? l : 7 - l % 8);
  const std::vector<uint32_t> r = cpu::check_ldmatrix(0, 1, false, image, offsets);
  const std::vector<uint32_t> t = cpu::check_ldmatrix(0, 1, true, image, offsets);
  for (int l = 0; l < 32; ++l) {
    const uint32_t row = l / 4, col = 2 * (l % 4);
    EXPECT_EQ(r[l], (8 * row + col) | (8 * row + col + 1) << 16);
    EXPECT_EQ(t[l], (8 * col + row) | (8 * (col + 1) + row) << 16);
  }
}

ADVPROP_NATIVE_TEST(tensor_core_cpu_twin_cp_async_and_conversions_known_values) {
  const int n = kCpAsyncThreads;
  std::vector<uint32_t> src(kCpAsyncSrcWords);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint32_t>(i + 1);
  const std::vector<uint32_t> out = cpu::check_cp_async(0, src);
  REQUIRE(out.size() == static_cast<size_t>(kCpAsyncOutWords));
  EXPECT_EQ(out[0], 1u);              // thread 0, group 0, own words: src[0..3]
  EXPECT_EQ(out[4 * n], 5u);          // thread 0's neighbour: thread 1's words src[4..7]
  EXPECT_EQ(out[8 * n], src[4 * n]);  // group 1, thread 0
  const size_t g2 = 12 * static_cast<size_t>(n);
  const std::vector<uint32_t> t0(out.begin() + g2, out.begin() + g2 + 5), t2(out.begin() + g2 + 10, out.begin() + g2 + 15);
  EXPECT(t0 == std::vector<uint32_t>({src[6 * n], 0, 0, 0, 0}));  // zfill of 0 bytes
  EXPECT(t2 == std::vector<uint32_t>({src[6 * n + 2], src[7 * n + 8], src[7 * n + 9], 0, 0}));
  const std::vector<uint32_t> cv = cpu::check_conversions(
      0, {f32_from_bits(0x3f801000u), f32_from_bits(0xbf801000u), f32_from_bits(0x3f800fffu), NAN, 1.0f, -2.0f});
  // tf32 ties away from zero; the f16 of 1 + 2^-11, a tie, goes to even; NaNs are canonical.
  const std::vector<uint32_t> want = {0x3f802000u, 0xbf802000u, 0xbf803f80u, 0xbc003c00u,
                                      0x3f800000u, 0x7fffffffu, 0x7fff3f80u, 0x7fff3c00u,
                                      0x3f800000u, 0xc0000000u, 0xc0003f80u, 0xc0003c00u};
  EXPECT(cv == want);
}

ADVPROP_NATIVE_TEST(tensor_core_checks_refuse_bad_arguments_cpu) {
  EXPECT(cpu::tensor_cores_usable(0));
  EXPECT(!cpu::tensor_cores_usable(1));
  EXPECT_THROWS(cpu::check_mma(0, TcMma::m16n8k8_tf32, std::vector<uint32_t>(16 * 16), std::vector<uint32_t>(64),
                               std::vector<float>(128)),
                ErrorCode::Shape);
  EXPECT_THROWS(cpu::check_ldmatrix(0, 3, false, std::vector<uint16_t>(256), std::vector<int>(32)), ErrorCode::Arg);
  EXPECT_THROWS(cpu::check_ldmatrix(0, 1, false, std::vector<uint16_t>(256), std::vector<int>(32, 4)), ErrorCode::Arg);
  EXPECT_THROWS(cpu::check_cp_async(1, std::vector<uint32_t>(kCpAsyncSrcWords)), ErrorCode::Device);
  EXPECT_THROWS(cpu::check_conversions(0, std::vector<float>(3)), ErrorCode::Shape);
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
