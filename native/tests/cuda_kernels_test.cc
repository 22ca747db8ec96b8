// The CUDA sources (native/cuda) run by cuda-sim against the CPU reference kernels, on awkward
// sizes (1, odd, prime, not multiples of a block), every broadcast form and every axis subset of
// 4-D shapes; plus the device backend's caching allocator. Exact ops (fill, cast, binary, relu,
// random fills) must match bit for bit; transcendental ops and sums within rounding.
#if ADVPROP_WITH_SIM
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/elementwise.h"
#include "advprop/ops.h"
#include "advprop/random.h"
#include "advprop/reduce.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};
const Device kSim{DeviceType::cuda_sim, 0};
const int64_t kSizes[] = {1, 2, 7, 31, 97, 257, 1000, 4099, 65537};
const DType kFloatTypes[] = {DType::f32, DType::f64};
// Every dtype with data kernels (fill, cast); half_storage_test.cc checks the 16-bit ones' rounding
// against a reference.
const DType kStorageTypes[] = {DType::f32, DType::f64, DType::i32, DType::bf16, DType::f16};

DeviceBackend& sim_backend() { return cudasim::device_backend(); }

using test::to_cpu;
using test::to_sim;

using test::get;
using test::set;

// Seeded inputs on the CPU (i32, bf16 and f16 through a cast of f64 values).
Tensor random_cpu(const Shape& shape, DType dt, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::empty(shape, dt, kCpu);
  if (dt == DType::i32 || dt == DType::bf16 || dt == DType::f16) {
    Tensor f = Tensor::empty(shape, DType::f64, kCpu);
    cpu::uniform(f, seed, 0, lo, hi);
    cpu::cast(f, t);
  } else {
    cpu::uniform(t, seed, 0, lo, hi);
  }
  return t;
}

std::string num(double v) { return test::describe_double(v); }

// Byte equality of a sim result with the CPU's; names the first differing elements.
void expect_identical(const std::string& what, const Tensor& sim, const Tensor& ref) {
  REQUIRE(sim.numel() == ref.numel() && sim.dtype() == ref.dtype());
  const Tensor got = to_cpu(sim);
  if (std::memcmp(got.data(), ref.data(), ref.nbytes()) == 0) return;
  const size_t es = dtype_size(ref.dtype());
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < ref.numel(); ++i)
    if (std::memcmp(static_cast<const char*>(got.data()) + i * es, static_cast<const char*>(ref.data()) + i * es, es)) {
      if (bad++ < 4) first += " [" + std::to_string(i) + "] got " + num(get(got, i)) + " want " + num(get(ref, i)) + ";";
    }
  test::record_failure(__FILE__, __LINE__,
                       what + ": " + std::to_string(bad) + " of " + std::to_string(ref.numel()) + " elements differ:" + first);
}

// |got - ref| <= tol * (|ref| + floor[i]) element by element (NaN must meet NaN); `floor` is the
// scale of the terms where the result itself can cancel to near zero.
void expect_close(const std::string& what, const Tensor& sim, const Tensor& ref, double tol,
                  const std::vector<double>& floor = {}) {
  REQUIRE(sim.numel() == ref.numel() && sim.dtype() == ref.dtype());
  const Tensor got = to_cpu(sim);
  int64_t bad = 0;
  double err2 = 0, ref2 = 0;
  std::string first;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double g = get(got, i), r = get(ref, i);
    const double allowed = tol * (std::fabs(r) + (floor.empty() ? 0.0 : floor[i]));
    const bool ok = (std::isnan(r) && std::isnan(g)) || g == r || std::fabs(g - r) <= allowed;
    if (std::isfinite(g) && std::isfinite(r)) {
      err2 += (g - r) * (g - r);
      ref2 += r * r;
    }
    if (!ok && bad++ < 4) first += " [" + std::to_string(i) + "] got " + num(g) + " want " + num(r) + ";";
  }
  if (bad)
    test::record_failure(__FILE__, __LINE__,
                         what + ": " + std::to_string(bad) + " of " + std::to_string(ref.numel()) +
                             " elements off (rel. norm error " + num(ref2 > 0 ? std::sqrt(err2 / ref2) : err2) + "):" + first);
}

// ---- fill, cast --------------------------------------------------------------------------------

const double kSpecial[] = {0.0, -0.0, 2.5, -2.5, 0.1, 1e20, -1e20, 3e9, -3e9, 2147483647.5, -2147483648.5,
                           std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                           std::nan("")};

