// The CPU kernels (native/cpu) against plain loops in double, on awkward sizes and every
// broadcast / axis form. Each comparison prints the first mismatching elements.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "advprop/elementwise.h"
#include "advprop/ops.h"
#include "advprop/pointwise.h"
#include "advprop/philox.h"
#include "advprop/random.h"
#include "advprop/reduce.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

const int64_t kSizes[] = {1, 7, 31, 97, 1000003};
const DType kFloatTypes[] = {DType::f32, DType::f64};

Tensor make(const Shape& shape, DType dt) { return Tensor::empty(shape, dt, Device{}); }

using test::get;
using test::set;

// The value as stored in t's dtype (what a kernel reads), back in double.
double stored(DType dt, double v) { return dt == DType::f32 ? static_cast<double>(static_cast<float>(v)) : v; }

Tensor random_tensor(const Shape& shape, DType dt, uint32_t seed, double lo, double hi) {
  Tensor t = make(shape, dt);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) set(t, i, dist(gen));
  return t;
}

std::string num(double v) { return test::describe_double(v); }

// Checks got[i] against ref[i] within tol * scale[i] (scale defaults to |ref[i]|; NaN must
// match NaN) and records one failure naming the first mismatches and the relative norm error.
void compare(const std::string& what, const Tensor& got, const std::vector<double>& ref, double tol,
             const std::vector<double>* scale = nullptr) {
  REQUIRE(got.numel() == static_cast<int64_t>(ref.size()));
  int64_t bad = 0;
  double err2 = 0, ref2 = 0;
  std::string first;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = get(got, i), r = ref[i];
    const double allowed = tol * (scale ? (*scale)[i] : std::fabs(r));
    const bool ok = (std::isnan(r) && std::isnan(g)) || g == r || std::fabs(g - r) <= allowed;
    if (std::isfinite(r) && std::isfinite(g)) {
      err2 += (g - r) * (g - r);
      ref2 += r * r;
    }
    if (!ok && bad++ < 4) first += " [" + std::to_string(i) + "] got " + num(g) + " want " + num(r) + ";";
  }
  if (bad)
    test::record_failure(__FILE__, __LINE__,
                         what + ": " + std::to_string(bad) + " of " + std::to_string(got.numel()) +
                             " elements off (rel. norm error " + num(ref2 > 0 ? std::sqrt(err2 / ref2) : err2) +
                             "):" + first);
}

// ---- binary ---------------------------------------------------------------------------------

double ref_binary(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return 0;
}

