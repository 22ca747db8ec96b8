// PGD step, random start and dropout kernels (advprop/attack.h, dropout.h) on cpu and cuda-sim
// under the sanitizers: the two backends agree bit for bit on awkward sizes (samples that are
// not a multiple of the 1024-element sum chunk, odd D that rules out the float4 path), the L2
// results stay in the ball, drop-connect with a residual equals drop-connect then add, and the
// front-ends refuse bad arguments.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/attack.h"
#include "advprop/dropout.h"
#include "advprop/ops.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

using test::get;

const Device kCpu{};

Tensor uniform_cpu(const Shape& s, DType dt, uint64_t seed, double lo, double hi) {
  return ops::uniform(s, dt, kCpu, seed, 0, lo, hi);
}

void expect_same(const std::string& what, const Tensor& a, const Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  int64_t bad = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = get(a, i), y = get(b, i);
    if (!(x == y) && !(std::isnan(x) && std::isnan(y))) ++bad;
  }
  EXPECT_MSG(bad == 0, what + ": " + std::to_string(bad) + " of " + std::to_string(a.numel()) + " elements differ");
}

const std::vector<Shape> kShapes = {{3, 1029}, {2, 5, 7, 3}, {1, 1}, {4, 2048}, {5, 9}};

ADVPROP_NATIVE_TEST(attack_pgd_step_cpu_equals_sim) {
  for (DType dt : {DType::f32, DType::f64})
    for (const Shape& s : kShapes)
      for (AttackNorm norm : {AttackNorm::linf, AttackNorm::l2}) {
        Tensor x = uniform_cpu(s, dt, 1, 0, 1), xa = uniform_cpu(s, dt, 2, 0, 1), g = uniform_cpu(s, dt, 3, -1, 1);
        PgdArgs a;
        a.norm = norm;
        a.eps = norm == AttackNorm::linf ? 0.03 : 0.5;
        a.alpha = 0.01;
        Tensor eps_t = uniform_cpu({s[0]}, dt, 4, 0, 0.1);
        const std::string what = std::string(dtype_name(dt)) + " " + shape_str(s) + (norm == AttackNorm::l2 ? " l2" : " linf");
        Tensor want = ops::pgd_step(xa, g, x, a);
        Tensor got = test::to_cpu(ops::pgd_step(test::to_sim(xa), test::to_sim(g), test::to_sim(x), a));
        expect_same(what, got, want);
        PgdArgs ap = a;
        ap.eps_t = &eps_t;
        Tensor eps_sim = test::to_sim(eps_t);
        PgdArgs as = a;
        as.eps_t = &eps_sim;
        expect_same(what + " per-sample eps", test::to_cpu(ops::pgd_step(test::to_sim(xa), test::to_sim(g), test::to_sim(x), as)),
                    ops::pgd_step(xa, g, x, ap));
        if (norm == AttackNorm::l2) {
          const int64_t d = want.numel() / s[0];
          for (int64_t n = 0; n < s[0]; ++n) {
            double sq = 0;
            for (int64_t j = 0; j < d; ++j) sq += std::pow(get(want, n * d + j) - get(x, n * d + j), 2);
            // One rounding to the dtype per element: at most half an ulp of 1.
            const double slack = std::sqrt(double(d)) * (dt == DType::f32 ? 0x1p-24 : 0x1p-53);
            EXPECT_MSG(std::sqrt(sq) <= 0.5 * (1 + 1e-12) + slack, what + " sample " + std::to_string(n) + " left the ball");
          }
        }
      }
}

ADVPROP_NATIVE_TEST(attack_random_start_and_dropout_cpu_equals_sim) {
  for (DType dt : {DType::f32, DType::f64})
    for (const Shape& s : kShapes) {
      Tensor x = uniform_cpu(s, dt, 5, 0, 1);
      const std::string what = std::string(dtype_name(dt)) + " " + shape_str(s);
      for (AttackNorm norm : {AttackNorm::linf, AttackNorm::l2}) {
        PgdArgs a;
        a.norm = norm;
        a.eps = 0.25;
        expect_same(what + " random start", test::to_cpu(ops::pgd_random_start(test::to_sim(x), a, 11, 3)),
                    ops::pgd_random_start(x, a, 11, 3));
      }
      for (bool per_sample : {false, true})
        expect_same(what + (per_sample ? " dropConnect" : " dropout"),
                    test::to_cpu(ops::dropout(test::to_sim(x), 0.3, per_sample, 7, 1)), ops::dropout(x, 0.3, per_sample, 7, 1));
      Tensor r = uniform_cpu(s, dt, 6, -1, 1);
      Tensor fused = ops::drop_connect_add(x, r, 0.3, 7, 1);
      expect_same(what + " dropConnectAdd vs dropConnect + add", fused,
                  ops::binary(BinaryOp::add, ops::dropout(x, 0.3, true, 7, 1), r));
      expect_same(what + " dropConnectAdd", test::to_cpu(ops::drop_connect_add(test::to_sim(x), test::to_sim(r), 0.3, 7, 1)), fused);
    }
}

ADVPROP_NATIVE_TEST(attack_bad_arguments) {
  Tensor x = uniform_cpu({2, 3}, DType::f32, 1, 0, 1);
  PgdArgs a;
  a.eps = -1;
  EXPECT_THROWS(ops::pgd_step(x, x, x, a), ErrorCode::Arg);
  EXPECT_THROWS(ops::pgd_random_start(x, a, 0, 0), ErrorCode::Arg);
  a.eps = 0.1;
  a.lo = 1, a.hi = 0;
  EXPECT_THROWS(ops::pgd_step(x, x, x, a), ErrorCode::Arg);
  a.lo = 0, a.hi = 1;
  Tensor y = uniform_cpu({3, 2}, DType::f32, 1, 0, 1);
  EXPECT_THROWS(ops::pgd_step(x, y, x, a), ErrorCode::Shape);
  Tensor e3 = uniform_cpu({3}, DType::f32, 1, 0, 1);
  a.eps_t = &e3;
  EXPECT_THROWS(ops::pgd_step(x, x, x, a), ErrorCode::Shape);
  EXPECT_THROWS(ops::dropout(x, 1.0, false, 0, 0), ErrorCode::Arg);
  EXPECT_THROWS(ops::dropout(x, -0.5, true, 0, 0), ErrorCode::Arg);
  EXPECT_THROWS(ops::drop_connect_add(x, y, 0.5, 0, 0), ErrorCode::Shape);
  EXPECT_THROWS(ops::drop_connect_add(x, uniform_cpu({2, 3}, DType::f64, 1, 0, 1), 0.5, 0, 0), ErrorCode::DType);
  EXPECT_THROWS(ops::drop_connect_add(x, test::to_sim(x), 0.5, 0, 0), ErrorCode::Device);
  EXPECT_THROWS(ops::drop_connect_add(x, x, 1.0, 0, 0), ErrorCode::Arg);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  // No front-end pairs a residual with per-element dropout (dropConnectAdd is per sample), so the
  // backend only asserts it: the element kernel would leave the residual out.
  DropoutPlan per_element_with_residual;
  per_element_with_residual.keep = 0.5;
  per_element_with_residual.residual = &x;
  EXPECT_THROWS(cpu::dropout(x, per_element_with_residual, out), ErrorCode::Internal);
}

}  // namespace
}  // namespace advprop