ADVPROP_NATIVE_TEST(cudasim_fill_matches_cpu) {
  for (DType dt : kStorageTypes)
    for (int64_t n : kSizes)
      for (double v : kSpecial) {
        Tensor ref = Tensor::empty({n}, dt, kCpu), got = Tensor::empty({n}, dt, kSim);
        cpu::fill(ref, v);
        cudasim::fill(got, v);
        expect_identical(std::string("fill ") + dtype_name(dt) + " n=" + std::to_string(n) + " " + num(v), got, ref);
      }
  Tensor h = Tensor::empty({5}, DType::u8, kSim);
  EXPECT_THROWS(ops::full(h.shape(), h.dtype(), kSim, 1), ErrorCode::DType);
  Tensor e = Tensor::empty({0}, DType::f32, kSim);
  cudasim::fill(e, 1);  // nothing to launch
}

ADVPROP_NATIVE_TEST(cudasim_cast_every_pair_matches_cpu) {
  for (DType from : kStorageTypes)
    for (DType to : kStorageTypes)
      for (int64_t n : kSizes) {
        Tensor src = random_cpu({n}, from, 11 + n, -1e6, 1e6);
        if (from != DType::i32)
          for (int64_t k = 0; k < n && k < static_cast<int64_t>(std::size(kSpecial)); ++k) set(src, k, kSpecial[k]);
        Tensor ref = Tensor::empty({n}, to, kCpu), got = Tensor::empty({n}, to, kSim);
        cpu::cast(src, ref);
        cudasim::cast(to_sim(src), got);
        expect_identical(std::string("cast ") + dtype_name(from) + " -> " + dtype_name(to) + " n=" + std::to_string(n),
                         got, ref);
      }
  Tensor a = Tensor::empty({3}, DType::f32, kSim), b = Tensor::empty({4}, DType::f64, kSim);
  Tensor h = Tensor::empty({3}, DType::u8, kSim);
  // ops::cast allocates dst with src's shape, so no caller reaches a size mismatch: the backend
  // asserts it (it would write past dst).
  EXPECT_THROWS(cudasim::cast(a, b), ErrorCode::Internal);
  EXPECT_THROWS(ops::cast(a, h.dtype()), ErrorCode::DType);
}

// ---- binary ------------------------------------------------------------------------------------

const BinaryOp kBinaryOps[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div};
static_assert(std::size(kBinaryOps) == enum_count<BinaryOp>(), "kBinaryOps misses an op");

// `skew` > 0 reads the operands one element into a larger buffer, so the float4 path is refused.
void check_binary(BinaryOp op, DType dt, int64_t na, int64_t nb, int64_t n, int skew = 0) {
  Tensor a = random_cpu({na + skew}, dt, 1 + na, -3, 3).slice0(skew, na);
  Tensor b = random_cpu({nb + skew}, dt, 2 + nb, 0.5, 4).slice0(skew, nb);
  Tensor ref = Tensor::empty({n}, dt, kCpu);
  cpu::binary(op, a, b, ref);
  Tensor sa = to_sim(a), sb = to_sim(b), got = Tensor::empty({n + skew}, dt, kSim).slice0(skew, n);
  cudasim::binary(op, sa, sb, got);
  expect_identical(std::string(binary_op_name(op)) + " " + dtype_name(dt) + " a[" + std::to_string(na) + "] b[" +
                       std::to_string(nb) + "] -> [" + std::to_string(n) + "] skew " + std::to_string(skew),
                   got, ref);
}

ADVPROP_NATIVE_TEST(cudasim_binary_matches_cpu) {
  for (DType dt : kFloatTypes)
    for (BinaryOp op : kBinaryOps) {
      for (int64_t n : kSizes) {
        check_binary(op, dt, n, n, n);
        check_binary(op, dt, n, n, n, 1);
        check_binary(op, dt, n, 1, n);
        check_binary(op, dt, 1, n, n);
      }
      for (int64_t c : {3, 7, 32, 40})
        for (int64_t rows : {1, 5, 97}) {
          check_binary(op, dt, c * rows, c, c * rows);
          check_binary(op, dt, c, c * rows, c * rows);
        }
    }
  // Neither operand full, and a grid-stride loop that wraps the periodic indices many times.
  check_binary(BinaryOp::sub, DType::f32, 6, 4, 24);
  check_binary(BinaryOp::mul, DType::f64, 31, 97, 31 * 97 * 3);
  check_binary(BinaryOp::add, DType::f32, 7, 1048583, 1048583 * 7);
}

