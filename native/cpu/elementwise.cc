// CPU elementwise kernels: the reference for elementwise.h and fast enough to train on.
//
// Every kernel is "per-element function inline, whole-chunk loop cloned per ISA, chunks spread
// over the pool". The loops are plain indexed loops over contiguous arrays so g++ vectorises them;
// the broadcast fast paths exist only to keep a modulo out of those loops.
//
// Contracting a * b + c into an FMA would make the AVX-512 clone (whose ISA includes FMA)
// round differently from the AVX2 and baseline ones; with it off every CPU gives the same bits.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "advprop/elementwise.h"
#include "advprop/error.h"
#include "advprop/parallel.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

[[noreturn]] void bad_dtype(const char* op, DType t) {
  fail(ErrorCode::DType, std::string(op) + ": unsupported dtype " + dtype_name(t));
}

void require_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    fail(ErrorCode::DType, std::string(op) + ": dtype mismatch " + dtype_name(a.dtype()) + " vs " +
                               dtype_name(b.dtype()));
}

void require_numel(const char* op, const Tensor& t, int64_t n) {
  if (t.numel() != n)
    fail(ErrorCode::Shape, std::string(op) + ": expected " + std::to_string(n) + " elements, got " +
                               shape_str(t.shape()));
}

// Calls f(T{}) for the element type `t`: f32 or f64, and i32 when kWithInt.
template <bool kWithInt, typename F>
void with_type(DType t, const char* op, F&& f) {
  if (t == DType::f32) return f(float{});
  if (t == DType::f64) return f(double{});
  if constexpr (kWithInt) {
    if (t == DType::i32) return f(int32_t{});
  }
  bad_dtype(op, t);
}

// ---- fill and cast --------------------------------------------------------------------------

// Float to int32 is defined the way CUDA's cvt.rzi.s32 does it, so backends agree on every
// input: truncate toward zero (a C cast), saturate values outside int32, NaN becomes 0.
// A bare C cast would be undefined behaviour for those inputs.
template <typename D, typename S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, int32_t> && std::is_floating_point_v<S>) {
    if (!(v == v)) return 0;
    if (v <= S(-2147483648.0)) return std::numeric_limits<int32_t>::min();
    if (v >= S(2147483647.0)) return std::numeric_limits<int32_t>::max();
    return static_cast<int32_t>(v);
  } else {
    return static_cast<D>(v);
  }
}

template <typename T>
ADVPROP_CPU_CLONES void fill_span(T* out, T value, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

template <typename D, typename S>
ADVPROP_CPU_CLONES void cast_span(const S* src, D* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = convert<D>(src[i]);
}

// ---- binary ---------------------------------------------------------------------------------

template <BinaryOp OP, typename T>
inline T apply(T x, T y) {
  if constexpr (OP == BinaryOp::add) return x + y;
  if constexpr (OP == BinaryOp::sub) return x - y;
  if constexpr (OP == BinaryOp::mul) return x * y;
  if constexpr (OP == BinaryOp::div) return x / y;
}

// `rows` rows of `len` outputs; operand rows advance by a_step / b_step elements (0 = the same row
// every time, which is how a repeating operand is read).
template <BinaryOp OP, typename T>
ADVPROP_CPU_CLONES void binary_rows(const T* a, int64_t a_step, const T* b, int64_t b_step, T* out,
                                    int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* ar = a + r * a_step;
    const T* br = b + r * b_step;
    T* o = out + r * len;
    for (int64_t j = 0; j < len; ++j) o[j] = apply<OP>(ar[j], br[j]);
  }
}

// Rows shorter than this waste the vector loop, so a short period is tiled up to at least it.
constexpr int64_t kMinRow = 64;

template <BinaryOp OP, typename T>
void binary_typed(const T* a, int64_t na, const T* b, int64_t nb, T* out, int64_t n) {
  if (na == n && nb == n) {
    parallel_for(0, n, kGrainCheap,
                 [&](int64_t lo, int64_t hi) { binary_rows<OP>(a + lo, 0, b + lo, 0, out + lo, 1, hi - lo); });
    return;
  }
  if (na == n || nb == n) {
    // One operand is full, the other repeats with period p (a scalar is period 1). Seen as rows
    // of `len` elements (a multiple of p), every row reads the same `len` elements of the short
    // operand. A row is parallel work; the last one may be shorter (still a multiple of p).
    const bool b_short = nb < n;
    const T* s = b_short ? b : a;
    const int64_t p = b_short ? nb : na;
    T tile[2 * kMinRow];
    int64_t len = p;
    if (p < kMinRow) {
      len = p * ((kMinRow + p - 1) / p);
      for (int64_t j = 0; j < len; ++j) tile[j] = s[j % p];
      s = tile;
    }
    const int64_t rows = n / len, tail = n - rows * len;
    parallel_for(0, rows + (tail ? 1 : 0), std::max<int64_t>(1, kGrainCheap / len), [&](int64_t lo, int64_t hi) {
      auto run = [&](int64_t r0, int64_t nrows, int64_t rlen) {
        const int64_t off = r0 * len;
        if (b_short)
          binary_rows<OP>(a + off, len, s, 0, out + off, nrows, rlen);
        else
          binary_rows<OP>(s, 0, b + off, len, out + off, nrows, rlen);
      };
      const int64_t full_hi = std::min(hi, rows);
      if (full_hi > lo) run(lo, full_hi - lo, len);
      if (hi > rows) run(rows, 1, tail);
    });
    return;
  }
  // Both operands repeat (neither has n elements): rare, so the plain definition, with running
  // indices instead of a modulo per element.
  parallel_for(0, n, kGrainCheap, [&](int64_t lo, int64_t hi) {
    int64_t ia = lo % na, ib = lo % nb;
    for (int64_t i = lo; i < hi; ++i) {
      out[i] = apply<OP>(a[ia], b[ib]);
      if (++ia == na) ia = 0;
      if (++ib == nb) ib = 0;
    }
  });
}

