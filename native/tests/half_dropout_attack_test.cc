// Dropout, drop-connect (with and without its residual) and the PGD step's 16-bit gradient.
// Dropout in bf16/f16 keeps exactly the elements f32 keeps with the same key (the Philox draws
// do not depend on the dtype) and each kept value is the f32 product x * (1 / keep) rounded once,
// so it equals the f32 kernel's output rounded to 16 bits; drop-connect-add equals drop-connect
// then add bit for bit. A bf16/f16 gradient given to pgdStep gives the bits of its exact f32 (or
// f64) widening: the image, perturbation, projection and clamp stay in the image's dtype.
// cuda-sim gives the cpu's bits throughout.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "advprop/attack.h"
#include "advprop/dropout.h"
#include "advprop/ops.h"
#include "half_check.h"
#include "harness.h"

namespace advprop {
namespace {

using test::Values;

const Device kCpu{};
const DType kHalf[] = {DType::bf16, DType::f16};
const double kU32 = std::ldexp(1.0, -24);

// Nonzero values of both signs (a kept element is never 0), with an infinity and a NaN, which
// a dropped element turns into 0 all the same.
Values nonzero_values(int64_t n, uint64_t seed, DType dt) {
  Values v = test::uniform_values(n, seed, 0.25, 2, dt);
  for (size_t i = 0; i < v.size(); i += 2) v[i] = -v[i];
  if (n > 3) {
    v[1] = std::numeric_limits<double>::infinity();
    v[2] = std::nan("");
  }
  return v;
}

ADVPROP_NATIVE_TEST(half_dropout_keeps_f32s_set_and_rounds_its_values_once) {
  const double rate = 0.3, scale = static_cast<double>(static_cast<float>(1.0 / (1.0 - rate)));
  for (DType dt : kHalf)
    // {4, 3, 5, 8}: whole 16-byte packs per sample (the sim's pack path, native/cuda/dropout.cu).
    for (const Shape& s : {Shape{6, 257}, Shape{1, 3}, Shape{4, 5, 7, 3}, Shape{4, 3, 5, 8}})
      for (bool per_sample : {false, true}) {
        const int64_t n = checked_numel(s, "test");
        const Values v = nonzero_values(n, 17 + n, dt);
        const Tensor x = test::tensor_of(v, s, dt, kCpu), x32 = test::tensor_of(v, s, DType::f32, kCpu);
        const Tensor out = ops::dropout(x, rate, per_sample, 42, 7), out32 = ops::dropout(x32, rate, per_sample, 42, 7);
        const std::string what = std::string(per_sample ? "dropConnect " : "dropout ") + shape_str(s);
        REQUIRE(out.dtype() == dt);
        const Values o32 = test::values_of(out32);
        EXPECT_SAME_BITS(what + " = f32 rounded once", out, test::tensor_of(o32, s, dt, kCpu));
        Values ref(static_cast<size_t>(n)), err(ref.size());
        int64_t kept = 0;
        for (int64_t i = 0; i < n; ++i) {
          const bool keep = o32[i] != 0;  // no x is 0, and a NaN or inf stays NaN or inf when kept
          kept += keep;
          ref[i] = keep ? v[i] * scale : 0.0;
          err[i] = kU32 * std::fabs(ref[i]);
        }
        EXPECT_ROUNDED(what, out, ref, err);
        if (n > 100 && !per_sample) EXPECT_MSG(kept > n / 2 && kept < n, what + ": kept " + std::to_string(kept));
        if (test::kWithSim)
          EXPECT_SAME_BITS(what + " cuda-sim", ops::dropout(test::sim_copy(x), rate, per_sample, 42, 7), out);
      }
}

ADVPROP_NATIVE_TEST(half_drop_connect_add_equals_drop_connect_then_add) {
  for (DType dt : kHalf)
    for (const Shape& s : {Shape{8, 3, 3, 5}, Shape{5, 1}, Shape{3, 2, 2, 8}}) {
      const int64_t n = checked_numel(s, "test");
      const Values vh = nonzero_values(n, 3, dt);
      Values vr = test::uniform_values(n, 4, -2, 2, dt);
      vr[0] = -0.0;  // 0 + -0 is +0, as add gives it
      const Tensor h = test::tensor_of(vh, s, dt, kCpu), r = test::tensor_of(vr, s, dt, kCpu);
      const Tensor got = ops::drop_connect_add(h, r, 0.4, 9, 2);
      const Tensor want = ops::binary(BinaryOp::add, ops::dropout(h, 0.4, true, 9, 2), r);
      EXPECT_SAME_BITS("dropConnectAdd " + shape_str(s), got, want);
      if (test::kWithSim)
        EXPECT_SAME_BITS("dropConnectAdd cuda-sim",
                         ops::drop_connect_add(test::sim_copy(h), test::sim_copy(r), 0.4, 9, 2), got);
    }
  const Tensor h = Tensor::empty({2, 3}, DType::bf16, kCpu), r = Tensor::empty({2, 3}, DType::f16, kCpu);
  EXPECT_THROWS(ops::drop_connect_add(h, r, 0.1, 1, 0), ErrorCode::DType);
  EXPECT_THROWS(ops::dropout(Tensor::empty({2}, DType::i32, kCpu), 0.1, false, 1, 0), ErrorCode::DType);
}

// ---- PGD with a 16-bit gradient ----------------------------------------------------------------

ADVPROP_NATIVE_TEST(half_pgd_step_gradient_widens_exactly) {
  for (DType image : {DType::f32, DType::f64})
    for (DType gt : kHalf)
      for (const Shape& s : {Shape{3, 1029}, Shape{2, 5, 7, 3}, Shape{4, 2048}})
        for (AttackNorm norm : {AttackNorm::linf, AttackNorm::l2}) {
          const int64_t n = checked_numel(s, "test");
          const Tensor x = test::tensor_of(test::uniform_values(n, 1, 0, 1, image), s, image, kCpu);
          const Tensor xa = test::tensor_of(test::uniform_values(n, 2, 0, 1, image), s, image, kCpu);
          Values vg = test::uniform_values(n, 3, -1, 1, gt);
          for (size_t i = 0; i < vg.size(); i += 7) vg[i] = 0.0;  // sign(0) = 0: no step there
          const Tensor g = test::tensor_of(vg, s, gt, kCpu), g_wide = test::tensor_of(vg, s, image, kCpu);
          PgdArgs a;
          a.norm = norm;
          a.eps = norm == AttackNorm::linf ? 0.03 : 0.5;
          a.alpha = 0.01;
          const std::string what = std::string(dtype_name(image)) + " image, " + dtype_name(gt) + " grad " +
                                   shape_str(s) + (norm == AttackNorm::l2 ? " l2" : " linf");
          const Tensor got = ops::pgd_step(xa, g, x, a);
          REQUIRE(got.dtype() == image);
          EXPECT_SAME_BITS(what, got, ops::pgd_step(xa, g_wide, x, a));
          const Tensor eps_t = test::tensor_of(test::uniform_values(s[0], 4, 0, 0.1, image), {s[0]}, image, kCpu);
          PgdArgs ap = a;
          ap.eps_t = &eps_t;
          const Tensor got_ps = ops::pgd_step(xa, g, x, ap);
          EXPECT_SAME_BITS(what + " per-sample eps", got_ps, ops::pgd_step(xa, g_wide, x, ap));
          if (!test::kWithSim) continue;
          const Tensor xs = test::sim_copy(x), xas = test::sim_copy(xa), gs = test::sim_copy(g);
          EXPECT_SAME_BITS(what + " cuda-sim", ops::pgd_step(xas, gs, xs, a), got);
          const Tensor eps_s = test::sim_copy(eps_t);
          PgdArgs as = a;
          as.eps_t = &eps_s;
          EXPECT_SAME_BITS(what + " per-sample eps cuda-sim", ops::pgd_step(xas, gs, xs, as), got_ps);
        }
}

ADVPROP_NATIVE_TEST(half_pgd_image_stays_f32_or_f64) {
  const Tensor x = Tensor::empty({2, 3}, DType::f32, kCpu), h = Tensor::empty({2, 3}, DType::bf16, kCpu);
  PgdArgs a;
  a.eps = 0.1;
  a.alpha = 0.01;
  EXPECT_THROWS(ops::pgd_step(h, h, h, a), ErrorCode::DType);   // a 16-bit image
  EXPECT_THROWS(ops::pgd_step(x, x, h, a), ErrorCode::DType);   // x in another dtype than xAdv
  EXPECT_THROWS(ops::pgd_step(x, Tensor::empty({2, 3}, DType::f64, kCpu), x, a), ErrorCode::DType);
  EXPECT_THROWS(ops::pgd_step(x, Tensor::empty({2, 3}, DType::i32, kCpu), x, a), ErrorCode::DType);
  EXPECT_THROWS(ops::pgd_random_start(h, a, 1, 0), ErrorCode::DType);
  const Tensor eps_h = Tensor::empty({2}, DType::f16, kCpu);
  PgdArgs ah = a;
  ah.eps_t = &eps_h;  // per-sample eps is in the image's dtype
  EXPECT_THROWS(ops::pgd_step(x, h, x, ah), ErrorCode::DType);
}

}  // namespace
}  // namespace advprop
