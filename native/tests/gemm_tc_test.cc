// The tensor-core GEMM (native/cuda/gemm_tc.cu) on cuda-sim, in bf16, f16 and tf32: bit for bit
// against the f64 reference on small-integer operands (every sum exact, so any layout or
// indexing slip shows), against the cpu twin (native/cpu/gemm_tc.cc) on random operands within
// the bound between backends (gemm_tc_util.h: the f32 sums may differ by 2 gamma S, the final
// 16-bit rounding by one ulp where they straddle a boundary), over the four transposes, shapes
// of 1, non-multiples of 8, 16 and the tiles, tall and skinny products, both tile widths, padded
// and misaligned rows (the element-wise load path), alpha/beta, k = 0 and split-k; repeated runs
// and the choice of tile give the same bits. Also cvt.rna.tf32 on cuda-sim against the cpu's
// round_to_tf32. The simulator runs each mma as a warp collective, so shapes stay small. Every
// test runs on cuda-sim, and on the GPU too when one of compute capability 8.0 or newer is
// present (the bounds hold for the tensor cores' own summation; tensor_core_test.cc), printing
// why it skipped otherwise.
#if ADVPROP_WITH_SIM || ADVPROP_WITH_CUDA
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "advprop/gemm.h"
#include "advprop/device.h"
#include "advprop/ops.h"
#include "advprop/tensor_core_check.h"
#include "gemm_tc_util.h"
#include "harness.h"

