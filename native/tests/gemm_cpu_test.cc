// The CPU GEMM (native/cpu/gemm.cc) against a naive triple loop in double: awkward and prime
// sizes, every transpose combination, padded leading dimensions, alpha/beta variants, the
// EfficientNet-B0 1x1-convolution shapes, determinism, and bad arguments.
//
// Tolerance: a sum of k products rounded in T, in any order, is within about k * eps(T) *
// sum_p |a_ip b_pj| of the exact sum (the worst case; typical errors grow like sqrt(k)). Each
// element is checked against (k + 2) * eps * (|alpha| sum_p |a_ip b_pj| + |beta c_ij|), and the
// f32 EfficientNet shapes also against a relative norm error below 1e-5.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "advprop/gemm.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace cpu {
// Test hooks defined in native/cpu/gemm.cc.
void set_gemm_tile_grain(int64_t grain);
bool set_gemm_isa(int level);
}  // namespace cpu

namespace {

using test::get;
using test::set;

Tensor make(int64_t n, DType dt) { return Tensor::empty({n}, dt, Device{}); }

std::string num(double v) { return test::describe_double(v); }

struct Case {
  bool ta = false, tb = false;
  int64_t m = 1, n = 1, k = 1;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra elements per stored row
  double alpha = 1, beta = 0;
};

std::string describe(const Case& c, DType dt) {
  return std::string(dtype_name(dt)) + " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) +
         " k=" + std::to_string(c.k) + " ta=" + std::to_string(c.ta) + " tb=" + std::to_string(c.tb) +
         " pads=" + std::to_string(c.pad_a) + "/" + std::to_string(c.pad_b) + "/" + std::to_string(c.pad_c) +
         " alpha=" + num(c.alpha) + " beta=" + num(c.beta);
}

struct Problem {
  GemmArgs g;
  Tensor a, b, c;
};

// Random operands; padding of A and B is NaN (must never be read), C is NaN when beta == 0
// (must be ignored) and its padding holds a sentinel (must stay untouched).
Problem make_problem(const Case& cs, DType dt, uint32_t seed) {
  Problem p;
  GemmArgs& g = p.g;
  g.trans_a = cs.ta;
  g.trans_b = cs.tb;
  g.m = cs.m;
  g.n = cs.n;
  g.k = cs.k;
  const int64_t a_rows = cs.ta ? cs.k : cs.m, a_cols = cs.ta ? cs.m : cs.k;
  const int64_t b_rows = cs.tb ? cs.n : cs.k, b_cols = cs.tb ? cs.k : cs.n;
  g.lda = a_cols + cs.pad_a;
  g.ldb = b_cols + cs.pad_b;
  g.ldc = cs.n + cs.pad_c;
  g.alpha = cs.alpha;
  g.beta = cs.beta;
  p.a = make(a_rows * g.lda, dt);
  p.b = make(b_rows * g.ldb, dt);
  p.c = make(cs.m * g.ldc, dt);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1, 1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t i = 0; i < p.a.numel(); ++i) set(p.a, i, i % g.lda < a_cols ? dist(gen) : nan);
  for (int64_t i = 0; i < p.b.numel(); ++i) set(p.b, i, i % g.ldb < b_cols ? dist(gen) : nan);
  for (int64_t i = 0; i < p.c.numel(); ++i)
    set(p.c, i, i % g.ldc >= cs.n ? 12345.0 : cs.beta == 0 ? nan : dist(gen));
  return p;
}

double a_at(const Problem& p, int64_t i, int64_t q) {
  return get(p.a, p.g.trans_a ? q * p.g.lda + i : i * p.g.lda + q);
}
double b_at(const Problem& p, int64_t q, int64_t j) {
  return get(p.b, p.g.trans_b ? j * p.g.ldb + q : q * p.g.ldb + j);
}