// out[i] = a[i % na] op b[i % nb]; the f32 result is exact (one rounding of the double result).
void check_binary(BinaryOp op, DType dt, int64_t na, int64_t nb, int64_t n, bool in_place = false) {
  Tensor a = random_tensor({na}, dt, 1 + static_cast<uint32_t>(na), -3, 3);
  Tensor b = random_tensor({nb}, dt, 2 + static_cast<uint32_t>(nb), 0.5, 4);
  std::vector<double> ref(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ref[i] = stored(dt, ref_binary(op, get(a, i % na), get(b, i % nb)));
  Tensor out = in_place ? a : make({n}, dt);
  cpu::binary(op, a, b, out);
  compare(std::string(binary_op_name(op)) + " " + dtype_name(dt) + " a[" + std::to_string(na) + "] b[" +
              std::to_string(nb) + "] -> [" + std::to_string(n) + "]" + (in_place ? " in place" : ""),
          out, ref, 0);
}

const BinaryOp kBinaryOps[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div};
static_assert(std::size(kBinaryOps) == enum_count<BinaryOp>(), "kBinaryOps misses an op");

ADVPROP_NATIVE_TEST(cpu_binary_same_shape_and_scalar) {
  for (DType dt : kFloatTypes)
    for (BinaryOp op : kBinaryOps)
      for (int64_t n : kSizes) {
        check_binary(op, dt, n, n, n);
        check_binary(op, dt, n, 1, n);
        check_binary(op, dt, 1, n, n);
        check_binary(op, dt, n, n, n, true);
      }
}

ADVPROP_NATIVE_TEST(cpu_binary_periodic_either_side) {
  const int64_t periods[] = {1, 3, 7, 31, 64, 97, 1000};
  const int64_t rows[] = {1, 5, 1031, 333334};
  for (DType dt : kFloatTypes)
    for (BinaryOp op : kBinaryOps)
      for (int64_t p : periods)
        for (int64_t r : rows) {
          if (p * r > 2000000) continue;
          check_binary(op, dt, p * r, p, p * r);
          check_binary(op, dt, p, p * r, p * r);
        }
  // Neither operand full: both repeat inside out.
  check_binary(BinaryOp::sub, DType::f32, 6, 4, 24);
  check_binary(BinaryOp::div, DType::f64, 1, 1, 97);
  check_binary(BinaryOp::mul, DType::f32, 31, 97, 31 * 97 * 3);
}

ADVPROP_NATIVE_TEST(cpu_binary_rejects_bad_input) {
  Tensor a = make({6}, DType::f32), b = make({4}, DType::f32), out = make({6}, DType::f32);
  EXPECT_THROWS(ops::binary(BinaryOp::add, a, b), ErrorCode::Shape);
  Tensor d = make({6}, DType::f64);
  EXPECT_THROWS(ops::binary(BinaryOp::add, a, d), ErrorCode::DType);
  Tensor i = make({6}, DType::i32);
  EXPECT_THROWS(ops::binary(BinaryOp::add, i, i), ErrorCode::DType);
  Tensor e = make({0}, DType::f32);
  cpu::binary(BinaryOp::add, e, e, e);  // numel 0: nothing to do
}

// ---- unary ----------------------------------------------------------------------------------

// Every op of ADVPROP_UNARY_OPS, so a new one is tested here without an edit.
constexpr auto kUnaryOps = enum_values<UnaryOp>();

double sigm(double x) { return 1 / (1 + std::exp(-x)); }

// pointwise.h's formula in f64 with the C library: the reference of an op that has none written
// out below. Its independent reference is its entry in the op table (test/op_table/).
template <typename F>
double formula(UnaryOp op, F f) {
  double r = 0;
  with_enum(op, "test", [&](auto tag) { r = f(tag); });
  return r;
}

double ref_forward(UnaryOp op, double x, double alpha) {
  switch (op) {
    case UnaryOp::scale: return alpha * x;
    case UnaryOp::add_scalar: return x + alpha;
    case UnaryOp::silu: return x * sigm(x);
    case UnaryOp::sigmoid: return sigm(x);
    case UnaryOp::relu: return x < 0 ? 0 : x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::neg: return -x;
    default: return formula(op, [&](auto tag) { return unary_op_forward<decltype(tag)::value, StdMath>(x, alpha); });
  }
}

double ref_backward(UnaryOp op, double x, double dy, double alpha) {
  switch (op) {
    case UnaryOp::scale: return dy * alpha;
    case UnaryOp::add_scalar: return dy;
    case UnaryOp::silu: return dy * (sigm(x) * (1 + x * sigm(-x)));  // 1 - s without cancellation
    case UnaryOp::sigmoid: return dy * sigm(x) * sigm(-x);
    case UnaryOp::relu: return x > 0 ? dy : 0;
    case UnaryOp::exp: return dy * std::exp(x);
    case UnaryOp::log: return dy / x;
    case UnaryOp::square: return 2 * x * dy;
    case UnaryOp::neg: return -dy;
    default:
      return formula(op, [&](auto tag) { return unary_op_backward<decltype(tag)::value, StdMath>(x, dy, alpha); });
  }
}

// Ops marked costly in ADVPROP_UNARY_OPS go through exp or log; the others are one rounding of
// +, - or *, so they must match the f64 reference rounded to the dtype exactly.
bool exact_op(UnaryOp op) { return !unary_op_costly(op); }

double ulp_f32(double v) {
  const float a = std::fabs(static_cast<float>(v));
  return static_cast<double>(std::nextafter(a, std::numeric_limits<float>::infinity()) - a);
}

double alpha_for(UnaryOp op) { return op == UnaryOp::scale ? 0.3 : op == UnaryOp::add_scalar ? -1.7 : 0.0; }

// Tolerances: exact ops round once, so they must match exactly; exp_f32 is within ~1 ulp, and
// the sigmoid forms add a few roundings in f32.
double unary_tol(UnaryOp op, DType dt) { return exact_op(op) ? 0 : dt == DType::f32 ? 1e-6 : 1e-14; }

ADVPROP_NATIVE_TEST(cpu_unary_forward_and_backward) {
  for (DType dt : kFloatTypes)
    for (UnaryOp op : kUnaryOps)
      for (int64_t n : kSizes) {
        const bool positive = op == UnaryOp::log;
        Tensor x = random_tensor({n}, dt, 7, positive ? 0.01 : -8, positive ? 10 : 8);
        if (!positive && n > 3) set(x, 3, 0.0);  // relu at its kink
        Tensor dy = random_tensor({n}, dt, 8, -2, 2);
        const double alpha = stored(dt, alpha_for(op));  // the kernel rounds alpha to the dtype
        std::vector<double> fref(n), fallowed(n), bref(n), bscale(n);
        for (int64_t i = 0; i < n; ++i) {
          const double xi = get(x, i), di = get(dy, i);
          fref[i] = stored(dt, ref_forward(op, xi, alpha));
          // exp_f32 is within 1.01 ulp (checked exhaustively when it was written); hold it to 1.5.
          fallowed[i] = op == UnaryOp::exp && dt == DType::f32 ? 1.5 * ulp_f32(fref[i])
                                                               : unary_tol(op, dt) * std::fabs(fref[i]);
          bref[i] = exact_op(op) ? stored(dt, ref_backward(op, xi, di, alpha)) : ref_backward(op, xi, di, alpha);
          // silu' crosses zero: there the error is relative to the size of its terms.
          bscale[i] = op == UnaryOp::silu ? std::fabs(di) * sigm(xi) * (1 + std::fabs(xi)) : std::fabs(bref[i]);
        }
        const std::string what = std::string(unary_op_name(op)) + " " + dtype_name(dt) + " n=" + std::to_string(n);
        Tensor y = make({n}, dt), dx = make({n}, dt);
        cpu::unary(op, x, alpha_for(op), y);
        compare(what, y, fref, 1, &fallowed);
        cpu::unary_backward(op, x, dy, alpha_for(op), dx);
        compare(what + " backward", dx, bref, unary_tol(op, dt), &bscale);
      }
}

ADVPROP_NATIVE_TEST(cpu_unary_special_values) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const std::vector<double> xs = {-1e30, -200, -104.5, -104, -103.9, -100, -88, -87.5, -20, -1e-8, -0.0, 0.0,
                                  1e-8,  0.5,  20,     88.5, 88.7,   88.8, 89,  100,   1e30, inf, -inf, nan};
  const int64_t n = static_cast<int64_t>(xs.size());
  for (DType dt : kFloatTypes) {
    Tensor x = make({n}, dt);
    for (int64_t i = 0; i < n; ++i) set(x, i, xs[i]);
    for (UnaryOp op : {UnaryOp::exp, UnaryOp::sigmoid, UnaryOp::silu, UnaryOp::relu}) {
      // Absolute slack in f32: exp may be one subnormal step off; the sigmoid forms are 0 once
      // e^-x overflows (x < -88.7), where the true value is below 3e-39.
      const double tol = exact_op(op) ? 0 : dt == DType::f32 ? 1e-6 : 1e-14;
      const double slack = dt == DType::f64 ? 0 : op == UnaryOp::exp ? 1.5e-45 : 1e-36;
      std::vector<double> ref(n), scale(n);
      for (int64_t i = 0; i < n; ++i) {
        ref[i] = stored(dt, ref_forward(op, get(x, i), 0));
        scale[i] = std::fabs(ref[i]) + (tol > 0 ? slack / tol : 0);
      }
      Tensor y = make({n}, dt);
      cpu::unary(op, x, 0, y);
      compare(std::string("special ") + unary_op_name(op) + " " + dtype_name(dt), y, ref, tol, &scale);
    }
  }
}

