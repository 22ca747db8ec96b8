// cudasim::gemm (native/cuda/gemm.cu run by cuda-sim) against a naive f64 triple loop computed
// here, on awkward shapes (1, primes, m or n = 1, not multiples of the 64 x 64 x 16 tiles), all
// transpose combinations, padded leading dimensions, alpha/beta variants, beta = 0 over NaN, a
// few EfficientNet-B0 1x1 convolution shapes, and the argument checks. The simulator is slow, so
// the shapes stay small.
#if ADVPROP_WITH_SIM
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/gemm.h"
#include "advprop/random.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};
const Device kSim{DeviceType::cuda_sim, 0};


using test::to_cpu;
using test::to_sim;

Tensor random_cpu(int64_t n, DType dt, uint64_t seed) {
  Tensor t = Tensor::empty({n}, dt, kCpu);
  cpu::uniform(t, seed, 0, -1.0, 1.0);
  return t;
}

struct Case {
  bool ta, tb;
  int64_t m, n, k;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra elements per stored row
  double alpha = 1.0, beta = 0.0;
};

std::string describe(const Case& c, DType dt) {
  return std::string("gemm ") + dtype_name(dt) + " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) +
         " k=" + std::to_string(c.k) + (c.ta ? " ta" : "") + (c.tb ? " tb" : "") + " pads=" +
         std::to_string(c.pad_a) + "," + std::to_string(c.pad_b) + "," + std::to_string(c.pad_c) +
         " alpha=" + test::describe_double(c.alpha) + " beta=" + test::describe_double(c.beta);
}

GemmArgs args_for(const Case& c) {
  GemmArgs g;
  g.trans_a = c.ta;
  g.trans_b = c.tb;
  g.m = c.m;
  g.n = c.n;
  g.k = c.k;
  g.lda = (c.ta ? c.m : c.k) + c.pad_a;
  g.ldb = (c.tb ? c.k : c.n) + c.pad_b;
  g.ldc = c.n + c.pad_c;
  g.alpha = c.alpha;
  g.beta = c.beta;
  return g;
}

int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

// Runs one case on cuda-sim and checks every element of C, including the padding between rows
// (which must be left untouched), against the f64 reference.
void check_case(const Case& cs, DType dt, uint64_t seed) {
  const GemmArgs g = args_for(cs);
  const int64_t na = std::max<int64_t>(1, cs.ta ? span(cs.k, cs.m, g.lda) : span(cs.m, cs.k, g.lda));
  const int64_t nb = std::max<int64_t>(1, cs.tb ? span(cs.n, cs.k, g.ldb) : span(cs.k, cs.n, g.ldb));
  const int64_t nc = std::max<int64_t>(1, cs.m * g.ldc);
  const Tensor a = random_cpu(na, dt, seed), b = random_cpu(nb, dt, seed + 1);
  Tensor c0 = random_cpu(nc, dt, seed + 2);
  if (cs.beta == 0.0)  // write-only: old NaNs must not leak into the result
    for (int64_t i = 0; i < nc; ++i) test::set(c0, i, std::nan(""));
  std::vector<double> want(nc), scale(nc, 0.0);
  for (int64_t i = 0; i < nc; ++i) want[i] = test::get(c0, i);
  for (int64_t i = 0; i < cs.m; ++i)
    for (int64_t j = 0; j < cs.n; ++j) {
      double s = 0, sa = 0;
      for (int64_t p = 0; p < cs.k; ++p) {
        const double x = test::get(a, cs.ta ? p * g.lda + i : i * g.lda + p);
        const double y = test::get(b, cs.tb ? j * g.ldb + p : p * g.ldb + j);
        s += x * y;
        sa += std::fabs(x * y);
      }
      const int64_t o = i * g.ldc + j;
      const double old = want[o];
      want[o] = cs.alpha * s + (cs.beta == 0.0 ? 0.0 : cs.beta * old);
      scale[o] = std::fabs(cs.alpha) * sa + (cs.beta == 0.0 ? 0.0 : std::fabs(cs.beta * old));
    }
  const Tensor da = to_sim(a), db = to_sim(b);
  Tensor dc = to_sim(c0);
  cudasim::gemm(g, da, db, dc);
  const Tensor got = to_cpu(dc);
  const double eps = dt == DType::f32 ? 1e-6 : 1e-14;
  const double tol = eps * (4.0 + static_cast<double>(cs.k));
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < nc; ++i) {
    const double gv = test::get(got, i), w = want[i];
    const bool inside = cs.m > 0 && cs.n > 0 && (i % g.ldc) < cs.n;
    bool ok;
    if (!inside) ok = (std::isnan(w) && std::isnan(gv)) || gv == w;  // padding untouched
    else ok = std::isfinite(gv) && std::fabs(gv - w) <= tol * (scale[i] + std::fabs(w)) + 1e-300;
    if (!ok && bad++ < 4)
      first += " [" + std::to_string(i) + "] got " + test::describe_double(gv) + " want " + test::describe_double(w) + ";";
  }
  if (bad)
    test::record_failure(__FILE__, __LINE__, describe(cs, dt) + ": " + std::to_string(bad) + " of " +
                                                 std::to_string(nc) + " elements off:" + first);
}