// ---- unary ----------------------------------------------------------------------------------

// f32 uses the vectorisable exp_f32 (simd.h); f64, which exists for gradient checks, uses libm.
inline float exp_t(float x) { return exp_f32(x); }
inline double exp_t(double x) { return std::exp(x); }

template <typename T>
inline T sigmoid(T x) { return T(1) / (T(1) + exp_t(-x)); }

// s = sigmoid(x) and sn = 1 - s = sigmoid(-x) from one exp(-|x|). Forming 1 - s by subtraction
// would lose every digit of the gradient once s rounds to 1 (x above ~9 in f32, ~37 in f64).
// e * d feeds both selects so that g++ cannot move it under a condition (see exp_f32).
template <typename T>
inline void sigmoid_pair(T x, T& s, T& sn) {
  const T e = exp_t(-std::fabs(x));  // in (0, 1]
  const T d = T(1) / (T(1) + e);
  const T ed = e * d;
  const bool neg = x < T(0);
  s = neg ? ed : d;
  sn = neg ? d : ed;
}

template <UnaryOp OP, typename T>
inline T forward(T x, T alpha) {
  if constexpr (OP == UnaryOp::scale) return alpha * x;
  if constexpr (OP == UnaryOp::add_scalar) return x + alpha;
  if constexpr (OP == UnaryOp::silu) return x * sigmoid(x);
  if constexpr (OP == UnaryOp::sigmoid) return sigmoid(x);
  // `x < 0 ? 0 : x` rather than max(x, 0): a NaN passes through instead of being hidden.
  if constexpr (OP == UnaryOp::relu) return x < T(0) ? T(0) : x;
  if constexpr (OP == UnaryOp::exp) return exp_t(x);
  if constexpr (OP == UnaryOp::log) return std::log(x);
  if constexpr (OP == UnaryOp::square) return x * x;
  if constexpr (OP == UnaryOp::neg) return -x;
}

// dy * f'(x). relu'(0) = 0, so a unit sitting exactly at the kink passes no gradient.
template <UnaryOp OP, typename T>
inline T backward(T x, T dy, T alpha) {
  if constexpr (OP == UnaryOp::scale) return dy * alpha;
  if constexpr (OP == UnaryOp::add_scalar) return dy;
  if constexpr (OP == UnaryOp::silu) {
    T s, sn;
    sigmoid_pair(x, s, sn);
    return dy * (s * (T(1) + x * sn));
  }
  if constexpr (OP == UnaryOp::sigmoid) {
    T s, sn;
    sigmoid_pair(x, s, sn);
    return dy * (s * sn);
  }
  if constexpr (OP == UnaryOp::relu) return x > T(0) ? dy : T(0);
  if constexpr (OP == UnaryOp::exp) return dy * exp_t(x);
  if constexpr (OP == UnaryOp::log) return dy / x;
  if constexpr (OP == UnaryOp::square) return dy * (x + x);
  if constexpr (OP == UnaryOp::neg) return -dy;
}

template <UnaryOp OP, typename T>
ADVPROP_CPU_CLONES void unary_span(const T* x, T alpha, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = forward<OP>(x[i], alpha);
}

template <UnaryOp OP, typename T>
ADVPROP_CPU_CLONES void unary_backward_span(const T* x, const T* dy, T alpha, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = backward<OP>(x[i], dy[i], alpha);
}

constexpr bool is_costly(UnaryOp op) {
  return op == UnaryOp::silu || op == UnaryOp::sigmoid || op == UnaryOp::exp || op == UnaryOp::log;
}

template <UnaryOp V>
using UnaryTag = std::integral_constant<UnaryOp, V>;