ADVPROP_NATIVE_TEST(cpu_sigmoid_gradients_keep_accuracy_when_saturated) {
  // Where sigmoid(x) rounds to 1, 1 - s by subtraction would leave no correct digit.
  const std::vector<double> xs = {-80, -30, -20, -8, -1, 0, 1, 8, 12, 16, 20, 30, 80};
  const int64_t n = static_cast<int64_t>(xs.size());
  for (DType dt : kFloatTypes) {
    Tensor x = make({n}, dt), dy = make({n}, dt), dx = make({n}, dt);
    for (int64_t i = 0; i < n; ++i) set(x, i, xs[i]);
    cpu::fill(dy, 1.0);
    for (UnaryOp op : {UnaryOp::sigmoid, UnaryOp::silu}) {
      std::vector<double> ref(n);
      for (int64_t i = 0; i < n; ++i) {
        const double v = xs[i], s = 1 / (1 + std::exp(-v)), sn = 1 / (1 + std::exp(v));
        ref[i] = op == UnaryOp::sigmoid ? s * sn : s * (1 + v * sn);
      }
      cpu::unary_backward(op, x, dy, 0, dx);
      compare(std::string(unary_op_name(op)) + " backward saturated " + dtype_name(dt), dx, ref,
              dt == DType::f32 ? 1e-6 : 1e-14);
    }
  }
}