const DType kTypes[] = {DType::f32, DType::f64};

ADVPROP_NATIVE_TEST(cudasim_gemm_small_shapes_all_transposes) {
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 13, 1}, {1, 97, 7}, {97, 1, 13}, {13, 7, 97}, {65, 3, 17}, {2, 65, 33}};
  uint64_t seed = 100;
  for (DType dt : kTypes)
    for (const auto& s : shapes)
      for (int t = 0; t < 4; ++t) {
        Case c{(t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2]};
        check_case(c, dt, seed += 3);
      }
}

ADVPROP_NATIVE_TEST(cudasim_gemm_padded_leading_dims_alpha_beta) {
  uint64_t seed = 500;
  const double ab[][2] = {{1.0, 0.0}, {-0.5, 0.0}, {1.0, 1.0}, {2.0, -0.75}, {0.0, 0.5}};
  for (DType dt : kTypes)
    for (int t = 0; t < 4; ++t)
      for (const auto& v : ab) {
        Case c{(t & 1) != 0, (t & 2) != 0, 13, 97, 7, 3, 5, 2, v[0], v[1]};
        check_case(c, dt, seed += 3);
      }
  // Larger than one block tile in every direction, with k not a multiple of the 16-slice.
  for (int t = 0; t < 4; ++t) check_case(Case{(t & 1) != 0, (t & 2) != 0, 67, 71, 41, 1, 2, 3, 1.5, 0.25}, DType::f32, seed += 3);
}

ADVPROP_NATIVE_TEST(cudasim_gemm_k_zero_and_empty) {
  for (DType dt : kTypes) {
    check_case(Case{false, false, 5, 9, 0, 0, 0, 0, 1.0, 0.0}, dt, 900);   // C = 0 (over NaN)
    check_case(Case{false, true, 5, 9, 0, 0, 0, 1, 1.0, 0.5}, dt, 901);    // C = beta * C
    check_case(Case{true, false, 0, 9, 4}, dt, 902);                        // nothing
    check_case(Case{true, true, 6, 0, 4}, dt, 903);
  }
  // m = 0 with zero-size tensors: no launch, no throw.
  GemmArgs g;
  g.m = 0;
  g.n = 4;
  g.k = 3;
  g.lda = 3;
  g.ldb = 4;
  g.ldc = 4;
  Tensor a = Tensor::empty({0}, DType::f32, kSim), b = Tensor::empty({12}, DType::f32, kSim),
         c = Tensor::empty({0}, DType::f32, kSim);
  cudasim::gemm(g, a, b, c);
}

// 1x1 convolutions of EfficientNet-B0 as GEMMs at 4x4 spatial size, batch 2: [N*H*W, Cin] x
// [Cin, Cout] forward, and the two backward products (dX = dY W^T, dW = X^T dY).
ADVPROP_NATIVE_TEST(cudasim_gemm_efficientnet_1x1_shapes) {
  const int64_t convs[][2] = {{16, 96}, {40, 240}, {320, 1280}};
  const int64_t rows = 2 * 4 * 4;
  uint64_t seed = 1000;
  for (const auto& cv : convs) {
    const int64_t cin = cv[0], cout = cv[1];
    check_case(Case{false, false, rows, cout, cin}, DType::f32, seed += 3);
    check_case(Case{false, true, rows, cin, cout}, DType::f32, seed += 3);
    check_case(Case{true, false, cin, cout, rows, 0, 0, 0, 1.0, 1.0}, DType::f32, seed += 3);
  }
  check_case(Case{false, false, rows, 96, 16}, DType::f64, seed += 3);
}