// Runs the case and checks every element; returns the relative norm error.
double check_case(const Case& cs, DType dt, uint32_t seed = 1) {
  Problem p = make_problem(cs, dt, seed);
  const GemmArgs& g = p.g;
  // Reference from the stored (already rounded) inputs, before C is overwritten; op(A) and
  // op(B)^T are first copied out as rows of k doubles so the loop runs over contiguous memory.
  std::vector<double> av(static_cast<size_t>(cs.m * cs.k)), bv(static_cast<size_t>(cs.n * cs.k));
  for (int64_t q = 0; q < cs.k; ++q) {
    for (int64_t i = 0; i < cs.m; ++i) av[i * cs.k + q] = a_at(p, i, q);
    for (int64_t j = 0; j < cs.n; ++j) bv[j * cs.k + q] = b_at(p, q, j);
  }
  std::vector<double> ref(static_cast<size_t>(cs.m * cs.n)), scale(ref.size());
  for (int64_t i = 0; i < cs.m; ++i)
    for (int64_t j = 0; j < cs.n; ++j) {
      const double* ar = av.data() + i * cs.k;
      const double* br = bv.data() + j * cs.k;
      double s = 0, sa = 0;
      for (int64_t q = 0; q < cs.k; ++q) {
        const double prod = ar[q] * br[q];
        s += prod;
        sa += std::fabs(prod);
      }
      const double c0 = cs.beta == 0 ? 0.0 : get(p.c, i * g.ldc + j);
      ref[i * cs.n + j] = cs.alpha * s + cs.beta * c0;
      scale[i * cs.n + j] = std::fabs(cs.alpha) * sa + std::fabs(cs.beta * c0);
    }
  cpu::gemm(g, p.a, p.b, p.c);
  const double eps = dt == DType::f32 ? std::ldexp(1.0, -23) : std::ldexp(1.0, -52);
  const double tol = double(cs.k + 2) * eps;
  int64_t bad = 0;
  double err2 = 0, ref2 = 0;
  std::string first;
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < g.ldc; ++j) {
      const double got = get(p.c, i * g.ldc + j);
      if (j >= cs.n) {
        if (got != 12345.0 && bad++ < 4) first += " padding [" + std::to_string(i) + "," + std::to_string(j) + "] changed;";
        continue;
      }
      const double r = ref[i * cs.n + j];
      err2 += (got - r) * (got - r);
      ref2 += r * r;
      if (!(std::fabs(got - r) <= tol * scale[i * cs.n + j]) && bad++ < 4)
        first += " [" + std::to_string(i) + "," + std::to_string(j) + "] got " + num(got) + " want " + num(r) + ";";
    }
  }
  const double rel = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  if (bad)
    test::record_failure(__FILE__, __LINE__,
                         describe(cs, dt) + ": " + std::to_string(bad) + " elements off (rel. norm error " + num(rel) +
                             "):" + first);
  return rel;
}

const DType kTypes[] = {DType::f32, DType::f64};

ADVPROP_NATIVE_TEST(gemm_cpu_small_and_prime_shapes) {
  const int64_t sizes[] = {1, 2, 7, 13, 17, 97, 257};
  for (DType dt : kTypes)
    for (int64_t m : sizes)
      for (int64_t n : sizes)
        for (int64_t k : sizes) {
          if (m * n * k > 257 * 97 * 13) continue;  // keep the double reference quick under ASan
          Case c;
          c.m = m;
          c.n = n;
          c.k = k;
          check_case(c, dt, static_cast<uint32_t>(m * 1000003 + n * 1009 + k));
        }
}

ADVPROP_NATIVE_TEST(gemm_cpu_vectors_and_long_k) {
  for (DType dt : kTypes) {
    for (int64_t k : {1, 255, 256, 257, 513, 2000}) {
      Case c;
      c.k = k;  // 1 x k x 1: a dot product over several k blocks
      check_case(c, dt);
      c.m = 1;
      c.n = 300;  // a row vector times a matrix
      check_case(c, dt);
      c.m = 300;
      c.n = 1;  // a matrix times a column vector
      c.ta = true;
      check_case(c, dt);
    }
  }
}

