// CPU dropout / drop-connect: the reference for advprop/dropout.h. Each chunk walks its range
// one Philox block (four elements) at a time, so the mask depends on the element index alone.
// fp-contract=off: x * scale + r must round twice, as dropConnect then add does (see simd.h).
// bf16 and f16 run the same loops through to_accum/from_accum (identities for f32 and f64): the
// product and the sum in f32, each rounded to T (mul_store, mul_store_add in pointwise.h).
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cstdint>

#include "advprop/dropout.h"
#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/parallel.h"
#include "advprop/philox.h"
#include "advprop/pointwise.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

template <typename T>
void element_span(const T* x, T* out, int64_t lo, int64_t hi, double keep, Accum<T> scale, uint64_t seed,
                  uint64_t offset) {
  for (int64_t i = lo; i < hi;) {
    const Philox4 b = philox_block(seed, offset, static_cast<uint64_t>(i));
    for (int64_t lane = i & 3; lane < 4 && i < hi; ++lane, ++i)
      out[i] = double(philox_uniform01(b.v[lane])) <= keep ? mul_store(x[i], scale) : T{};
  }
}

// Per element with a sample map: each element's own index, one Philox evaluation per element
// (only data-parallel ranks take this path).
template <typename T>
void mapped_element_span(const T* x, T* out, int64_t lo, int64_t hi, const DropoutPlan& p, Accum<T> scale) {
  for (int64_t i = lo; i < hi; ++i) {
    const uint64_t c = p.map.element(static_cast<uint64_t>(i), static_cast<uint64_t>(p.row));
    out[i] = philox_uniform_element(p.seed, p.offset, c) <= p.keep ? mul_store(x[i], scale) : T{};
  }
}

template <typename T>
ADVPROP_CPU_CLONES void scale_span(const T* x, T* out, int64_t len, Accum<T> s) {
  for (int64_t i = 0; i < len; ++i) out[i] = mul_store(x[i], s);
}

template <typename T>
ADVPROP_CPU_CLONES void scale_add_span(const T* x, const T* r, T* out, int64_t len, Accum<T> s) {
  for (int64_t i = 0; i < len; ++i) out[i] = mul_store_add(x[i], s, r[i]);
}

// 0 + r rather than a copy: a -0 in r becomes +0, as in add(dropConnect(x), r).
template <typename T>
ADVPROP_CPU_CLONES void zero_add_span(const T* r, T* out, int64_t len) {
  for (int64_t i = 0; i < len; ++i) out[i] = from_accum<T>(Accum<T>(0) + to_accum(r[i]));
}

template <typename T>
void typed(const Tensor& xt, const DropoutPlan& p, Tensor& outt) {
  const int64_t n = outt.numel();
  const T* x = xt.data_as<T>();
  const T* r = p.residual ? p.residual->data_as<T>() : nullptr;
  T* out = outt.data_as<T>();
  const Accum<T> scale = static_cast<Accum<T>>(1.0 / p.keep);
  if (p.sample == 0 && !p.map.identity()) {
    parallel_for(0, n, kGrainCostly, [&](int64_t lo, int64_t hi) { mapped_element_span(x, out, lo, hi, p, scale); });
    return;
  }
  if (p.sample == 0) {
    parallel_for(0, n, kGrainCostly,
                 [&](int64_t lo, int64_t hi) { element_span(x, out, lo, hi, p.keep, scale, p.seed, p.offset); });
    return;
  }
  parallel_for(0, n, kGrainCheap, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi;) {
      const int64_t s = i / p.sample, end = std::min(hi, (s + 1) * p.sample);
      const bool kept = philox_uniform_element(p.seed, p.offset, p.map.sample(static_cast<uint64_t>(s))) <= p.keep;
      if (r && kept) scale_add_span(x + i, r + i, out + i, end - i, scale);
      else if (r) zero_add_span(r + i, out + i, end - i);
      else if (kept) scale_span(x + i, out + i, end - i, scale);
      else std::fill(out + i, out + end, T{});  // 0, not x * 0 (which is NaN for inf)
      i = end;
    }
  });
}

}  // namespace

void dropout(const Tensor& x, const DropoutPlan& p, Tensor& out) {
  assert_dropout_plan(x, p, out);
  dispatch_dtype<MixedFloatTypes>(out.dtype(), "dropout", [&](auto t) { typed<decltype(t)>(x, p, out); });
}

}  // namespace cpu
}  // namespace advprop