// Calls f(UnaryTag<op>{}) so the op becomes a template argument.
template <typename F>
void with_unary_op(UnaryOp op, const char* what, F&& f) {
  switch (op) {
    case UnaryOp::scale: return f(UnaryTag<UnaryOp::scale>{});
    case UnaryOp::add_scalar: return f(UnaryTag<UnaryOp::add_scalar>{});
    case UnaryOp::silu: return f(UnaryTag<UnaryOp::silu>{});
    case UnaryOp::sigmoid: return f(UnaryTag<UnaryOp::sigmoid>{});
    case UnaryOp::relu: return f(UnaryTag<UnaryOp::relu>{});
    case UnaryOp::exp: return f(UnaryTag<UnaryOp::exp>{});
    case UnaryOp::log: return f(UnaryTag<UnaryOp::log>{});
    case UnaryOp::square: return f(UnaryTag<UnaryOp::square>{});
    case UnaryOp::neg: return f(UnaryTag<UnaryOp::neg>{});
  }
  fail(ErrorCode::Arg, std::string(what) + ": unknown unary op " + std::to_string(static_cast<int>(op)));
}

}  // namespace

void fill(Tensor& out, double value) {
  const int64_t n = out.numel();
  if (n == 0) return;
  with_type<true>(out.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data_as<T>();
    const T v = convert<T>(value);
    parallel_for(0, n, kGrainCheap, [&](int64_t lo, int64_t hi) { fill_span(o + lo, v, hi - lo); });
  });
}

void cast(const Tensor& src, Tensor& dst) {
  const int64_t n = src.numel();
  require_numel("cast", dst, n);
  if (n == 0) return;
  with_type<true>(src.dtype(), "cast", [&](auto stag) {
    using S = decltype(stag);
    with_type<true>(dst.dtype(), "cast", [&](auto dtag) {
      using D = decltype(dtag);
      const S* s = src.data_as<S>();
      D* d = dst.data_as<D>();
      parallel_for(0, n, kGrainCheap, [&](int64_t lo, int64_t hi) { cast_span<D, S>(s + lo, d + lo, hi - lo); });
    });
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const char* name = "binary";
  require_same_dtype(name, a, out);
  require_same_dtype(name, b, out);
  const int64_t n = out.numel(), na = a.numel(), nb = b.numel();
  if (n == 0) return;
  if (na == 0 || nb == 0 || n % na != 0 || n % nb != 0)
    fail(ErrorCode::Shape, std::string(name) + ": cannot broadcast a " + shape_str(a.shape()) + " and b " +
                               shape_str(b.shape()) + " to out " + shape_str(out.shape()));
  with_type<false>(out.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data_as<T>();
    const T* pb = b.data_as<T>();
    T* po = out.data_as<T>();
    switch (op) {
      case BinaryOp::add: return binary_typed<BinaryOp::add>(pa, na, pb, nb, po, n);
      case BinaryOp::sub: return binary_typed<BinaryOp::sub>(pa, na, pb, nb, po, n);
      case BinaryOp::mul: return binary_typed<BinaryOp::mul>(pa, na, pb, nb, po, n);
      case BinaryOp::div: return binary_typed<BinaryOp::div>(pa, na, pb, nb, po, n);
    }
    fail(ErrorCode::Arg, std::string(name) + ": unknown binary op " + std::to_string(static_cast<int>(op)));
  });
}

void unary(UnaryOp op, const Tensor& x, double alpha, Tensor& out) {
  require_same_dtype("unary", x, out);
  const int64_t n = x.numel();
  require_numel("unary", out, n);
  if (n == 0) return;
  with_type<false>(x.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_as<T>();
    T* po = out.data_as<T>();
    // alpha is rounded to the element type first; the arithmetic is then done in that type.
    const T a = static_cast<T>(alpha);
    with_unary_op(op, "unary", [&](auto optag) {
      constexpr UnaryOp OP = decltype(optag)::value;
      parallel_for(0, n, is_costly(OP) ? kGrainCostly : kGrainCheap,
                   [&](int64_t lo, int64_t hi) { unary_span<OP>(px + lo, a, po + lo, hi - lo); });
    });
  });
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& dy, double alpha, Tensor& dx) {
  const char* name = "unary_backward";
  require_same_dtype(name, x, dy);
  require_same_dtype(name, x, dx);
  const int64_t n = x.numel();
  require_numel(name, dy, n);
  require_numel(name, dx, n);
  if (n == 0) return;
  with_type<false>(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_as<T>();
    const T* pdy = dy.data_as<T>();
    T* pdx = dx.data_as<T>();
    const T a = static_cast<T>(alpha);
    with_unary_op(op, name, [&](auto optag) {
      constexpr UnaryOp OP = decltype(optag)::value;
      parallel_for(0, n, is_costly(OP) ? kGrainCostly : kGrainCheap, [&](int64_t lo, int64_t hi) {
        unary_backward_span<OP>(px + lo, pdy + lo, a, pdx + lo, hi - lo);
      });
    });
  });
}

}  // namespace cpu
}  // namespace advprop