ADVPROP_NATIVE_TEST(gemm_cpu_transposes_padding_alpha_beta) {
  const double ab[][2] = {{1, 0}, {-2.5, 0}, {1, 1}, {0.5, -1.5}, {0, 2}, {1, 0.25}};
  for (DType dt : kTypes)
    for (int t = 0; t < 4; ++t)
      for (const auto& v : ab)
        for (int padded = 0; padded < 2; ++padded) {
          Case c;
          c.ta = t & 1;
          c.tb = (t >> 1) & 1;
          c.m = 103;  // crosses the 96-row tile and the 6-row micro-tile
          c.n = 263;  // crosses the 256 / 128-column tile and the 16 / 8-column micro-tile
          c.k = 269;  // crosses the 256 k block
          c.alpha = v[0];
          c.beta = v[1];
          if (padded) {
            c.pad_a = 3;
            c.pad_b = 5;
            c.pad_c = 7;
          }
          check_case(c, dt, static_cast<uint32_t>(t * 100 + padded));
        }
}

// EfficientNet-B0's 1x1 convolutions (expand, project, head) at batch 2 and 7x7 / 14x14 spatial,
// as y[N*H*W, Cout] = x[N*H*W, Cin] w[Cout, Cin]^T, plus the two backward products.
ADVPROP_NATIVE_TEST(gemm_cpu_efficientnet_pointwise_shapes) {
  const int64_t pairs[][2] = {{16, 96}, {24, 144}, {144, 24}, {40, 240}, {240, 40}, {80, 480}, {480, 80},
                              {112, 672}, {672, 112}, {672, 192}, {192, 1152}, {1152, 192}, {1152, 320},
                              {320, 1280}};
  for (int64_t hw : {7 * 7, 14 * 14})
    for (const auto& pr : pairs) {
      const int64_t rows = 2 * hw, cin = pr[0], cout = pr[1];
      Case fwd;  // forward: [rows, cin] x [cout, cin]^T
      fwd.m = rows;
      fwd.k = cin;
      fwd.n = cout;
      fwd.tb = true;
      Case bwd_in;  // input gradient: [rows, cout] x [cout, cin]
      bwd_in.m = rows;
      bwd_in.k = cout;
      bwd_in.n = cin;
      Case bwd_w;  // weight gradient: dy^T [cout, rows] x x [rows, cin]
      bwd_w.m = cout;
      bwd_w.k = rows;
      bwd_w.n = cin;
      bwd_w.ta = true;
      for (const Case& c : {fwd, bwd_in, bwd_w}) {
        const double rel = check_case(c, DType::f32, static_cast<uint32_t>(rows + cin * 7 + cout));
        EXPECT_MSG(rel < 1e-5, describe(c, DType::f32) + ": rel. norm error " + num(rel));
      }
    }
}

// Few tiles of C and a long k take the split-k path (k cut into chunks summed in order): the
// weight gradient of a 1x1 convolution over a large batch of pixels, every transpose, alpha/beta
// and padding, with chunk counts from 2 to 16 and a ragged last chunk.
ADVPROP_NATIVE_TEST(gemm_cpu_split_k_long_reductions) {
  const int64_t shapes[][3] = {{96, 16, 2048}, {16, 96, 5003}, {32, 27, 25088}, {7, 300, 3000}, {200, 20, 4097}};
  for (DType dt : kTypes)
    for (const auto& s : shapes)
      for (int t = 0; t < 4; ++t) {
        Case c;
        c.m = s[0];
        c.n = s[1];
        c.k = s[2];
        c.ta = t & 1;
        c.tb = (t >> 1) & 1;
        c.alpha = t == 2 ? -0.5 : 1.0;
        c.beta = t == 3 ? 0.75 : 0.0;
        c.pad_a = t == 1 ? 3 : 0;
        c.pad_c = t == 3 ? 5 : 0;
        check_case(c, dt, static_cast<uint32_t>(s[0] * 31 + s[1] * 7 + s[2] + t));
      }
}

