// bf16 and f16 elementwise kernels (binary with every broadcast form, the unary ops and their
// backward) on the cpu against an f64 reference computed from the rounded inputs: each result
// must be one rounding of a value within the f32 arithmetic's error of the reference (exactly
// the correctly rounded value where the f32 arithmetic is exact: products of 16-bit values,
// relu, neg). cuda-sim must give the cpu's bits. Special values (NaN, infinities, signed zeros,
// f16 overflow and subnormals) ride along in every input.
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/elementwise.h"
#include "advprop/ops.h"
#include "advprop/pointwise.h"
#include "half_check.h"
#include "harness.h"

namespace advprop {
namespace {

using test::Values;

const Device kCpu{};
const Device kSim{DeviceType::cuda_sim, 0};
const DType kHalf[] = {DType::bf16, DType::f16};
const double kInf = std::numeric_limits<double>::infinity();
const double kU32 = std::ldexp(1.0, -24);

// Written over the first elements of an input: the cases a plain range never reaches.
Values specials(DType dt) {
  const double big = dt == DType::f16 ? 60000.0 : 3.0e38;  // near the largest finite value
  return {0.0, -0.0, kInf, -kInf, std::nan(""), big, -big, 1.0, -1.0, 6.0e-8, -3.0e-5, 0.5};
}

Values with_specials(Values v, DType dt, size_t shift) {
  const Values s = specials(dt);
  for (size_t i = 0; i < s.size() && i < v.size(); ++i) v[i] = test::round_to(dt, s[(i + shift) % s.size()]);
  return v;
}

const BinaryOp kBinaryOps[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div};

double binary_ref(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return std::nan("");
}

// The error of the one f32 operation before the store: none for a product of two 16-bit values
// (at most 22 significant bits), half an f32 ulp otherwise.
double binary_err(BinaryOp op, double ref) { return op == BinaryOp::mul ? 0.0 : kU32 * std::fabs(ref); }

struct Broadcast {
  Shape a, b;
};
// Same shape, per-channel on either side, scalar on either side, a leading-1 operand, and
// periods below and above the cpu's 64-element row tile.
const Broadcast kForms[] = {{{2, 3, 5, 7}, {2, 3, 5, 7}}, {{4099}, {4099}},     {{2, 3, 5, 7}, {7}},
                            {{7}, {2, 3, 5, 7}},          {{3, 130}, {130}},    {{2, 3, 5, 7}, {}},
                            {{}, {2, 3, 5, 7}},           {{1, 7}, {3, 5, 7}}, {{1}, {1}}};

ADVPROP_NATIVE_TEST(half_binary_cpu_matches_f64_and_sim_matches_cpu) {
  for (DType dt : kHalf)
    for (const Broadcast& f : kForms) {
      const int64_t na = checked_numel(f.a, "test"), nb = checked_numel(f.b, "test");
      const Values va = with_specials(test::uniform_values(na, 1 + na, -4, 4, dt), dt, 0);
      Values vb = with_specials(test::uniform_values(nb, 2 + nb, -4, 4, dt), dt, 3);
      const Tensor a = test::tensor_of(va, f.a, dt, kCpu), b = test::tensor_of(vb, f.b, dt, kCpu);
      for (BinaryOp op : kBinaryOps) {
        const Tensor got = ops::binary(op, a, b);
        REQUIRE(got.dtype() == dt);
        const int64_t n = got.numel();
        Values ref(static_cast<size_t>(n)), err(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          ref[i] = binary_ref(op, va[i % na], vb[i % nb]);
          err[i] = binary_err(op, ref[i]);
        }
        const std::string what = std::string(binary_op_name(op)) + " " + shape_str(f.a) + " with " + shape_str(f.b);
        EXPECT_ROUNDED(what, got, ref, err);
        if (test::kWithSim)
          EXPECT_SAME_BITS(what + " cuda-sim", ops::binary(op, test::sim_copy(a), test::sim_copy(b)), got);
      }
    }
}

// Neither operand as long as the output (na = 2, nb = 3, n = 6): only the backends see it.
ADVPROP_NATIVE_TEST(half_binary_both_operands_repeat) {
  for (DType dt : kHalf) {
    const Values va = {1.5, -2.25}, vb = {0.5, 3.0, -0.125};
    const Tensor a = test::tensor_of(va, {2}, dt, kCpu), b = test::tensor_of(vb, {3}, dt, kCpu);
    for (BinaryOp op : kBinaryOps) {
      Tensor out = Tensor::empty({6}, dt, kCpu);
      cpu::binary(op, a, b, out);
      Values ref(6), err(6);
      for (int i = 0; i < 6; ++i) {
        ref[i] = binary_ref(op, va[i % 2], vb[i % 3]);
        err[i] = binary_err(op, ref[i]);
      }
      EXPECT_ROUNDED(binary_op_name(op), out, ref, err);
#if ADVPROP_WITH_SIM
      Tensor out_sim = Tensor::empty({6}, dt, kSim);
      cudasim::binary(op, test::sim_copy(a), test::sim_copy(b), out_sim);
      EXPECT_SAME_BITS(std::string(binary_op_name(op)) + " cuda-sim", out_sim, out);
#endif
    }
  }
}

ADVPROP_NATIVE_TEST(half_binary_rejects_mixed_dtypes) {
  const Tensor h = Tensor::empty({4}, DType::bf16, kCpu), f = Tensor::empty({4}, DType::f16, kCpu);
  const Tensor s = Tensor::empty({4}, DType::f32, kCpu), i = Tensor::empty({4}, DType::i32, kCpu);
  EXPECT_THROWS(ops::binary(BinaryOp::add, h, f), ErrorCode::DType);
  EXPECT_THROWS(ops::binary(BinaryOp::mul, s, h), ErrorCode::DType);
  EXPECT_THROWS(ops::binary(BinaryOp::sub, f, s), ErrorCode::DType);
  EXPECT_THROWS(ops::binary(BinaryOp::div, i, i), ErrorCode::DType);
  EXPECT_THROWS(ops::unary_backward(UnaryOp::silu, h, f, 0), ErrorCode::DType);
  try {
    ops::binary(BinaryOp::add, h, f);
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_MSG(m.find("bf16") != std::string::npos && m.find("f16") != std::string::npos, m);
  }
  try {
    ops::unary(UnaryOp::relu, i, 0);
  } catch (const Error& e) {
    EXPECT_MSG(std::string(e.what()).find("f32, f64, bf16 or f16") != std::string::npos, e.what());
  }
}

// ---- unary ------------------------------------------------------------------------------------

const UnaryOp kUnaryOps[] = {UnaryOp::scale, UnaryOp::add_scalar, UnaryOp::silu,   UnaryOp::sigmoid, UnaryOp::relu,
                             UnaryOp::exp,   UnaryOp::log,        UnaryOp::square, UnaryOp::neg};
static_assert(std::size(kUnaryOps) == enum_count<UnaryOp>(), "kUnaryOps misses an op");

// The reference: the shared formulas (advprop/pointwise.h) evaluated in double with the C
// library, alpha as the f32 value the kernels use (it is not rounded to 16 bits).
double unary_ref(UnaryOp op, double x, double alpha) {
  double r = 0;
  with_enum(op, "test", [&](auto t) { r = unary_op_forward<decltype(t)::value, StdMath>(x, alpha); });
  return r;
}
double unary_grad_ref(UnaryOp op, double x, double dy, double alpha) {
  // x + x of a large bf16 overflows f32 (as it does in the f32 kernel) before dy scales it down.
  if (op == UnaryOp::square) return dy * static_cast<double>(static_cast<float>(x + x));
  double r = 0;
  with_enum(op, "test", [&](auto t) { r = unary_op_backward<decltype(t)::value, StdMath>(x, dy, alpha); });
  return r;
}

// Bounds on the f32 arithmetic's error before the store, in units of f32 roundoff: a few
// roundings and libm's error for the transcendental ops; the silu gradient's 1 + z * (1 - s)
// cancels for negative z, so its bound scales with the terms rather than the result.
double unary_err(UnaryOp op, double ref) {
  switch (op) {
    case UnaryOp::relu:
    case UnaryOp::square:
    case UnaryOp::neg: return 0.0;
    case UnaryOp::scale:
    case UnaryOp::add_scalar: return kU32 * std::fabs(ref);
    default: return 8 * kU32 * std::fabs(ref);
  }
}
double unary_grad_err(UnaryOp op, double x, double dy, double ref) {
  switch (op) {
    case UnaryOp::add_scalar:
    case UnaryOp::relu:
    case UnaryOp::square:
    case UnaryOp::neg: return 0.0;
    case UnaryOp::scale:
    case UnaryOp::log: return kU32 * std::fabs(ref);
    case UnaryOp::silu: return 16 * kU32 * std::fabs(dy) * (1 + std::fabs(x));
    default: return 8 * kU32 * std::fabs(ref);
  }
}

ADVPROP_NATIVE_TEST(half_unary_forward_backward_cpu_matches_f64_and_sim_matches_cpu) {
  const double alpha = static_cast<double>(0.1f);  // not a bf16 value: alpha stays f32
  for (DType dt : kHalf)
    for (int64_t n : {1, 13, 4099}) {
      for (UnaryOp op : kUnaryOps) {
        const bool log = op == UnaryOp::log;
        Values vx = with_specials(test::uniform_values(n, 5 + n, log ? 0.01 : -6, log ? 8 : 6, dt), dt, 0);
        const Values vdy = with_specials(test::uniform_values(n, 6 + n, -2, 2, dt), dt, 5);
        const Tensor x = test::tensor_of(vx, {n}, dt, kCpu), dy = test::tensor_of(vdy, {n}, dt, kCpu);
        const Tensor y = ops::unary(op, x, 0.1), dx = ops::unary_backward(op, x, dy, 0.1);
        REQUIRE(y.dtype() == dt && dx.dtype() == dt);
        Values ref(static_cast<size_t>(n)), err(ref.size()), gref(ref.size()), gerr(ref.size());
        for (int64_t i = 0; i < n; ++i) {
          ref[i] = unary_ref(op, vx[i], alpha);
          err[i] = unary_err(op, ref[i]);
          gref[i] = unary_grad_ref(op, vx[i], vdy[i], alpha);
          gerr[i] = unary_grad_err(op, vx[i], vdy[i], gref[i]);
        }
        const std::string what = std::string(unary_op_name(op)) + " n=" + std::to_string(n);
        EXPECT_ROUNDED(what, y, ref, err);
        EXPECT_ROUNDED(what + " backward", dx, gref, gerr);
        if (!test::kWithSim) continue;
        const Tensor xs = test::sim_copy(x), dys = test::sim_copy(dy);
        EXPECT_SAME_BITS(what + " cuda-sim", ops::unary(op, xs, 0.1), y);
        EXPECT_SAME_BITS(what + " backward cuda-sim", ops::unary_backward(op, xs, dys, 0.1), dx);
      }
    }
}

// The 16-bit path changes nothing for f32: a bf16 input gives the f32 kernel's result (on the
// widened input) rounded once, for the ops whose f32 cpu path uses the same arithmetic.
ADVPROP_NATIVE_TEST(half_unary_is_f32_rounded_once) {
  const int64_t n = 1000;
  for (DType dt : kHalf) {
    const Values vx = test::uniform_values(n, 9, -3, 3, dt);
    const Tensor x = test::tensor_of(vx, {n}, dt, kCpu), x32 = test::tensor_of(vx, {n}, DType::f32, kCpu);
    for (UnaryOp op : {UnaryOp::scale, UnaryOp::add_scalar, UnaryOp::relu, UnaryOp::square, UnaryOp::neg}) {
      const Tensor want = test::tensor_of(test::values_of(ops::unary(op, x32, 0.3)), {n}, dt, kCpu);
      EXPECT_SAME_BITS(unary_op_name(op), ops::unary(op, x, 0.3), want);
    }
  }
}

}  // namespace
}  // namespace advprop
