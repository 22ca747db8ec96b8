// The cpu GEMM with f32 accumulation (native/cpu/gemm_tc.cc) in bf16, f16 and tf32: against an
// f64 reference from the rounded inputs (tolerances: gemm_tc_util.h), bit for bit on exactly
// representable sums, on every transpose, edge, split-k and alpha/beta case; the same bits on
// every ISA level and on repeated runs; and the AVX512-BF16 path against the portable one where
// the CPU has it (the tolerance stated in gemm_tc.cc; skipped with a note elsewhere).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/gemm.h"
#include "gemm_tc_util.h"
#include "harness.h"

namespace advprop {
namespace cpu {
bool set_gemm_tc_path(int path);  // test hooks, native/cpu/gemm_tc.cc
bool set_gemm_tc_isa(int level);
}  // namespace cpu

namespace {

using namespace test::lowp;

Tensor run_cpu(const Problem& p) {
  Tensor c = Tensor::empty(p.c0.shape(), p.c0.dtype(), Device{});
  std::memcpy(c.data(), p.c0.data(), p.c0.nbytes());
  cpu::gemm(p.g, p.a, p.b, c);
  return c;
}

// The bf16 paths this CPU has: portable, and the AVX512-BF16 one where present.
std::vector<int> paths() {
  std::vector<int> v{1};
  if (cpu::set_gemm_tc_path(2)) v.push_back(2);
  cpu::set_gemm_tc_path(0);
  return v;
}

const Case kShapes[] = {
    {false, false, 1, 1, 1},        {false, false, 7, 13, 1},   {false, false, 1, 97, 7},
    {false, false, 97, 1, 13},      {false, false, 13, 7, 97},  {false, false, 100, 300, 33},
    {false, false, 200, 40, 515},   {false, false, 3, 5, 257},  {false, false, 2, 65, 2100},  // split-k
    {false, false, 150, 270, 260},  // more than one tile each way, k over one block
};

ADVPROP_NATIVE_TEST(gemm_tc_cpu_matches_f64_reference) {
  uint32_t seed = 10;
  for (int path : paths()) {
    cpu::set_gemm_tc_path(path);
    for (Mode md : kModes)
      for (Case cs : kShapes)
        for (int t = 0; t < 4; ++t) {
          cs.ta = t & 1, cs.tb = t & 2;
          const Problem p = make_problem(cs, md, seed += 3);
          check_reference(p, md, run_cpu(p), describe(cs, md) + " path " + std::to_string(path), false, __FILE__, __LINE__);
        }
  }
  cpu::set_gemm_tc_path(0);
}

ADVPROP_NATIVE_TEST(gemm_tc_cpu_padding_alpha_beta) {
  const double ab[][2] = {{1.0, 0.0}, {-0.5, 0.0}, {1.0, 1.0}, {2.0, -0.75}, {0.0, 0.5}};
  uint32_t seed = 300;
  for (int path : paths()) {
    cpu::set_gemm_tc_path(path);
    for (Mode md : kModes)
      for (int t = 0; t < 4; ++t)
        for (const auto& v : ab) {
          const Case cs{(t & 1) != 0, (t & 2) != 0, 13, 37, 29, 3, 5, 2, v[0], v[1]};
          const Problem p = make_problem(cs, md, seed += 3);
          check_reference(p, md, run_cpu(p), describe(cs, md), false, __FILE__, __LINE__);
        }
  }
  cpu::set_gemm_tc_path(0);
}

// Small integers: every partial sum is exact in f32, so the result is the reference rounded once.
ADVPROP_NATIVE_TEST(gemm_tc_cpu_exact_on_integers) {
  uint32_t seed = 500;
  for (int path : paths()) {
    cpu::set_gemm_tc_path(path);
    for (Mode md : kModes)
      for (int t = 0; t < 4; ++t) {
        const Case cases[] = {{(t & 1) != 0, (t & 2) != 0, 37, 41, 301, 1, 2, 3, 0.5, 0.25},
                              {(t & 1) != 0, (t & 2) != 0, 5, 3, 2049, 0, 0, 0, 1.0, 0.0}};  // split-k
        for (const Case& cs : cases) {
          const Problem p = make_problem(cs, md, seed += 3, true);
          check_reference(p, md, run_cpu(p), describe(cs, md) + " integers", true, __FILE__, __LINE__);
        }
      }
  }
  cpu::set_gemm_tc_path(0);
}

ADVPROP_NATIVE_TEST(gemm_tc_cpu_k_zero_and_empty) {
  for (Mode md : kModes) {
    const Problem p0 = make_problem(Case{false, false, 5, 9, 0, 0, 0, 1, 1.0, 0.0}, md, 900);  // C = 0 over NaN
    check_reference(p0, md, run_cpu(p0), "k=0 beta=0", true, __FILE__, __LINE__);
    const Problem p1 = make_problem(Case{false, true, 5, 9, 0, 0, 0, 1, 1.0, 0.5}, md, 901);  // C = beta * C
    check_reference(p1, md, run_cpu(p1), "k=0 beta=0.5", true, __FILE__, __LINE__);
    const Problem p2 = make_problem(Case{true, false, 0, 9, 4}, md, 902);
    EXPECT(same_bits(run_cpu(p2), p2.c0));
  }
}

ADVPROP_NATIVE_TEST(gemm_tc_cpu_same_bits_on_every_isa_and_run) {
  const Case cases[] = {{false, true, 61, 45, 203, 1, 0, 2, 1.5, 0.5}, {true, false, 7, 9, 2500}};
  uint32_t seed = 700;
  for (Mode md : kModes)
    for (const Case& cs : cases) {
      const Problem p = make_problem(cs, md, seed += 3);
      cpu::set_gemm_tc_path(1);
      Tensor want;
      int levels = 0;
      for (int level = 1; level <= 3; ++level) {
        if (!cpu::set_gemm_tc_isa(level)) continue;
        ++levels;
        const Tensor got = run_cpu(p);
        if (!want.defined()) want = got;
        else EXPECT_MSG(same_bits(got, want), describe(cs, md) + ": ISA level " + std::to_string(level) + " differs");
      }
      cpu::set_gemm_tc_isa(0);
      cpu::set_gemm_tc_path(0);
      EXPECT(levels >= 1);
      EXPECT_MSG(same_bits(run_cpu(p), run_cpu(p)), describe(cs, md) + ": two runs differ");
    }
}

// AVX512-BF16 against the portable loop (gemm_tc.cc): with no subnormal in sight the same
// bits on Intel's vdpbf16ps (reported, not required: only the bound is the contract); always
// within 2 gamma_k S + 2k 2^-126 before the bf16 rounding, one bf16 ulp after it.
ADVPROP_NATIVE_TEST(gemm_tc_cpu_bf16_dot_matches_portable) {
  if (!cpu::set_gemm_tc_path(2)) {
    std::printf("       gemm_tc_cpu_bf16_dot_matches_portable skipped: this CPU (or build) has no AVX512-BF16\n");
    return;
  }
  cpu::set_gemm_tc_path(0);
  const Case cases[] = {{false, false, 100, 300, 33}, {true, true, 31, 70, 515, 1, 3, 0, 2.0, -0.5}, {false, true, 2, 65, 2100}};
  uint32_t seed = 1100;
  int64_t equal = 0, total = 0;
  for (int subnormal = 0; subnormal < 2; ++subnormal)
    for (const Case& cs : cases) {
      Problem p = make_problem(cs, Mode::bf16, seed += 3);
      if (subnormal)  // operands near 2^-64, so products and partial sums are subnormal in f32
        for (Tensor* t : {&p.a, &p.b})
          for (int64_t i = 0; i < t->numel(); ++i) test::lowp::put(*t, i, elem(*t, i) * 0x1p-64);
      cpu::set_gemm_tc_path(1);
      const Tensor portable = run_cpu(p);
      cpu::set_gemm_tc_path(2);
      const Tensor dot = run_cpu(p);
      cpu::set_gemm_tc_path(0);
      const Reference r = reference(p, Mode::bf16);
      const double gm = static_cast<double>(cs.k) * 0x1p-24, flush = 2.0 * static_cast<double>(cs.k) * 0x1p-126;
      int64_t bad = 0;
      for (int64_t i = 0; i < dot.numel(); ++i) {
        if (!inside_c(p.g, i)) continue;
        const double x = elem(portable, i), y = elem(dot, i);
        if (!subnormal) ++total, equal += x == y;
        if (!(std::fabs(x - y) <= 2 * gm * r.scale[i] + std::fabs(cs.alpha) * flush + 0x1p-8 * (std::fabs(x) + std::fabs(y))))
          ++bad;
      }
      EXPECT_MSG(bad == 0, describe(cs, Mode::bf16) + (subnormal ? " subnormal" : "") + ": " + std::to_string(bad) +
                               " elements beyond the bound");
      if (!subnormal) check_reference(p, Mode::bf16, dot, describe(cs, Mode::bf16) + " dot", false, __FILE__, __LINE__);
    }
  std::printf("       AVX512-BF16 vs portable, normal range: %lld of %lld elements bit-identical\n", static_cast<long long>(equal),
              static_cast<long long>(total));
}

ADVPROP_NATIVE_TEST(gemm_tc_cpu_argument_errors) {
  GemmArgs g;
  g.m = 3, g.n = 4, g.k = 5, g.lda = 5, g.ldb = 4, g.ldc = 4;
  const Device cpu{};
  Tensor a = Tensor::empty({15}, DType::bf16, cpu), b = Tensor::empty({20}, DType::bf16, cpu),
         c = Tensor::empty({12}, DType::bf16, cpu);
  check_gemm_args(g, a, b, c, DeviceType::cpu);  // valid
  Tensor c32 = Tensor::empty({12}, DType::f32, cpu), bh = Tensor::empty({20}, DType::f16, cpu);
  EXPECT_THROWS(check_gemm_args(g, a, b, c32, DeviceType::cpu), ErrorCode::DType);
  EXPECT_THROWS(check_gemm_args(g, a, bh, c, DeviceType::cpu), ErrorCode::DType);
  GemmArgs t = g;
  t.tf32 = true;  // tf32 is for f32 operands only
  EXPECT_THROWS(check_gemm_args(t, a, b, c, DeviceType::cpu), ErrorCode::DType);
  Tensor a64 = Tensor::empty({15}, DType::f64, cpu), b64 = Tensor::empty({20}, DType::f64, cpu),
         c64 = Tensor::empty({12}, DType::f64, cpu);
  EXPECT_THROWS(check_gemm_args(t, a64, b64, c64, DeviceType::cpu), ErrorCode::DType);
  try {
    check_gemm_args(t, a, b, c, DeviceType::cpu);
  } catch (const Error& e) {
    EXPECT_MSG(std::string(e.what()).find("tf32") != std::string::npos, e.what());
  }
  Tensor small = Tensor::empty({11}, DType::bf16, cpu);
  EXPECT_THROWS(check_gemm_args(g, a, b, small, DeviceType::cpu), ErrorCode::Shape);
}

}  // namespace
}  // namespace advprop