ADVPROP_NATIVE_TEST(gemm_cpu_empty_dimensions) {
  for (DType dt : kTypes) {
    // k == 0: C = beta * C, or zeros (even over NaN) when beta == 0.
    for (double beta : {0.0, 2.0}) {
      Case c;
      c.m = 5;
      c.n = 19;
      c.k = 0;
      c.beta = beta;
      c.pad_c = 2;
      check_case(c, dt);
    }
    // m == 0 or n == 0: nothing is written (C may be empty).
    GemmArgs g;
    g.m = 0;
    g.n = 4;
    g.k = 3;
    g.lda = 3;
    g.ldb = 4;
    g.ldc = 4;
    Tensor a = make(0, dt), b = make(12, dt), c = make(0, dt);
    for (int64_t i = 0; i < 12; ++i) set(b, i, 1.0);
    cpu::gemm(g, a, b, c);
    g.m = 3;
    g.n = 0;
    g.ldb = 0;
    g.ldc = 0;
    Tensor a2 = make(9, dt), b2 = make(0, dt);
    cpu::gemm(g, a2, b2, c);
  }
}

// Each tile of C is summed whole by one thread, so neither repeating a product nor grouping the
// tiles differently over the pool (one chunk = serial on one thread, one tile per chunk = spread
// over every thread) changes a bit.
ADVPROP_NATIVE_TEST(gemm_cpu_deterministic) {
  for (DType dt : kTypes) {
    Case cs;
    cs.m = 2 * 14 * 14;
    cs.n = 600;
    cs.k = 700;
    cs.tb = true;
    cs.beta = 0.5;
    Problem p = make_problem(cs, dt, 7);
    const Tensor c0 = p.c;
    std::vector<std::vector<unsigned char>> results;
    for (int64_t grain : {int64_t(0), int64_t(0), int64_t(1), int64_t(1) << 40, int64_t(3)}) {
      Tensor c = make(c0.numel(), dt);
      std::memcpy(c.data(), c0.data(), c0.nbytes());
      cpu::set_gemm_tile_grain(grain);
      cpu::gemm(p.g, p.a, p.b, c);
      const unsigned char* bytes = static_cast<const unsigned char*>(c.data());
      results.emplace_back(bytes, bytes + c.nbytes());
    }
    cpu::set_gemm_tile_grain(0);
    for (size_t i = 1; i < results.size(); ++i)
      EXPECT_MSG(results[i] == results[0], std::string(dtype_name(dt)) + ": run " + std::to_string(i) +
                                               " differs from run 0");
  }
}

// The baseline, AVX2 and AVX-512 micro-kernels (those this CPU has) give the same bits, with and
// without beta and over several k blocks.
ADVPROP_NATIVE_TEST(gemm_cpu_same_bits_on_every_isa) {
  for (DType dt : kTypes)
    for (int t = 0; t < 4; ++t) {
      Case cs;
      cs.ta = t & 1;
      cs.tb = (t >> 1) & 1;
      cs.m = t == 1 ? 40 : 101;  // t == 1: few tiles and a long k, the split-k path
      cs.n = t == 1 ? 24 : 150;
      cs.k = t == 1 ? 4500 : 600;
      cs.alpha = 0.75;
      cs.beta = t < 2 ? 0.0 : 1.25;
      Problem p = make_problem(cs, dt, 11 + t);
      const Tensor c0 = p.c;
      std::vector<unsigned char> want;
      int levels = 0;
      for (int level = 1; level <= 3; ++level) {
        if (!cpu::set_gemm_isa(level)) continue;
        ++levels;
        Tensor c = make(c0.numel(), dt);
        std::memcpy(c.data(), c0.data(), c0.nbytes());
        cpu::gemm(p.g, p.a, p.b, c);
        const unsigned char* bytes = static_cast<const unsigned char*>(c.data());
        std::vector<unsigned char> got(bytes, bytes + c.nbytes());
        if (want.empty()) want = got;
        else EXPECT_MSG(got == want, describe(cs, dt) + ": ISA level " + std::to_string(level) + " differs from baseline");
      }
      cpu::set_gemm_isa(0);
      EXPECT(levels >= 1);
    }
}