ADVPROP_NATIVE_TEST(cudasim_binary_rejects_bad_input) {
  Tensor a = Tensor::empty({6}, DType::f32, kSim), b = Tensor::empty({4}, DType::f32, kSim);
  Tensor i = Tensor::empty({6}, DType::i32, kSim);
  EXPECT_THROWS(ops::binary(BinaryOp::add, a, b), ErrorCode::Shape);
  EXPECT_THROWS(ops::binary(BinaryOp::add, i, i), ErrorCode::DType);
}

// ---- unary -------------------------------------------------------------------------------------

// Every op of ADVPROP_UNARY_OPS, so a new one is compared here without an edit. Those marked
// costly go through exp or log (the device's, not the cpu's polynomial); the rest round once.
constexpr auto kUnaryOps = enum_values<UnaryOp>();
bool exact_op(UnaryOp op) { return !unary_op_costly(op); }

ADVPROP_NATIVE_TEST(cudasim_unary_forward_and_backward_match_cpu) {
  for (DType dt : kFloatTypes)
    for (UnaryOp op : kUnaryOps)
      for (int64_t n : kSizes) {
        const bool positive = op == UnaryOp::log;
        Tensor x = random_cpu({n}, dt, 7 + n, positive ? 0.01 : -8, positive ? 10 : 8);
        if (!positive)  // relu's kink, signed zero, NaN and infinities pass through unchanged
          for (int64_t k = 0; k < n && k < 6; ++k)
            set(x, k, std::vector<double>{0.0, -0.0, std::nan(""), INFINITY, -INFINITY, -1e-30}[k]);
        Tensor dy = random_cpu({n}, dt, 8 + n, -2, 2);
        const double alpha = op == UnaryOp::scale ? 0.3 : op == UnaryOp::add_scalar ? -1.7 : 0.0;
        Tensor y = Tensor::empty({n}, dt, kCpu), dx = Tensor::empty({n}, dt, kCpu);
        cpu::unary(op, x, alpha, y);
        cpu::unary_backward(op, x, dy, alpha, dx);
        Tensor sx = to_sim(x), sdy = to_sim(dy);
        Tensor sy = Tensor::empty({n}, dt, kSim), sdx = Tensor::empty({n}, dt, kSim);
        cudasim::unary(op, sx, alpha, sy);
        cudasim::unary_backward(op, sx, sdy, alpha, sdx);
        const std::string what = std::string(unary_op_name(op)) + " " + dtype_name(dt) + " n=" + std::to_string(n);
        const double tol = dt == DType::f32 ? 1e-6 : 1e-14;
        if (exact_op(op)) {
          expect_identical(what, sy, y);
          expect_identical(what + " backward", sdx, dx);
        } else {
          // silu' crosses zero: there the error is relative to its terms, |dy| (1 + |x|).
          std::vector<double> floor(n);
          for (int64_t i = 0; i < n; ++i) floor[i] = std::fabs(get(dy, i)) * (1 + std::fabs(get(x, i)));
          expect_close(what, sy, y, tol);
          expect_close(what + " backward", sdx, dx, tol, op == UnaryOp::silu ? floor : std::vector<double>{});
        }
      }
  Tensor i = Tensor::empty({3}, DType::i32, kSim);
  EXPECT_THROWS(ops::unary(UnaryOp::relu, i, 0), ErrorCode::DType);
  EXPECT_THROWS(ops::unary_backward(UnaryOp::relu, i, i, 0), ErrorCode::DType);
  Tensor f = Tensor::empty({3}, DType::f32, kSim);
  EXPECT_THROWS(ops::unary(static_cast<UnaryOp>(99), f, 0), ErrorCode::Arg);
}