// Few output tiles and a long k take the split-k path (partials, then an ordered reduction):
// weight-gradient shapes, alpha/beta and padded C included, and the split result is repeatable.
ADVPROP_NATIVE_TEST(cudasim_gemm_split_k_weight_gradients) {
  uint64_t seed = 2000;
  check_case(Case{true, false, 32, 27, 4099}, DType::f32, seed += 3);                     // stem dW
  check_case(Case{true, false, 16, 96, 2048}, DType::f32, seed += 3);                     // expand dW
  check_case(Case{false, true, 70, 66, 3001, 0, 0, 5, 2.0, -0.5}, DType::f32, seed += 3);  // 4 tiles, beta
  check_case(Case{true, true, 9, 5, 2500}, DType::f64, seed += 3);
  const Case cs{true, false, 24, 40, 6000};
  const GemmArgs g = args_for(cs);
  const Tensor a = to_sim(random_cpu(6000 * 24, DType::f32, 9)), b = to_sim(random_cpu(6000 * 40, DType::f32, 10));
  Tensor c1 = Tensor::empty({24 * 40}, DType::f32, kSim), c2 = Tensor::empty({24 * 40}, DType::f32, kSim);
  cudasim::gemm(g, a, b, c1);
  cudasim::gemm(g, a, b, c2);
  const Tensor h1 = to_cpu(c1), h2 = to_cpu(c2);
  EXPECT(std::memcmp(h1.data(), h2.data(), h1.nbytes()) == 0);
}

ADVPROP_NATIVE_TEST(cudasim_gemm_deterministic) {
  const Case cs{true, false, 70, 66, 45};
  const GemmArgs g = args_for(cs);
  const Tensor a = to_sim(random_cpu(45 * 70, DType::f32, 7)), b = to_sim(random_cpu(45 * 66, DType::f32, 8));
  Tensor c1 = Tensor::empty({70 * 66}, DType::f32, kSim), c2 = Tensor::empty({70 * 66}, DType::f32, kSim);
  cudasim::gemm(g, a, b, c1);
  cudasim::gemm(g, a, b, c2);
  const Tensor h1 = to_cpu(c1), h2 = to_cpu(c2);
  EXPECT(std::memcmp(h1.data(), h2.data(), h1.nbytes()) == 0);
}

