// Shared by gemm_tc_cpu_test.cc (the cpu twin) and gemm_tc_test.cc (the tensor-core kernel on
// cuda-sim): problems in bf16, f16 and tf32, an f64 reference from the rounded inputs, and the
// tolerances, whose reasoning is here.
//
// Let S = |alpha| * sum_p |a_ip b_pj| + |beta c_ij| (inputs as rounded) and x the f32 value
// alpha * acc + beta * c a backend forms before its one rounding to the output type. The
// products are exact; k f32 additions in any order, the alpha and beta products and the final
// addition put x within gamma * S of the exact value, gamma = (k + 3) * 2^-24 (the worst case of
// recursive summation; it holds for the tensor cores' 16-product chunks and the simulator's
// correctly rounded ones alike). The output rounding adds at most u * |x|, u = 2^-8 (bf16), 2^-11
// (f16) or 0 (tf32: the output is the f32 x), and half the type's smallest subnormal spacing.
// - Against the f64 reference r: |C - r| <= u |r| + (1 + u) gamma S + tiny.
// - Between two backends (different summation orders): |C1 - C2| <= 2 gamma S + u (|C1| + |C2|)
//   + 2 tiny, i.e. the two x differ by at most 2 gamma S, and where they straddle a rounding
//   boundary of the 16-bit type the results differ by one ulp (u (|C1| + |C2|) bounds that ulp).
// With small-integer inputs and moderate k every sum is exact in f32, so every backend must give
// the reference's bits: the layout and indexing tests use that.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "advprop/gemm.h"
#include "advprop/half.h"
#include "advprop/tensor.h"
#include "harness.h"

namespace advprop {
namespace test {
namespace lowp {

enum class Mode { bf16, f16, tf32 };
constexpr Mode kModes[] = {Mode::bf16, Mode::f16, Mode::tf32};

inline DType dtype_of(Mode m) { return m == Mode::bf16 ? DType::bf16 : m == Mode::f16 ? DType::f16 : DType::f32; }
inline const char* mode_name(Mode m) { return m == Mode::bf16 ? "bf16" : m == Mode::f16 ? "f16" : "tf32"; }
inline double unit_roundoff(Mode m) { return m == Mode::bf16 ? 0x1p-8 : m == Mode::f16 ? 0x1p-11 : 0.0; }
// Half the spacing of the output type's subnormals (f32's is far below anything tested).
inline double tiny(Mode m) { return m == Mode::f16 ? 0x1p-25 : 0x1p-134; }

// Element i of a cpu tensor, widened exactly.
inline double elem(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::bf16: return to_f32(t.data_as<bf16>()[i]);
    case DType::f16: return to_f32(t.data_as<f16>()[i]);
    case DType::f32: return t.data_as<float>()[i];
    case DType::f64: return t.data_as<double>()[i];
    default: return std::nan("");
  }
}
// Stores v rounded to the tensor's type (once, to nearest even).
inline void put(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DType::bf16: t.data_as<bf16>()[i] = to_bf16(v); break;
    case DType::f16: t.data_as<f16>()[i] = to_f16(v); break;
    case DType::f32: t.data_as<float>()[i] = static_cast<float>(v); break;
    case DType::f64: t.data_as<double>()[i] = v; break;
    default: break;
  }
}
// An operand element as the GEMM multiplies it.
inline double operand(Mode m, const Tensor& t, int64_t i) {
  const double v = elem(t, i);
  return m == Mode::tf32 ? round_to_tf32(static_cast<float>(v)) : v;
}

struct Case {
  bool ta = false, tb = false;
  int64_t m = 1, n = 1, k = 1;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra elements per stored row
  double alpha = 1, beta = 0;
};

inline std::string describe(const Case& c, Mode md) {
  return std::string(mode_name(md)) + " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) +
         " k=" + std::to_string(c.k) + (c.ta ? " ta" : "") + (c.tb ? " tb" : "") + " pads=" + std::to_string(c.pad_a) +
         "/" + std::to_string(c.pad_b) + "/" + std::to_string(c.pad_c) + " alpha=" + describe_double(c.alpha) +
         " beta=" + describe_double(c.beta);
}

inline int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

struct Problem {
  GemmArgs g;
  Tensor a, b, c0;  // cpu tensors; c0 is C before the call
};

// Operands uniform in [-1, 1] or, with `integers`, small integers in [-3, 3]; A's and B's padding
// is NaN (never read), C is NaN when beta == 0 (ignored) and its padding 7 (left alone).
inline Problem make_problem(const Case& cs, Mode md, uint32_t seed, bool integers = false) {
  Problem p;
  GemmArgs& g = p.g;
  g.trans_a = cs.ta, g.trans_b = cs.tb, g.m = cs.m, g.n = cs.n, g.k = cs.k;
  g.lda = (cs.ta ? cs.m : cs.k) + cs.pad_a;
  g.ldb = (cs.tb ? cs.k : cs.n) + cs.pad_b;
  g.ldc = cs.n + cs.pad_c;
  g.alpha = cs.alpha, g.beta = cs.beta, g.tf32 = md == Mode::tf32;
  const DType dt = dtype_of(md);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  std::uniform_int_distribution<int> whole(-3, 3);
  auto value = [&]() { return integers ? static_cast<double>(whole(rng)) : real(rng); };
  auto fill = [&](Tensor& t, int64_t rows, int64_t cols, int64_t ld, bool nan_inside, double pad) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      const bool inside = ld > 0 && (i % ld) < cols && i / ld < rows;
      put(t, i, inside ? (nan_inside ? std::nan("") : value()) : pad);
    }
  };
  const int64_t ar = cs.ta ? cs.k : cs.m, ac = cs.ta ? cs.m : cs.k, br = cs.tb ? cs.n : cs.k, bc = cs.tb ? cs.k : cs.n;
  p.a = Tensor::empty({std::max<int64_t>(1, span(ar, ac, g.lda))}, dt, Device{});
  p.b = Tensor::empty({std::max<int64_t>(1, span(br, bc, g.ldb))}, dt, Device{});
  p.c0 = Tensor::empty({std::max<int64_t>(1, cs.m * g.ldc)}, dt, Device{});
  fill(p.a, ar, ac, g.lda, false, std::nan(""));
  fill(p.b, br, bc, g.ldb, false, std::nan(""));
  fill(p.c0, cs.m, cs.n, g.ldc, cs.beta == 0.0, 7.0);
  return p;
}

