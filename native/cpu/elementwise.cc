// CPU elementwise kernels: the reference for elementwise.h and fast enough to train on.
//
// Every kernel is "per-element function inline, whole-chunk loop cloned per ISA, chunks spread
// over the pool". The loops are plain indexed loops over contiguous arrays so g++ vectorises them;
// the broadcast fast paths exist only to keep a modulo out of those loops.
//
// bf16 and f16 (binary, unary and its backward) run the same loops: each element is widened to
// f32 (to_accum), computed in f32 and rounded once on the store (from_accum), which for f32 and
// f64 are identities, so their code and bits are unchanged. The 16-bit loops are left to the
// compiler (the conversions are integer work that it may or may not vectorise); the f32 fast path
// is untouched. Their unary ops use the C library's expf/logf (StdMath) instead of the cpu's
// exp_f32, which is what the cuda source computes on cuda-sim, so cpu and cuda-sim give the same
// 16-bit bits for every op.
//
// Contracting a * b + c into an FMA would make the AVX-512 clone (whose ISA includes FMA)
// round differently from the AVX2 and baseline ones; with it off every CPU gives the same bits.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "advprop/dtype_dispatch.h"
#include "advprop/elementwise.h"
#include "advprop/error.h"
#include "advprop/parallel.h"
#include "advprop/pointwise.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

// ---- fill and cast --------------------------------------------------------------------------

template <typename T>
ADVPROP_CPU_CLONES void fill_span(T* out, T value, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

template <typename D, typename S>
ADVPROP_CPU_CLONES void cast_span(const S* src, D* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = convert<D>(src[i]);
}

// ---- binary ---------------------------------------------------------------------------------

// `rows` rows of `len` outputs; operand rows advance by a_step / b_step elements (0 = the same row
// every time, which is how a repeating operand is read).
template <BinaryOp OP, typename T>
ADVPROP_CPU_CLONES void binary_rows(const T* a, int64_t a_step, const T* b, int64_t b_step, T* out,
                                    int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* ar = a + r * a_step;
    const T* br = b + r * b_step;
    T* o = out + r * len;
    for (int64_t j = 0; j < len; ++j) o[j] = from_accum<T>(binary_apply<OP>(to_accum(ar[j]), to_accum(br[j])));
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
      out[i] = from_accum<T>(binary_apply<OP>(to_accum(a[ia]), to_accum(b[ib])));
      if (++ia == na) ia = 0;
      if (++ib == nb) ib = 0;
    }
  });
}

// ---- unary ----------------------------------------------------------------------------------

// The unary ops' math policy (advprop/pointwise.h). f32 uses the vectorisable exp_f32 (simd.h);
// f64, which exists for gradient checks, uses libm.
struct Math : StdMath {
  using StdMath::exp;
  static float exp(float x) { return exp_f32(x); }
  template <typename T>
  static T exp_neg_abs(T x) { return exp(-std::fabs(x)); }
};

// The policy of storage type T: the 16-bit types compute as cuda-sim does (see the top).
template <typename T>
using MathOf = std::conditional_t<sizeof(T) == 2, StdMath, Math>;

template <UnaryOp OP, typename T>
ADVPROP_CPU_CLONES void unary_span(const T* x, Accum<T> alpha, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = from_accum<T>(unary_op_forward<OP, MathOf<T>>(to_accum(x[i]), alpha));
}

template <UnaryOp OP, typename T>
ADVPROP_CPU_CLONES void unary_backward_span(const T* x, const T* dy, Accum<T> alpha, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    dx[i] = from_accum<T>(unary_op_backward<OP, MathOf<T>>(to_accum(x[i]), to_accum(dy[i]), alpha));
}

}  // namespace

void fill(Tensor& out, double value) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_dtype<StorageTypes>(out.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data_as<T>();
    const T v = convert<T>(value);
    parallel_for(0, n, kGrainCheap, [&](int64_t lo, int64_t hi) { fill_span(o + lo, v, hi - lo); });
  });
}

void cast(const Tensor& src, Tensor& dst) {
  const int64_t n = src.numel();
  ADVPROP_ASSERT(dst.numel() == n);
  if (n == 0) return;
  dispatch_dtype<StorageTypes>(src.dtype(), "cast", [&](auto stag) {
    using S = decltype(stag);
    dispatch_dtype<StorageTypes>(dst.dtype(), "cast", [&](auto dtag) {
      using D = decltype(dtag);
      const S* s = src.data_as<S>();
      D* d = dst.data_as<D>();
      parallel_for(0, n, kGrainCheap, [&](int64_t lo, int64_t hi) { cast_span<D, S>(s + lo, d + lo, hi - lo); });
    });
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel(), na = a.numel(), nb = b.numel();
  if (n == 0) return;
  ADVPROP_ASSERT(a.dtype() == out.dtype() && b.dtype() == out.dtype());
  ADVPROP_ASSERT(na > 0 && nb > 0 && n % na == 0 && n % nb == 0);
  dispatch_dtype<MixedFloatTypes>(out.dtype(), "binary", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data_as<T>();
    const T* pb = b.data_as<T>();
    T* po = out.data_as<T>();
    with_enum(op, "binary", [&](auto optag) { binary_typed<decltype(optag)::value>(pa, na, pb, nb, po, n); });
  });
}

void unary(UnaryOp op, const Tensor& x, double alpha, Tensor& out) {
  const int64_t n = x.numel();
  ADVPROP_ASSERT(x.dtype() == out.dtype() && out.numel() == n);
  if (n == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_as<T>();
    T* po = out.data_as<T>();
    // alpha is rounded to the arithmetic type first (f32 for the 16-bit types, not to 16 bits);
    // the arithmetic is then done in that type.
    const Accum<T> a = static_cast<Accum<T>>(alpha);
    with_enum(op, "unary", [&](auto optag) {
      constexpr UnaryOp OP = decltype(optag)::value;
      parallel_for(0, n, unary_op_costly(OP) ? kGrainCostly : kGrainCheap,
                   [&](int64_t lo, int64_t hi) { unary_span<OP>(px + lo, a, po + lo, hi - lo); });
    });
  });
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& dy, double alpha, Tensor& dx) {
  const int64_t n = x.numel();
  ADVPROP_ASSERT(dy.dtype() == x.dtype() && dx.dtype() == x.dtype() && dy.numel() == n && dx.numel() == n);
  if (n == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), "unary_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data_as<T>();
    const T* pdy = dy.data_as<T>();
    T* pdx = dx.data_as<T>();
    const Accum<T> a = static_cast<Accum<T>>(alpha);
    with_enum(op, "unary_backward", [&](auto optag) {
      constexpr UnaryOp OP = decltype(optag)::value;
      parallel_for(0, n, unary_op_costly(OP) ? kGrainCostly : kGrainCheap, [&](int64_t lo, int64_t hi) {
        unary_backward_span<OP>(px + lo, pdy + lo, a, pdx + lo, hi - lo);
      });
    });
  });
}

}  // namespace cpu
}  // namespace advprop