ADVPROP_NATIVE_TEST(gemm_cpu_bad_arguments) {
  GemmArgs g;
  g.m = 4;
  g.n = 5;
  g.k = 6;
  g.lda = 6;
  g.ldb = 5;
  g.ldc = 5;
  Tensor a = make(24, DType::f32), b = make(30, DType::f32), c = make(20, DType::f32);
  Tensor b64 = make(30, DType::f64), c64 = make(20, DType::f64);
  Tensor ai = make(24, DType::i32), bi = make(30, DType::i32), ci = make(20, DType::i32);
  cpu::gemm(g, a, b, c);  // the valid call the others perturb
  // gemm is backend-internal: the front-ends build its arguments, the kernel asserts the validator.
  EXPECT_THROWS(cpu::gemm(g, a, b64, c), ErrorCode::Internal);
  EXPECT_THROWS(check_gemm_args(g, a, b64, c, DeviceType::cpu), ErrorCode::DType);
  EXPECT_THROWS(check_gemm_args(g, a, b, c64, DeviceType::cpu), ErrorCode::DType);
  EXPECT_THROWS(check_gemm_args(g, ai, bi, ci, DeviceType::cpu), ErrorCode::DType);
  Tensor small_a = make(23, DType::f32), small_b = make(29, DType::f32), small_c = make(19, DType::f32);
  EXPECT_THROWS(check_gemm_args(g, small_a, b, c, DeviceType::cpu), ErrorCode::Shape);
  EXPECT_THROWS(check_gemm_args(g, a, small_b, c, DeviceType::cpu), ErrorCode::Shape);
  EXPECT_THROWS(check_gemm_args(g, a, b, small_c, DeviceType::cpu), ErrorCode::Shape);
  {
    GemmArgs t = g;  // transposed, A is stored [k, m] = [6, 4]
    t.trans_a = true;
    t.lda = 4;
    cpu::gemm(t, a, b, c);
    t.lda = 5;  // needs 5*5+4 = 29 > 24
    EXPECT_THROWS(check_gemm_args(t, a, b, c, DeviceType::cpu), ErrorCode::Shape);
    t.lda = 3;  // shorter than a row of 4
    EXPECT_THROWS(check_gemm_args(t, a, b, c, DeviceType::cpu), ErrorCode::Shape);
  }
  for (int field = 0; field < 6; ++field) {
    GemmArgs bad = g;
    int64_t* f[] = {&bad.m, &bad.n, &bad.k, &bad.lda, &bad.ldb, &bad.ldc};
    *f[field] = -1;
    EXPECT_THROWS(check_gemm_args(bad, a, b, c, DeviceType::cpu), ErrorCode::Shape);
  }
  {
    GemmArgs big = g;
    big.ldc = int64_t(1) << 62;  // (m - 1) * ldc overflows
    EXPECT_THROWS(check_gemm_args(big, a, b, c, DeviceType::cpu), ErrorCode::Shape);
  }
  // The message names the sizes and the offending shape.
  try {
    check_gemm_args(g, a, small_b, c, DeviceType::cpu);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_MSG(msg.find("m=4") != std::string::npos && msg.find("n=5") != std::string::npos &&
                   msg.find("k=6") != std::string::npos && msg.find("[29]") != std::string::npos,
               msg);
  }
  // C may not alias an input.
  Tensor sq = make(36, DType::f32), other = make(36, DType::f32);
  GemmArgs s;
  s.m = s.n = s.k = 6;
  s.lda = s.ldb = s.ldc = 6;
  EXPECT_THROWS(check_gemm_args(s, sq, other, sq, DeviceType::cpu), ErrorCode::Arg);
  EXPECT_THROWS(check_gemm_args(s, other, sq, sq, DeviceType::cpu), ErrorCode::Arg);
}

}  // namespace
}  // namespace advprop