ADVPROP_NATIVE_TEST(cudasim_sigmoid_gradients_keep_accuracy_when_saturated) {
  // 1 - sigmoid(x) by subtraction would lose every digit here; the reference is f64 on the host.
  const std::vector<double> xs = {-30, -20, -8, -1, 0, 1, 8, 12, 16, 20, 30};
  const int64_t n = static_cast<int64_t>(xs.size());
  for (DType dt : kFloatTypes) {
    Tensor x = Tensor::empty({n}, dt, kCpu), dy = Tensor::empty({n}, dt, kCpu);
    for (int64_t i = 0; i < n; ++i) set(x, i, xs[i]);
    cpu::fill(dy, 1.0);
    for (UnaryOp op : {UnaryOp::sigmoid, UnaryOp::silu}) {
      Tensor ref = Tensor::empty({n}, dt, kCpu), got = Tensor::empty({n}, dt, kSim);
      for (int64_t i = 0; i < n; ++i) {
        const double v = xs[i], s = 1 / (1 + std::exp(-v)), sn = 1 / (1 + std::exp(v));
        set(ref, i, op == UnaryOp::sigmoid ? s * sn : s * (1 + v * sn));
      }
      cudasim::unary_backward(op, to_sim(x), to_sim(dy), 0, got);
      expect_close(std::string(unary_op_name(op)) + " backward saturated " + dtype_name(dt), got, ref,
                   dt == DType::f32 ? 1e-6 : 1e-14);
    }
  }
}

// ---- sum ---------------------------------------------------------------------------------------

// Both backends accumulate in double and round once, in different orders: f32 results agree to
// an ulp, f64 ones to double rounding of the sum of magnitudes.
void check_sum(const Shape& shape, const std::vector<int>& axes, DType dt, double scale) {
  Tensor x = random_cpu(shape, dt, 21 + shape.size(), -2, 3);
  ReducePlan plan = make_reduce_plan(shape, axes);
  std::string what = std::string("sum ") + dtype_name(dt) + " " + shape_str(shape) + " axes [";
  for (size_t i = 0; i < axes.size(); ++i) what += (i ? "," : "") + std::to_string(axes[i]);
  what += "] scale " + num(scale);
  Tensor ref = Tensor::empty({plan.out_count}, dt, kCpu), mag = Tensor::empty({plan.out_count}, dt, kCpu);
  cpu::sum(x, plan, scale, ref);
  Tensor xabs = Tensor::empty(shape, dt, kCpu);
  for (int64_t i = 0; i < x.numel(); ++i) set(xabs, i, std::fabs(get(x, i)));
  cpu::sum(xabs, plan, std::fabs(scale), mag);
  std::vector<double> floor(plan.out_count);
  for (int64_t o = 0; o < plan.out_count; ++o) floor[o] = dt == DType::f32 ? 0.0 : 1e-2 * get(mag, o);
  Tensor sx = to_sim(x), got = Tensor::empty({plan.out_count}, dt, kSim);
  cudasim::sum(sx, plan, scale, got);
  expect_close(what, got, ref, dt == DType::f32 ? 1.2e-7 : 1e-13, floor);
  Tensor again = Tensor::empty({plan.out_count}, dt, kSim);
  cudasim::sum(sx, plan, scale, again);
  expect_identical(what + ": a second run", again, to_cpu(got));
}

ADVPROP_NATIVE_TEST(cudasim_sum_every_axis_subset_of_4d) {
  const Shape shapes[] = {{3, 5, 7, 2}, {2, 1, 9, 33}, {17, 4, 13, 40}};
  for (DType dt : kFloatTypes)
    for (const Shape& s : shapes)
      for (int mask = 0; mask < 16; ++mask) {
        std::vector<int> axes;
        for (int d = 0; d < 4; ++d)
          if (mask & (1 << d)) axes.push_back(d);
        check_sum(s, axes, dt, mask % 3 == 0 ? 1.0 : 0.25);
      }
}

ADVPROP_NATIVE_TEST(cudasim_sum_large_and_chunked) {
  // Shapes that take each strategy: one thread per output, a block along memory, 32-wide output
  // tiles over a contiguous kept axis, and the two-pass split of long reductions.
  struct Case {
    Shape shape;
    std::vector<int> axes;
  };
  const Case cases[] = {
      {{1000003}, {0}},       {{3, 333667}, {1}},        {{333667, 3}, {0}},     {{8, 17, 19, 40}, {0, 1, 2}},
      {{1031, 97}, {0}},      {{1031, 97}, {1}},         {{2, 1031, 3, 97}, {1, 3}}, {{2, 1031, 3, 97}, {0, 2}},
      {{40, 2584}, {1}},      {{100003, 5}, {1}},        {{5, 7, 4099}, {0, 2}}, {{31, 1, 97}, {1}},
      {{9001, 17}, {1}},  // more output tiles than blocks: each block loops
  };
  for (DType dt : kFloatTypes)
    for (const Case& c : cases) check_sum(c.shape, c.axes, dt, dt == DType::f32 ? 1.0 : 1.0 / 3);
}