ADVPROP_NATIVE_TEST(cudasim_gemm_argument_errors) {
  GemmArgs g;
  g.m = 3;
  g.n = 4;
  g.k = 5;
  g.lda = 5;
  g.ldb = 4;
  g.ldc = 4;
  Tensor a = Tensor::empty({15}, DType::f32, kSim), b = Tensor::empty({20}, DType::f32, kSim),
         c = Tensor::empty({12}, DType::f32, kSim);
  cudasim::gemm(g, a, b, c);  // the valid baseline
  // gemm is backend-internal: the front-ends build its arguments, the kernel asserts the validator.
  Tensor c_small = Tensor::empty({11}, DType::f32, kSim);
  EXPECT_THROWS(cudasim::gemm(g, a, b, c_small), ErrorCode::Internal);
  Tensor b64 = Tensor::empty({20}, DType::f64, kSim), c64 = Tensor::empty({12}, DType::f64, kSim);
  EXPECT_THROWS(check_gemm_args(g, a, b64, c, DeviceType::cuda_sim), ErrorCode::DType);
  EXPECT_THROWS(check_gemm_args(g, a, b, c64, DeviceType::cuda_sim), ErrorCode::DType);
  Tensor ai = Tensor::empty({15}, DType::i32, kSim), bi = Tensor::empty({20}, DType::i32, kSim),
         ci = Tensor::empty({12}, DType::i32, kSim);
  EXPECT_THROWS(check_gemm_args(g, ai, bi, ci, DeviceType::cuda_sim), ErrorCode::DType);
  Tensor small = Tensor::empty({11}, DType::f32, kSim);
  EXPECT_THROWS(check_gemm_args(g, small, b, c, DeviceType::cuda_sim), ErrorCode::Shape);
  EXPECT_THROWS(check_gemm_args(g, a, small, c, DeviceType::cuda_sim), ErrorCode::Shape);
  EXPECT_THROWS(check_gemm_args(g, a, b, small, DeviceType::cuda_sim), ErrorCode::Shape);
  {
    GemmArgs t = g;
    t.trans_a = true;  // A^T stored [5, 3]: lda 5 > 3 columns needs 4 * 5 + 3 = 23 elements
    EXPECT_THROWS(check_gemm_args(t, a, b, c, DeviceType::cuda_sim), ErrorCode::Shape);
  }
  for (int which = 0; which < 6; ++which) {
    GemmArgs t = g;
    int64_t* f[] = {&t.m, &t.n, &t.k, &t.lda, &t.ldb, &t.ldc};
    *f[which] = -1;
    EXPECT_THROWS(check_gemm_args(t, a, b, c, DeviceType::cuda_sim), ErrorCode::Shape);
  }
  {
    GemmArgs t = g;
    t.lda = 4;  // fewer than k = 5 columns
    EXPECT_THROWS(check_gemm_args(t, a, b, c, DeviceType::cuda_sim), ErrorCode::Shape);
  }
  Tensor host_b = Tensor::empty({20}, DType::f32, kCpu);
  EXPECT_THROWS(check_gemm_args(g, a, host_b, c, DeviceType::cuda_sim), ErrorCode::Device);
  Tensor host_a = Tensor::empty({15}, DType::f32, kCpu), host_c = Tensor::empty({12}, DType::f32, kCpu);
  EXPECT_THROWS(check_gemm_args(g, host_a, host_b, host_c, DeviceType::cuda_sim), ErrorCode::Device);
  {
    Tensor big = Tensor::empty({40}, DType::f32, kSim);
    const Tensor a_view = big.slice0(0, 15), c_view = big.slice0(10, 12);  // overlapping
    Tensor c_out = c_view;
    EXPECT_THROWS(check_gemm_args(g, a_view, b, c_out, DeviceType::cuda_sim), ErrorCode::Arg);
    Tensor c_apart = big.slice0(20, 12);
    cudasim::gemm(g, a_view, b, c_apart);  // same storage, disjoint ranges: fine
  }
  try {
    check_gemm_args(g, small, b, c, DeviceType::cuda_sim);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_MSG(msg.find("m=3") != std::string::npos && msg.find("n=4") != std::string::npos &&
                   msg.find("k=5") != std::string::npos,
               msg);
  }
}

// cuda-sim and the CPU kernel (native/cpu/gemm.cc) agree within rounding: both sum over k in
// order, but block differently and may or may not fuse multiply-adds.
ADVPROP_NATIVE_TEST(cudasim_gemm_matches_cpu_gemm) {
  const Case cases[] = {{false, false, 33, 70, 19, 0, 0, 0, 1.0, 0.0},
                        {true, false, 17, 65, 300, 2, 1, 3, -1.5, 0.5},
                        {false, true, 97, 13, 129, 1, 0, 0, 0.5, 1.0},
                        {true, true, 5, 129, 31, 0, 4, 1, 2.0, -1.0}};
  uint64_t seed = 4000;
  for (DType dt : kTypes)
    for (const Case& cs : cases) {
      const GemmArgs g = args_for(cs);
      const int64_t na = cs.ta ? span(cs.k, cs.m, g.lda) : span(cs.m, cs.k, g.lda);
      const int64_t nb = cs.tb ? span(cs.n, cs.k, g.ldb) : span(cs.k, cs.n, g.ldb);
      const int64_t nc = cs.m * g.ldc;
      const Tensor a = random_cpu(na, dt, seed += 3), b = random_cpu(nb, dt, seed += 3);
      Tensor ref = random_cpu(nc, dt, seed += 3);
      Tensor dc = to_sim(ref);
      cudasim::gemm(g, to_sim(a), to_sim(b), dc);
      cpu::gemm(g, a, b, ref);
      const Tensor got = to_cpu(dc);
      const double tol = (dt == DType::f32 ? 1e-6 : 1e-14) * (4.0 + static_cast<double>(cs.k));
      int64_t bad = 0;
      double scale = 0;
      for (int64_t i = 0; i < nc; ++i) scale = std::max(scale, std::fabs(test::get(ref, i)));
      for (int64_t i = 0; i < nc; ++i)
        if (!(std::fabs(test::get(got, i) - test::get(ref, i)) <= tol * scale)) ++bad;
      EXPECT_MSG(bad == 0, describe(cs, dt) + ": " + std::to_string(bad) + " elements differ from cpu::gemm");
    }
}

}  // namespace
}  // namespace advprop
#endif  // ADVPROP_WITH_SIM
