// bf16 and f16 sums and means (every axis subset of a 4-D shape, long chunked reductions, empty
// ranges) and their backward on the cpu against an f64 reference from the rounded inputs. Both
// backends add in double, so a result must be the 16-bit rounding of a value within the double
// summation's error of the exact sum; cuda-sim, which adds in another order, must land within
// one unit in the last place of the cpu's result (and on the same reference band). The backward
// is one double product rounded once, identical on both backends.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/ops.h"
#include "half_check.h"
#include "harness.h"

namespace advprop {
namespace {

using test::Values;

const Device kCpu{};
const DType kHalf[] = {DType::bf16, DType::f16};

// The reference of sum/mean over `axes` (normalised) of x [shape] with values v: exact sums in
// long double (the inputs have at most 11 significant bits), and the bound of a double
// summation's error, count * 2^-52 * sum |x|.
void reference(const Values& v, const Shape& shape, const std::vector<int>& axes, bool mean, Values* ref,
               Values* err) {
  const int nd = static_cast<int>(shape.size());
  std::vector<bool> red(static_cast<size_t>(nd), false);
  for (int a : axes) red[static_cast<size_t>(a)] = true;
  int64_t out_n = 1, count = 1;
  for (int d = 0; d < nd; ++d) (red[d] ? count : out_n) *= shape[d];
  std::vector<long double> sum(static_cast<size_t>(out_n), 0.0L), abs(static_cast<size_t>(out_n), 0.0L);
  std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
  for (size_t i = 0; i < v.size(); ++i) {
    int64_t o = 0;
    for (int d = 0; d < nd; ++d)
      if (!red[d]) o = o * shape[d] + idx[d];
    sum[o] += v[i];
    abs[o] += std::fabs(v[i]);
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  const double scale = mean ? 1.0 / static_cast<double>(count) : 1.0;
  ref->assign(static_cast<size_t>(out_n), 0.0);
  err->assign(static_cast<size_t>(out_n), 0.0);
  for (int64_t o = 0; o < out_n; ++o) {
    (*ref)[o] = static_cast<double>(sum[o]) * scale;
    (*err)[o] = (static_cast<double>(count) + 2) * std::ldexp(1.0, -52) * static_cast<double>(abs[o]) * scale;
  }
}

void check_sum(DType dt, const Shape& shape, const std::vector<int>& axes, bool mean, double lo, double hi,
               uint64_t seed) {
  const int64_t n = checked_numel(shape, "test");
  const Values v = test::uniform_values(n, seed, lo, hi, dt);
  const Tensor x = test::tensor_of(v, shape, dt, kCpu);
  Values ref, err;
  reference(v, shape, axes, mean, &ref, &err);
  std::string what = std::string(mean ? "mean " : "sum ") + shape_str(shape) + " axes [";
  for (int a : axes) what += std::to_string(a) + " ";
  what += "]";
  const Tensor got = ops::sum(x, axes, false, mean);
  REQUIRE(got.dtype() == dt);
  EXPECT_ROUNDED(what, got, ref, err);
  if (!test::kWithSim) return;
  const Tensor sim = ops::sum(test::sim_copy(x), axes, false, mean);
  EXPECT_ROUNDED(what + " cuda-sim", sim, ref, err);
  EXPECT_WITHIN_ULP(what + " cuda-sim against cpu", sim, got);
}

ADVPROP_NATIVE_TEST(half_sum_every_axis_subset_of_4d) {
  const Shape shape = {3, 5, 7, 11};
  for (DType dt : kHalf)
    for (int mask = 1; mask < 16; ++mask) {
      std::vector<int> axes;
      for (int d = 0; d < 4; ++d)
        if (mask & (1 << d)) axes.push_back(d);
      check_sum(dt, shape, axes, false, -1, 1, 10 + mask);
      check_sum(dt, shape, axes, true, -1, 1, 30 + mask);
    }
}

// Long reductions: the cpu cuts them into chunks whose partials add in chunk order, cuda-sim into
// a second pass; columns (innermost axis kept, NHWC per-channel sums) and rows. A sum of 2^18
// values in [0, 1) is ~131072, beyond f16's range: it must come back as infinity.
ADVPROP_NATIVE_TEST(half_sum_large_and_chunked) {
  for (DType dt : kHalf) {
    check_sum(dt, {1 << 18}, {0}, false, 0, 1, 1);
    check_sum(dt, {1 << 18}, {0}, true, 0, 1, 2);
    check_sum(dt, {4099, 64}, {0}, false, -1, 1, 3);
    check_sum(dt, {64, 4099}, {1}, true, -1, 1, 4);
    check_sum(dt, {8, 56, 56, 24}, {0, 1, 2}, true, -2, 2, 5);
  }
  const Values big(1 << 18, 0.75);
  const Tensor s = ops::sum(test::tensor_of(big, {1 << 18}, DType::f16, kCpu), {}, false, false);
  EXPECT(std::isinf(test::values_of(s)[0]));
}

ADVPROP_NATIVE_TEST(half_sum_empty_ranges) {
  for (DType dt : kHalf) {
    const Tensor x = Tensor::empty({3, 0, 4}, dt, kCpu);
    const Tensor s = ops::sum(x, {1}, false, false);
    REQUIRE(s.dtype() == dt && s.numel() == 12);
    for (double v : test::values_of(s)) EXPECT_EQ(v, 0.0);
    if (test::kWithSim) EXPECT_SAME_BITS("empty sum cuda-sim", ops::sum(test::sim_copy(x), {1}, false, false), s);
    EXPECT_THROWS(ops::sum(x, {1}, false, true), ErrorCode::Shape);
  }
}

// dx = dy * scale (1 or 1/count) in double, rounded once: the correctly rounded product.
ADVPROP_NATIVE_TEST(half_sum_backward_and_sum_to_shape) {
  for (DType dt : kHalf) {
    const Shape xs = {3, 5, 7, 11};
    const std::vector<int> axes = {0, 2};
    for (bool mean : {false, true}) {
      const Values vdy = test::uniform_values(5 * 11, 7, -3, 3, dt);
      const Tensor dy = test::tensor_of(vdy, {5, 11}, dt, kCpu);
      const Tensor dx = ops::sum_backward(dy, xs, axes, mean);
      REQUIRE(dx.dtype() == dt);
      Values ref(static_cast<size_t>(dx.numel()));
      for (int64_t i = 0; i < dx.numel(); ++i) {
        const int64_t c = i % 11, h = (i / 77) % 5;
        ref[i] = vdy[h * 11 + c] * (mean ? 1.0 / 21.0 : 1.0);
      }
      EXPECT_ROUNDED(mean ? "mean backward" : "sum backward", dx, ref, {});
      if (test::kWithSim)
        EXPECT_SAME_BITS("sum backward cuda-sim", ops::sum_backward(test::sim_copy(dy), xs, axes, mean), dx);
    }
    // The gradient of a broadcast [C] operand: a sum over the leading rows.
    const Values vg = test::uniform_values(6 * 13, 8, -1, 1, dt);
    const Tensor g = test::tensor_of(vg, {2, 3, 13}, dt, kCpu);
    const Tensor r = ops::sum_to_shape(g, {13});
    Values ref, err;
    reference(vg, {6, 13}, {0}, false, &ref, &err);
    EXPECT_ROUNDED("sumToShape", r, ref, err);
  }
  const Tensor i = Tensor::empty({4}, DType::i32, kCpu);
  EXPECT_THROWS(ops::sum(i, {}, false, false), ErrorCode::DType);
}

}  // namespace
}  // namespace advprop