ADVPROP_NATIVE_TEST(cudasim_sum_empty_ranges_and_errors) {
  Tensor x = Tensor::empty({3, 0, 2}, DType::f32, kSim);
  Tensor out = Tensor::empty({3, 2}, DType::f32, kSim);
  cudasim::fill(out, 7);
  cudasim::sum(x, make_reduce_plan(x.shape(), {1}), -1.0, out);
  Tensor zeros = Tensor::empty({3, 2}, DType::f32, kCpu);
  cpu::fill(zeros, 0);
  expect_identical("sum over an empty axis", out, zeros);
  Tensor none = Tensor::empty({0, 2}, DType::f32, kSim);
  cudasim::sum(x, make_reduce_plan(x.shape(), {0}), 1.0, none);
  Tensor i = Tensor::empty({4}, DType::i32, kSim), o = Tensor::empty({1}, DType::f32, kSim);
  EXPECT_THROWS(ops::sum(i, {0}, false, false), ErrorCode::DType);
  // The plan and out come from x in ops::sum; a backend given an out of another dtype asserts.
  EXPECT_THROWS(cudasim::sum(i, make_reduce_plan({4}, {0}), 1.0, o), ErrorCode::Internal);
}

ADVPROP_NATIVE_TEST(cudasim_sum_backward_identical_to_cpu) {
  const Shape shapes[] = {{3, 5, 7, 2}, {2, 1, 9, 33}, {1, 13, 1, 17}};
  for (DType dt : kFloatTypes)
    for (const Shape& s : shapes)
      for (int mask = 1; mask < 16; ++mask) {
        std::vector<int> axes;
        Shape kept;
        for (int d = 0; d < 4; ++d) {
          if (mask & (1 << d)) axes.push_back(d);
          else kept.push_back(s[d]);
        }
        ReducePlan plan = make_reduce_plan(s, axes);
        Tensor dy = random_cpu(kept, dt, 11 + mask, -2, 2);
        Tensor ref = Tensor::empty(s, dt, kCpu), out = Tensor::empty(s, dt, kSim);
        cpu::sum_backward(dy, plan, 0.25, ref);
        cudasim::sum_backward(to_sim(dy), plan, 0.25, out);
        expect_identical("sum_backward " + shape_str(s) + " mask " + std::to_string(mask), out, ref);
      }
}

// ---- random ------------------------------------------------------------------------------------

ADVPROP_NATIVE_TEST(cudasim_random_identical_to_cpu) {
  const uint64_t seeds[] = {0, 42, 0x1234567890abcdefull};
  const uint64_t offsets[] = {0, 5, (uint64_t(1) << 33) + 3};
  for (DType dt : kFloatTypes)
    for (int64_t n : {1, 2, 3, 4, 5, 7, 31, 1000, 4097})
      for (uint64_t seed : seeds)
        for (uint64_t off : offsets) {
          const std::string what = std::string(dtype_name(dt)) + " n=" + std::to_string(n) + " seed " +
                                   std::to_string(seed) + " offset " + std::to_string(off);
          Tensor u = Tensor::empty({n}, dt, kCpu), z = Tensor::empty({n}, dt, kCpu);
          cpu::uniform(u, seed, off, -1.0, 2.0);
          cpu::normal(z, seed, off, 2.0, 0.5);
          Tensor su = Tensor::empty({n}, dt, kSim), sz = Tensor::empty({n}, dt, kSim);
          cudasim::uniform(su, seed, off, -1.0, 2.0);
          cudasim::normal(sz, seed, off, 2.0, 0.5);
          expect_identical("uniform " + what, su, u);
          expect_identical("normal " + what, sz, z);
        }
  Tensor i = Tensor::empty({4}, DType::i32, kSim);
  EXPECT_THROWS(ops::uniform(i.shape(), i.dtype(), kSim, 1, 0, 0, 1), ErrorCode::DType);
  EXPECT_THROWS(ops::normal(i.shape(), i.dtype(), kSim, 1, 0, 0, 1), ErrorCode::DType);
}

// ---- the device backend ------------------------------------------------------------------------