ADVPROP_NATIVE_TEST(cpu_unary_rejects_bad_input) {
  Tensor i = make({3}, DType::i32), f = make({3}, DType::f32), d = make({3}, DType::f64), g = make({4}, DType::f32);
  EXPECT_THROWS(ops::unary(UnaryOp::relu, i, 0), ErrorCode::DType);
  EXPECT_THROWS(cpu::unary(UnaryOp::relu, f, 0, d), ErrorCode::Internal);  // ops::unary makes out: asserted (indexed as x's type)
  EXPECT_THROWS(cpu::unary(UnaryOp::relu, f, 0, g), ErrorCode::Internal);  // likewise its size (written past)
  EXPECT_THROWS(ops::unary(static_cast<UnaryOp>(99), f, 0), ErrorCode::Arg);
  EXPECT_THROWS(ops::unary_backward(UnaryOp::relu, f, d, 0), ErrorCode::DType);
}

// ---- fill and cast --------------------------------------------------------------------------

// The documented float -> i32 rule: truncate toward zero, saturate, NaN -> 0.
double ref_to_i32(double v) {
  if (std::isnan(v)) return 0;
  if (v <= -2147483648.0) return -2147483648.0;
  if (v >= 2147483647.0) return 2147483647.0;
  return std::trunc(v);
}

double ref_convert(double v, DType to) { return to == DType::i32 ? ref_to_i32(v) : stored(to, v); }

ADVPROP_NATIVE_TEST(cpu_fill_all_dtypes) {
  for (DType dt : {DType::f32, DType::f64, DType::i32})
    for (int64_t n : kSizes)
      for (double v : {0.0, 2.5, -2.5, 1e20, -1e20, 0.1}) {
        Tensor t = make({n}, dt);
        cpu::fill(t, v);
        compare(std::string("fill ") + dtype_name(dt) + " " + num(v), t,
                std::vector<double>(static_cast<size_t>(n), ref_convert(v, dt)), 0);
      }
  Tensor t = make({5}, DType::i32);
  cpu::fill(t, std::nan(""));
  compare("fill i32 NaN", t, std::vector<double>(5, 0.0), 0);
  // bf16 and f16 fill: half_storage_test.cc. u8 has no data kernels.
  EXPECT_THROWS(ops::full({5}, DType::u8, Device{}, 1), ErrorCode::DType);
  Tensor e = make({0}, DType::u8);
  cpu::fill(e, 1);  // numel 0: nothing to do, whatever the dtype
}