namespace advprop {
namespace {

using namespace test::lowp;

const Device kCpu{}, kSim{DeviceType::cuda_sim, 0}, kGpu{DeviceType::cuda, 0};

Tensor copy_to(const Tensor& t, const Device& d) { return ops::to_device(t, d); }

void device_gemm(const Device& d, const GemmArgs& g, const Tensor& a, const Tensor& b, Tensor& c) {
#if ADVPROP_WITH_CUDA
  if (d.type == DeviceType::cuda) return cuda::gemm(g, a, b, c);
#endif
#if ADVPROP_WITH_SIM
  if (d.type == DeviceType::cuda_sim) return cudasim::gemm(g, a, b, c);
#endif
  (void)g, (void)a, (void)b, (void)c;
  fail(ErrorCode::Internal, "gemm_tc_test: no gemm for " + device_str(d));
}

// body(device) on cuda-sim, and on the GPU when it can run the tensor-core kernels.
void on_devices(const char* test, const std::function<void(const Device&)>& body) {
#if ADVPROP_WITH_SIM
  body(kSim);
#endif
#if ADVPROP_WITH_CUDA
  if (!device_available(DeviceType::cuda))
    std::printf("       %s skipped on cuda: %s\n", test, backend(DeviceType::cuda).unavailable_reason().c_str());
  else if (!cuda::tensor_cores_usable(0))
    std::printf("       %s skipped on cuda: device 0 is older than compute capability 8.0\n", test);
  else
    body(kGpu);
#else
  std::printf("       %s skipped on cuda: built without CUDA\n", test);
#endif
}

// Runs the problem on device d; `offset` elements of slack before each operand's data make its
// rows misaligned (the element-wise load path) when odd.
Tensor run_on(const Device& d, const Problem& p, int64_t offset = 0) {
  auto place = [&](const Tensor& host) {
    if (!offset) return copy_to(host, d);
    Tensor big = Tensor::empty({host.numel() + offset}, host.dtype(), d);
    Tensor view = big.slice0(offset, host.numel());
    backend(d.type).copy_from_host(view.data(), host.data(), host.nbytes(), d.index);
    return view;
  };
  const Tensor a = place(p.a), b = place(p.b);
  Tensor c = copy_to(p.c0, d);
  device_gemm(d, p.g, a, b, c);
  return copy_to(c, kCpu);
}

Tensor run_cpu(const Problem& p) {
  Tensor c = Tensor::empty(p.c0.shape(), p.c0.dtype(), kCpu);
  std::memcpy(c.data(), p.c0.data(), p.c0.nbytes());
  cpu::gemm(p.g, p.a, p.b, c);
  return c;
}

// Shapes around the 16 x 8 mma, the 128 x 64 / 128 x 128 tiles and the 64-byte k slice.
const Case kLayoutShapes[] = {
    {false, false, 1, 1, 1}, {false, false, 5, 3, 7}, {false, false, 17, 9, 33}, {false, false, 33, 70, 40},
    {false, false, 130, 20, 19},
};

ADVPROP_NATIVE_TEST(gemm_tc_exact_on_integers) {
  on_devices("gemm_tc_exact_on_integers", [](const Device& d) {
    uint32_t seed = 20;
    for (Mode md : kModes)
      for (Case cs : kLayoutShapes)
        for (int t = 0; t < 4; ++t) {
          cs.ta = t & 1, cs.tb = t & 2;
          const Problem p = make_problem(cs, md, seed += 3, true);
          check_reference(p, md, run_on(d, p), device_str(d) + " " + describe(cs, md) + " integers", true, __FILE__,
                          __LINE__);
        }
  });
}

// Random operands against the cpu twin, and against the reference.
void twin_case(const Device& d, const Case& cs, Mode md, uint32_t seed, int64_t offset = 0) {
  const Problem p = make_problem(cs, md, seed);
  const Tensor got = run_on(d, p, offset), want = run_cpu(p);
  const std::string what = device_str(d) + " " + describe(cs, md) + (offset ? " offset " + std::to_string(offset) : "");
  check_between(p, md, got, want, what + " vs cpu", __FILE__, __LINE__);
  check_reference(p, md, got, what + " vs f64", false, __FILE__, __LINE__);
}

ADVPROP_NATIVE_TEST(gemm_tc_matches_cpu_twin) {
  const Case shapes[] = {
      {false, false, 7, 13, 1},   {false, false, 1, 97, 24}, {false, false, 97, 1, 40},
      {false, false, 75, 66, 45}, {false, false, 200, 6, 32},  // tall and skinny
      {false, false, 3, 150, 70},                              // short and wide (two 128-wide tiles)
  };
  on_devices("gemm_tc_matches_cpu_twin", [&](const Device& d) {
    uint32_t seed = 100;
    for (Mode md : kModes)
      for (Case cs : shapes)
        for (int t = 0; t < 4; ++t) {
          cs.ta = t & 1, cs.tb = t & 2;
          twin_case(d, cs, md, seed += 3);
        }
  });
}

// Padded rows: aligned (pads of 8 elements) and not (odd pads: element-wise loads), alpha/beta,
// and misaligned views of aligned rows.
ADVPROP_NATIVE_TEST(gemm_tc_padding_alpha_beta_alignment) {
  const double ab[][2] = {{1.0, 0.0}, {-0.5, 0.0}, {1.0, 1.0}, {2.0, -0.75}, {0.0, 0.5}};
  on_devices("gemm_tc_padding_alpha_beta_alignment", [&](const Device& d) {
    uint32_t seed = 300;
    for (Mode md : kModes)
      for (int t = 0; t < 4; ++t) {
        for (int v = 0; v < 5; ++v) {
          const int64_t pad = v % 2 ? 3 : 8;
          twin_case(d, Case{(t & 1) != 0, (t & 2) != 0, 21, 35, 29, pad, pad, 1 + v, ab[v][0], ab[v][1]}, md, seed += 3);
        }
        twin_case(d, Case{(t & 1) != 0, (t & 2) != 0, 24, 16, 40, 0, 0, 0, 1.5, 0.25}, md, seed += 3, 1);
      }
  });
}

ADVPROP_NATIVE_TEST(gemm_tc_split_k) {
  on_devices("gemm_tc_split_k", [](const Device& d) {
    uint32_t seed = 500;
    // Weight-gradient-like (A transposed, k long), few tiles: k is split, partials summed in order.
    twin_case(d, Case{true, false, 20, 24, 1500}, Mode::bf16, seed += 3);
    twin_case(d, Case{false, true, 9, 70, 1100, 0, 0, 3, 2.0, -0.5}, Mode::tf32, seed += 3);
    twin_case(d, Case{true, true, 5, 3, 1037, 1, 1, 0, 1.0, 1.0}, Mode::f16, seed += 3);
    // Integers: exact, so the split sums must give the reference's bits.
    const Problem p = make_problem(Case{true, false, 17, 10, 2049, 0, 0, 0, 0.5, 0.0}, Mode::bf16, 7, true);
    check_reference(p, Mode::bf16, run_on(d, p), device_str(d) + " split-k integers", true, __FILE__, __LINE__);
    const Problem q = make_problem(Case{true, false, 20, 24, 1500}, Mode::bf16, 8);
    EXPECT_MSG(same_bits(run_on(d, q), run_on(d, q)), device_str(d) + " split-k: two runs differ");
  });
}

ADVPROP_NATIVE_TEST(gemm_tc_k_zero) {
  on_devices("gemm_tc_k_zero", [](const Device& d) {
    for (Mode md : kModes) {
      const Problem p0 = make_problem(Case{false, false, 5, 9, 0, 0, 0, 1, 1.0, 0.0}, md, 900);  // C = 0 over NaN
      check_reference(p0, md, run_on(d, p0), device_str(d) + " k=0 beta=0", true, __FILE__, __LINE__);
      const Problem p1 = make_problem(Case{false, true, 5, 9, 0, 0, 0, 1, 1.0, 0.5}, md, 901);  // C = beta * C
      check_reference(p1, md, run_on(d, p1), device_str(d) + " k=0 beta=0.5", true, __FILE__, __LINE__);
    }
  });
}

// Repeated runs give the same bits, and so does the other tile width: columns 0-63 of an n = 65
// product (128 x 128 tiles) equal an n = 64 product of the same operands (128 x 64 tiles).
ADVPROP_NATIVE_TEST(gemm_tc_deterministic_across_runs_and_tiles) {
  on_devices("gemm_tc_deterministic_across_runs_and_tiles", [](const Device& d) {
    uint32_t seed = 600;
    for (Mode md : kModes)
      for (int t = 0; t < 4; ++t) {
        const Case wide{(t & 1) != 0, (t & 2) != 0, 40, 65, 50, 0, t & 2 ? 0 : 8, 0, 1.0, 0.0};
        const Problem p = make_problem(wide, md, seed += 3);
        const Tensor c1 = run_on(d, p), c2 = run_on(d, p);
        EXPECT_MSG(same_bits(c1, c2), device_str(d) + " " + describe(wide, md) + ": two runs differ");
        Problem narrow = p;
        narrow.g.n = 64;  // same operands, same ldb; C keeps its ldc of 65
        const Tensor c3 = run_on(d, narrow);
        int64_t diff = 0;
        for (int64_t i = 0; i < 40; ++i)
          for (int64_t j = 0; j < 64; ++j) diff += elem(c3, i * 65 + j) != elem(c1, i * 65 + j);
        EXPECT_MSG(diff == 0, device_str(d) + " " + describe(wide, md) + ": " + std::to_string(diff) +
                                  " elements differ between tile widths");
      }
  });
}

ADVPROP_NATIVE_TEST(gemm_tc_argument_errors) {
  on_devices("gemm_tc_argument_errors", [](const Device& d) {
    GemmArgs g;
    g.m = 3, g.n = 4, g.k = 5, g.lda = 5, g.ldb = 4, g.ldc = 4;
    Tensor a = Tensor::empty({15}, DType::f16, d), b = Tensor::empty({20}, DType::f16, d),
           c = Tensor::empty({12}, DType::f16, d);
    device_gemm(d, g, a, b, c);  // valid
    Tensor cb = Tensor::empty({12}, DType::bf16, d);
    EXPECT_THROWS(check_gemm_args(g, a, b, cb, d.type), ErrorCode::DType);
    EXPECT_THROWS(device_gemm(d, g, a, b, cb), ErrorCode::Internal);  // the kernel asserts the validator
    GemmArgs t = g;
    t.tf32 = true;
    EXPECT_THROWS(check_gemm_args(t, a, b, c, d.type), ErrorCode::DType);
    Tensor host = Tensor::empty({20}, DType::f16, kCpu);
    EXPECT_THROWS(check_gemm_args(g, a, host, c, d.type), ErrorCode::Device);
  });
}

#if ADVPROP_WITH_SIM
// cvt.rna.tf32.f32 as cuda-sim executes it (ptx::f32_to_tf32) against half.h's round_to_tf32,
// which the cpu twin rounds with: ties, carries into the exponent, the largest values, inf, NaN.
ADVPROP_NATIVE_TEST(cudasim_tf32_rounding_matches_cpu) {
  std::vector<float> x;
  const uint32_t patterns[] = {0x3f800000u, 0x3f801000u, 0x3f800fffu, 0x3f803000u, 0xbf801000u, 0x3fffffffu,
                               0x7f7fffffu, 0x7f7ff000u, 0x7f7fefffu, 0x00000001u, 0x00801000u, 0x7f800000u,
                               0xff800000u, 0x7fc00001u, 0xffc00000u, 0x80000000u};
  for (uint32_t u : patterns) {
    float f;
    std::memcpy(&f, &u, 4);
    x.push_back(f);
  }
  uint32_t s = 12345;
  while (x.size() < 4096) {
    s = s * 1664525u + 1013904223u;
    float f;
    std::memcpy(&f, &s, 4);
    x.push_back(f);
  }
  const std::vector<uint32_t> got = cudasim::check_conversions(0, x);
  int64_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float r = round_to_tf32(x[i]);
    uint32_t want;
    std::memcpy(&want, &r, 4);
    // Words per pair: tf32 of the first, of the second, then the two packings.
    if (got[4 * (i / 2) + i % 2] != want && bad++ < 4)
      test::record_failure(__FILE__, __LINE__, "tf32 of " + test::describe_double(x[i]) + ": cuda-sim " +
                                                   std::to_string(got[4 * (i / 2) + i % 2]) + ", cpu " + std::to_string(want));
  }
}
#endif

}  // namespace
}  // namespace advprop
#endif  // ADVPROP_WITH_SIM || ADVPROP_WITH_CUDA