ADVPROP_NATIVE_TEST(cudasim_backend_reports_one_device) {
  DeviceBackend& b = sim_backend();
  EXPECT(b.type() == DeviceType::cuda_sim);
  EXPECT(b.available());
  EXPECT_EQ(b.device_count(), 1);
  DeviceInfo info = b.info(0);
  EXPECT(!info.name.empty());
  EXPECT(info.max_threads_per_block > 0 && info.warp_size == 32);
  EXPECT_THROWS(b.info(1), ErrorCode::Device);
  EXPECT_THROWS(b.allocate(16, 3), ErrorCode::Device);
}

ADVPROP_NATIVE_TEST(cudasim_allocator_caches_and_accounts) {
  DeviceBackend& b = sim_backend();
  b.empty_cache();
  const MemoryStats s0 = b.stats(0);
  EXPECT_EQ(s0.bytes_cached, 0);
  EXPECT_EQ(s0.bytes_reserved, s0.bytes_in_use);

  // Zero bytes: distinct non-null blocks of the smallest size.
  void* z1 = b.allocate(0, 0);
  void* z2 = b.allocate(0, 0);
  EXPECT(z1 && z2 && z1 != z2);
  MemoryStats s1 = b.stats(0);
  EXPECT_EQ(s1.live_tensors - s0.live_tensors, 2);
  EXPECT_EQ(s1.bytes_in_use - s0.bytes_in_use, 1024);
  b.deallocate(z1, 0, 0);
  b.deallocate(z2, 0, 0);

  // 1000 and 1024 bytes share a 512-byte-multiple bin: the freed block is handed out again.
  void* p = b.allocate(1000, 0);
  b.deallocate(p, 1000, 0);
  const MemoryStats s2 = b.stats(0);
  void* q = b.allocate(1024, 0);
  const MemoryStats s3 = b.stats(0);
  EXPECT(q == p);
  EXPECT_EQ(s3.system_allocs, s2.system_allocs);
  EXPECT_EQ(s3.alloc_calls, s2.alloc_calls + 1);
  EXPECT_EQ(s2.bytes_cached - s3.bytes_cached, 1024);

  // Above 1 MiB: 8 bins per power of two (3 MiB + 1 byte takes 3.25 MiB).
  void* big = b.allocate((size_t(3) << 20) + 1, 0);
  EXPECT_EQ(b.stats(0).bytes_in_use - s3.bytes_in_use, (int64_t(13) << 18));
  b.deallocate(big, (size_t(3) << 20) + 1, 0);
  b.deallocate(q, 1024, 0);
  const MemoryStats s4 = b.stats(0);
  EXPECT_EQ(s4.live_tensors, s0.live_tensors);
  EXPECT_EQ(s4.bytes_in_use, s0.bytes_in_use);
  EXPECT_EQ(s4.bytes_reserved, s4.bytes_in_use + s4.bytes_cached);
  EXPECT(s4.bytes_cached > 0);
  b.empty_cache();
  const MemoryStats s5 = b.stats(0);
  EXPECT_EQ(s5.bytes_cached, 0);
  EXPECT_EQ(s5.bytes_reserved, s5.bytes_in_use);
  b.deallocate(nullptr, 0, 0);  // ignored, as free(nullptr)
}

ADVPROP_NATIVE_TEST(cudasim_copies_round_trip) {
  for (int64_t n : {1, 7, 4099}) {
    Tensor h = random_cpu({n}, DType::f32, 5, -1, 1);
    Tensor d = to_sim(h), d2 = Tensor::empty({n}, DType::f32, kSim);
    sim_backend().copy_on_device(d2.data(), d.data(), d.nbytes(), 0);
    sim_backend().synchronize(0);
    expect_identical("copy round trip n=" + std::to_string(n), d2, h);
  }
  sim_backend().copy_to_host(nullptr, nullptr, 0, 0);  // empty copies are no-ops
}

#if !defined(__SANITIZE_ADDRESS__)
// Under AddressSanitizer a petabyte request aborts inside the sanitizer instead of failing.
ADVPROP_NATIVE_TEST(cudasim_out_of_memory_is_err_oom) {
  try {
    sim_backend().allocate(size_t(1) << 50, 0);
    test::record_failure(__FILE__, __LINE__, "a 1 PiB allocation succeeded");
  } catch (const Error& e) {
    EXPECT(e.code() == ErrorCode::OOM);
    EXPECT_MSG(std::string(e.what()).find("1125899906842624 bytes") != std::string::npos, e.what());
  }
}
#endif

}  // namespace
}  // namespace advprop
#endif  // ADVPROP_WITH_SIM