ADVPROP_NATIVE_TEST(cpu_cast_every_pair) {
  const DType types[] = {DType::f32, DType::f64, DType::i32};
  for (DType from : types)
    for (DType to : types)
      for (int64_t n : kSizes) {
        Tensor src = random_tensor({n}, from, 11, -1e6, 1e6);
        if (from != DType::i32 && n > 6) {  // the edges of the i32 rule
          const double edges[] = {3e9, -3e9, std::nan(""), 2147483647.5, -2.75, 2.75};
          for (int k = 0; k < 6; ++k) set(src, k, edges[k]);
        }
        std::vector<double> ref(n);
        for (int64_t i = 0; i < n; ++i) ref[i] = ref_convert(get(src, i), to);
        Tensor dst = make({n}, to);
        cpu::cast(src, dst);
        compare(std::string("cast ") + dtype_name(from) + " -> " + dtype_name(to) + " n=" + std::to_string(n), dst,
                ref, 0);
      }
  Tensor a = make({3}, DType::f32), b = make({4}, DType::f64);
  // ops::cast allocates dst with src's shape, so no caller reaches a size mismatch: the backend
  // asserts it (it would write past dst).
  EXPECT_THROWS(cpu::cast(a, b), ErrorCode::Internal);
  EXPECT_THROWS(ops::cast(a, DType::u8), ErrorCode::DType);  // bf16/f16: half_storage_test.cc
}

// ---- sum ------------------------------------------------------------------------------------