// Per element of C (padding included): the exact result from the rounded inputs and S.
struct Reference {
  std::vector<double> want, scale;
};
inline Reference reference(const Problem& p, Mode md) {
  const GemmArgs& g = p.g;
  Reference r;
  const int64_t nc = p.c0.numel();
  r.want.resize(nc);
  r.scale.assign(nc, 0.0);
  for (int64_t i = 0; i < nc; ++i) r.want[i] = elem(p.c0, i);
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      double s = 0, sa = 0;
      for (int64_t q = 0; q < g.k; ++q) {
        const double x = operand(md, p.a, g.trans_a ? q * g.lda + i : i * g.lda + q);
        const double y = operand(md, p.b, g.trans_b ? j * g.ldb + q : q * g.ldb + j);
        s += x * y;
        sa += std::fabs(x * y);
      }
      const int64_t o = i * g.ldc + j;
      const double old = r.want[o];
      r.want[o] = g.alpha * s + (g.beta == 0.0 ? 0.0 : g.beta * old);
      r.scale[o] = std::fabs(g.alpha) * sa + (g.beta == 0.0 ? 0.0 : std::fabs(g.beta * old));
    }
  return r;
}

// w rounded once to the output type.
inline double rounded(Mode md, double w) {
  return md == Mode::bf16 ? to_f32(to_bf16(w)) : md == Mode::f16 ? to_f32(to_f16(w)) : static_cast<float>(w);
}
inline bool inside_c(const GemmArgs& g, int64_t i) { return g.m > 0 && g.n > 0 && (i % g.ldc) < g.n && i / g.ldc < g.m; }
inline double gamma(const GemmArgs& g) { return static_cast<double>(g.k + 3) * 0x1p-24; }
inline bool same_bits(const Tensor& x, const Tensor& y) {
  return x.nbytes() == y.nbytes() && std::memcmp(x.data(), y.data(), x.nbytes()) == 0;
}

// Checks `got` (a cpu tensor) against the reference: within tolerance inside C (exactly, when
// `exact`), and padding untouched. Returns the number of bad elements, recording the first few.
inline int64_t check_reference(const Problem& p, Mode md, const Tensor& got, const std::string& what, bool exact,
                               const char* file, int line) {
  const Reference r = reference(p, md);
  const double u = unit_roundoff(md), gm = gamma(p.g);
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double v = elem(got, i), w = r.want[i];
    bool ok;
    if (!inside_c(p.g, i)) ok = (std::isnan(w) && std::isnan(v)) || v == w;
    else if (exact) ok = v == rounded(md, w);
    else ok = std::isfinite(v) && std::fabs(v - w) <= u * std::fabs(w) + (1 + u) * gm * r.scale[i] + tiny(md);
    if (!ok && bad++ < 4) first += " [" + std::to_string(i) + "] got " + describe_double(v) + " want " + describe_double(w) + ";";
  }
  if (bad)
    record_failure(file, line, what + ": " + std::to_string(bad) + " of " + std::to_string(got.numel()) + " elements off:" + first);
  return bad;
}

// Two backends' results for the same problem, by the bound between backends above.
inline int64_t check_between(const Problem& p, Mode md, const Tensor& x, const Tensor& y, const std::string& what,
                             const char* file, int line) {
  const Reference r = reference(p, md);
  const double u = unit_roundoff(md), gm = gamma(p.g);
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = elem(x, i), w = elem(y, i);
    const bool ok = inside_c(p.g, i) ? std::fabs(v - w) <= 2 * gm * r.scale[i] + u * (std::fabs(v) + std::fabs(w)) + 2 * tiny(md)
                                     : (v == w || (std::isnan(v) && std::isnan(w)));
    if (!ok && bad++ < 4) first += " [" + std::to_string(i) + "] " + describe_double(v) + " vs " + describe_double(w) + ";";
  }
  if (bad)
    record_failure(file, line, what + ": " + std::to_string(bad) + " of " + std::to_string(x.numel()) + " elements differ:" + first);
  return bad;
}

}  // namespace lowp
}  // namespace test
}  // namespace advprop