// The naive sum: every element of x goes to the output index made of its kept coordinates.
// Returns the reference and, per output, the sum of |x| (the scale of rounding errors).
void ref_sum(const Tensor& x, const std::vector<int>& axes, double scale, std::vector<double>& ref,
             std::vector<double>& mag) {
  const Shape& s = x.shape();
  const int nd = x.ndim();
  std::vector<bool> red(nd, false);
  for (int a : axes) red[a] = true;
  int64_t out_count = 1;
  for (int d = 0; d < nd; ++d)
    if (!red[d]) out_count *= s[d];
  ref.assign(out_count, 0.0);
  mag.assign(out_count, 0.0);
  std::vector<int64_t> idx(nd, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t o = 0;
    for (int d = 0; d < nd; ++d)
      if (!red[d]) o = o * s[d] + idx[d];
    ref[o] += get(x, i);
    mag[o] += std::fabs(get(x, i));
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
  for (auto& v : ref) v *= scale;
  for (auto& v : mag) v *= std::fabs(scale);
}

void check_sum(const Shape& shape, const std::vector<int>& axes, DType dt, double scale) {
  Tensor x = random_tensor(shape, dt, 21, -2, 3);
  std::vector<double> ref, mag;
  ref_sum(x, axes, scale, ref, mag);
  ReducePlan plan = make_reduce_plan(shape, axes);
  std::string what = std::string("sum ") + dtype_name(dt) + " " + shape_str(shape) + " axes [";
  for (size_t i = 0; i < axes.size(); ++i) what += (i ? "," : "") + std::to_string(axes[i]);
  what += "] scale " + num(scale);
  REQUIRE(plan.out_count == static_cast<int64_t>(ref.size()));
  Tensor out = make({plan.out_count}, dt);
  cpu::sum(x, plan, scale, out);
  // Accumulated in double and rounded once: half an f32 ulp of the result, plus the classic
  // bound n * 2^-53 * sum|x| on the double summation error of the kernel and of this reference.
  const double n = static_cast<double>(plan.reduce_count);
  std::vector<double> allowed(ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    allowed[i] = (dt == DType::f32 ? 6e-8 * std::fabs(ref[i]) : 0) + 2 * n * 1.12e-16 * mag[i];
  compare(what, out, ref, 1, &allowed);
  Tensor again = make({plan.out_count}, dt);
  cpu::sum(x, plan, scale, again);
  EXPECT_MSG(std::memcmp(out.data(), again.data(), out.nbytes()) == 0, what + ": two runs differ");
}

ADVPROP_NATIVE_TEST(cpu_sum_every_axis_subset_of_4d) {
  for (DType dt : kFloatTypes)
    for (int mask = 0; mask < 16; ++mask) {
      std::vector<int> axes;
      for (int d = 0; d < 4; ++d)
        if (mask & (1 << d)) axes.push_back(d);
      check_sum({3, 5, 7, 2}, axes, dt, 1.0);
      check_sum({3, 5, 7, 2}, axes, dt, 0.25);
    }
}

ADVPROP_NATIVE_TEST(cpu_sum_large_and_chunked) {
  // Sizes that cut the reduced range into chunks (few outputs), that start chunks in the middle
  // of a contiguous run, and that tile a long kept axis.
  struct Case { Shape shape; std::vector<int> axes; };
  const Case cases[] = {
      {{1000003}, {0}},         {{3, 333667}, {1}},          {{333667, 3}, {0}},
      {{1031, 97}, {0}},        {{1031, 97}, {1}},           {{2, 1031, 3, 97}, {1, 3}},
      {{2, 1031, 3, 97}, {0, 2}}, {{500, 7, 300, 5}, {0, 2}}, {{7, 500, 3, 300}, {1, 3}},
      {{3, 2500, 1}, {0}},      {{1, 4, 1, 5}, {1}},         {{31, 1, 97}, {1}},
  };
  for (DType dt : kFloatTypes)
    for (const Case& c : cases) check_sum(c.shape, c.axes, dt, dt == DType::f32 ? 1.0 : 1.0 / 3);
}

ADVPROP_NATIVE_TEST(cpu_sum_empty_ranges) {
  // A reduced axis of size 0 gives zeros; a kept axis of size 0 gives no output.
  Tensor x = make({3, 0, 2}, DType::f32);
  Tensor out = make({3, 2}, DType::f32);
  cpu::fill(out, 7);
  cpu::sum(x, make_reduce_plan(x.shape(), {1}), 1.0, out);
  compare("sum over an empty axis", out, std::vector<double>(6, 0.0), 0);
  Tensor none = make({0, 2}, DType::f32);
  cpu::sum(x, make_reduce_plan(x.shape(), {0}), 1.0, none);
}

ADVPROP_NATIVE_TEST(cpu_reduce_plan_merges_and_validates) {
  ReducePlan p = make_reduce_plan({3, 5, 7, 2}, {1, 2});
  EXPECT_EQ(p.n_kept, 2);
  EXPECT_EQ(p.n_red, 1);
  EXPECT_EQ(p.red_size[0], 35);
  EXPECT_EQ(p.red_stride[0], 2);
  EXPECT_EQ(p.kept_stride[0], 70);
  EXPECT_EQ(p.kept_stride[1], 1);
  EXPECT_EQ(p.out_count, 6);
  EXPECT_EQ(p.reduce_count, 35);
  ReducePlan q = make_reduce_plan({1, 4, 1, 5}, {1});  // size-1 dims vanish
  EXPECT_EQ(q.n_kept, 1);
  EXPECT_EQ(q.n_red, 1);
  EXPECT_EQ(q.red_stride[0], 5);
  ReducePlan all = make_reduce_plan({3, 5, 7, 2}, {3, 0, 2, 1});  // order does not matter
  EXPECT_EQ(all.n_kept, 0);
  EXPECT_EQ(all.n_red, 1);
  EXPECT_EQ(all.reduce_count, 210);
  EXPECT_THROWS(make_reduce_plan({3, 5, 7, 2}, {4}), ErrorCode::Arg);
  EXPECT_THROWS(make_reduce_plan({3, 5, 7, 2}, {-1}), ErrorCode::Arg);
  EXPECT_THROWS(make_reduce_plan({3, 5, 7, 2}, {1, 1}), ErrorCode::Arg);
  try {
    make_reduce_plan({3, 5, 7, 2}, {0, 9});
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_MSG(m.find("[0, 9]") != std::string::npos && m.find("[3, 5, 7, 2]") != std::string::npos, m);
  }
  Tensor i = make({4}, DType::i32), o = make({1}, DType::f32), f = make({2}, DType::f32);
  EXPECT_THROWS(ops::sum(i, {0}, false, false), ErrorCode::DType);
  // ops::sum makes the plan and out from x's shape, so no caller reaches an out that does not fit
  // the plan: the backend asserts it (it would write past out).
  EXPECT_THROWS(cpu::sum(make({4}, DType::f32), make_reduce_plan({4}, {0}), 1.0, f), ErrorCode::Internal);
  EXPECT_THROWS(cpu::sum(i, make_reduce_plan({4}, {0}), 1.0, o), ErrorCode::Internal);
}

// ---- random ---------------------------------------------------------------------------------

ADVPROP_NATIVE_TEST(cpu_random_matches_philox_definition) {
  const uint64_t seed = 0x1234567890abcdefull, offset = 5;
  for (DType dt : kFloatTypes)
    for (int64_t n : kSizes) {
      std::vector<double> uref(n), nref(n);
      for (int64_t i = 0; i < n; ++i) {
        uref[i] = stored(dt, std::fma(3.0, philox_uniform_element(seed, offset, i), -1.0));
        nref[i] = stored(dt, std::fma(0.5, philox_normal_element(seed, offset, i), 2.0));
      }
      Tensor u = make({n}, dt), z = make({n}, dt);
      cpu::uniform(u, seed, offset, -1.0, 2.0);
      cpu::normal(z, seed, offset, 2.0, 0.5);
      compare(std::string("uniform ") + dtype_name(dt) + " n=" + std::to_string(n), u, uref, 0);
      compare(std::string("normal ") + dtype_name(dt) + " n=" + std::to_string(n), z, nref, 0);
    }
}

ADVPROP_NATIVE_TEST(cpu_random_statistics) {
  const int64_t n = 1000003;
  Tensor u = make({n}, DType::f32), z = make({n}, DType::f64), u2 = make({n}, DType::f32);
  cpu::uniform(u, 42, 0, -1.0, 2.0);
  cpu::uniform(u2, 42, 1, -1.0, 2.0);
  cpu::normal(z, 42, 0, 2.0, 0.5);
  double us = 0, zs = 0, zs2 = 0;
  int64_t same = 0;
  bool in_range = true;
  for (int64_t i = 0; i < n; ++i) {
    const double v = get(u, i);
    in_range = in_range && v > -1.0 && v <= 2.0;
    us += v;
    same += get(u2, i) == v;
    zs += get(z, i);
    zs2 += (get(z, i) - 2.0) * (get(z, i) - 2.0);
  }
  EXPECT(in_range);
  // Five standard errors: uniform sd 3/sqrt(12), normal sd 0.5, variance sd 0.25*sqrt(2/n).
  EXPECT_NEAR(us / n, 0.5, 5 * 0.866 / std::sqrt(double(n)));
  EXPECT_NEAR(zs / n, 2.0, 5 * 0.5 / std::sqrt(double(n)));
  EXPECT_NEAR(zs2 / n, 0.25, 5 * 0.25 * std::sqrt(2.0 / n));
  EXPECT(same < 100);  // another offset is another stream
  Tensor i = make({4}, DType::i32);
  EXPECT_THROWS(ops::uniform(i.shape(), i.dtype(), Device{}, 1, 0, 0, 1), ErrorCode::DType);
  EXPECT_THROWS(ops::normal(i.shape(), i.dtype(), Device{}, 1, 0, 0, 1), ErrorCode::DType);
}

}  // namespace
}  // namespace advprop
