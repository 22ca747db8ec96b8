// CPU global average pooling and channel scale (contract: advprop/pool.h). Every loop runs with
// the channel innermost over contiguous memory so g++ vectorises across channels; spatial sums
// split H*W into chunks whose size depends only on C, so the order of every sum is fixed by the
// shape and not by the thread count.
//
// bf16 and f16 run the same loops through to_accum/from_accum (identities for f32 and f64, whose
// code is unchanged): elements widened to f32, spatial partials kept in f32 (Accum<T>), every
// stored value rounded once to T. The 16-bit loops are whatever the compiler makes of the
// conversions (f16's widening has a loop for subnormals, so it stays scalar).
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cstdint>
#include <vector>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/parallel.h"
#include "advprop/pointwise.h"
#include "advprop/pool.h"
#include "pool_sums.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

constexpr int64_t kChunkElems = 1 << 14;  // elements of x per spatial chunk

// The row loops below are cloned per ISA (simd.h): built for baseline x86-64 alone they ran on
// 4-wide SSE with alias checks on every row of C, at 17-27 GB/s on sums that stream memory.
// Widening the vectors changes no sum's order: each acc[c] still adds its rows one by one.

// acc[c0 + c] += the column c0 + c of `rows` rows of a, for c < B, with the B sums in registers.
template <typename T, typename A, int B>
__attribute__((always_inline)) inline void sum_rows_block(const T* __restrict a, A* __restrict acc, int64_t rows,
                                                          int64_t C, int64_t c0) {
  A r[B];
  for (int c = 0; c < B; ++c) r[c] = acc[c0 + c];
  for (int64_t p = 0; p < rows; ++p) {
    const T* ra = a + p * C + c0;
    for (int c = 0; c < B; ++c) r[c] += to_accum(ra[c]);
  }
  for (int c = 0; c < B; ++c) acc[c0 + c] = r[c];
}

// acc[c] += sum over `rows` consecutive rows of a * (b or 1), in row order; with dx, also
// dx = a * sr in the same pass.
template <typename T, typename A = Accum<T>>
ADVPROP_CPU_CLONES void sum_rows(const T* __restrict a, const T* __restrict b, const T* __restrict sr,
                                 T* __restrict dx, A* __restrict acc, int64_t rows, int64_t C) {
  if (dx) {
    for (int64_t p = 0; p < rows; ++p) {
      const T* ra = a + p * C;
      const T* rb = b + p * C;
      T* o = dx + p * C;
      for (int64_t c = 0; c < C; ++c) acc[c] += to_accum(ra[c]) * to_accum(rb[c]);
      for (int64_t c = 0; c < C; ++c) o[c] = from_accum<T>(to_accum(ra[c]) * to_accum(sr[c]));
    }
  } else if (b) {
    for (int64_t p = 0; p < rows; ++p) {
      const T* ra = a + p * C;
      const T* rb = b + p * C;
      for (int64_t c = 0; c < C; ++c) acc[c] += to_accum(ra[c]) * to_accum(rb[c]);
    }
  } else {
    // Blocks of 32, then 16, channels with their sums in registers over all the rows: acc[c] in
    // memory made every row a store and a reload of it (a store-forwarding wait per row). Each
    // acc[c] still adds the rows one by one, in order.
    int64_t c0 = 0;
    for (; c0 + 32 <= C; c0 += 32) sum_rows_block<T, A, 32>(a, acc, rows, C, c0);
    if (c0 + 16 <= C) sum_rows_block<T, A, 16>(a, acc, rows, C, c0), c0 += 16;
    if (c0 < C)
      for (int64_t p = 0; p < rows; ++p) {
        const T* ra = a + p * C;
        for (int64_t c = c0; c < C; ++c) acc[c] += to_accum(ra[c]);
      }
  }
}

// out[n, c] = scale * the sum in double, in chunk order, of partial[n, k, c] over the chunks k.
template <typename T, typename A = Accum<T>>
void spatial_total(const A* partial, int64_t N, int64_t nchunks, int64_t C, double scale, T* out) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double total = 0.0;
      for (int64_t k = 0; k < nchunks; ++k) total += static_cast<double>(partial[(n * nchunks + k) * C + c]);
      out[n * C + c] = from_double<T>(total * scale);
    }
}

// out[n, c] = scale * sum_p a[n, p, c] * (b ? b[n, p, c] : 1), and, when dx is non-null,
// dx[n, p, c] = a[n, p, c] * s[n, c] in the same pass (the channel scale's backward reads dy once).
// Work items are (sample, chunk of positions) with the chunk size fixed by C alone
// (spatial_chunk); each sums its positions in order in Accum<T> (a whole row of C at a time,
// vectorised), and the chunk partials are added in chunk order in double (spatial_total).
template <typename T>
void spatial_sum(const T* a, const T* b, double scale, T* out, const T* s, T* dx, int64_t N, int64_t P, int64_t C) {
  using A = Accum<T>;
  const int64_t chunk = spatial_chunk(C);
  const int64_t nchunks = std::max<int64_t>(1, (P + chunk - 1) / chunk);
  std::vector<A> partial(static_cast<size_t>(N * nchunks * C), A(0));
  parallel_for(0, N * nchunks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t n = item / nchunks, p0 = (item % nchunks) * chunk, p1 = std::min(P, p0 + chunk);
      if (p1 <= p0) continue;
      const int64_t base = (n * P + p0) * C;
      sum_rows<T>(a + base, b ? b + base : nullptr, s ? s + n * C : nullptr, dx ? dx + base : nullptr,
                  partial.data() + item * C, p1 - p0, C);
    }
  });
  spatial_total<T>(partial.data(), N, nchunks, C, scale, out);
}

// Rows r0..r1 of out [N*P, C] = (a ? a : 1) * s[n, c] * scale, with n = r / P.
template <typename T, typename A = Accum<T>>
ADVPROP_CPU_CLONES void broadcast_rows(const T* __restrict a, const T* __restrict s, A scale, T* __restrict out,
                                       int64_t r0, int64_t r1, int64_t P, int64_t C) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* sr = s + (r / P) * C;
    T* o = out + r * C;
    if (a) {
      const T* ar = a + r * C;
      if (scale == A(1))
        for (int64_t c = 0; c < C; ++c) o[c] = from_accum<T>(to_accum(ar[c]) * to_accum(sr[c]));
      else
        for (int64_t c = 0; c < C; ++c) o[c] = from_accum<T>(to_accum(ar[c]) * to_accum(sr[c]) * scale);
    } else {
      for (int64_t c = 0; c < C; ++c) o[c] = from_accum<T>(to_accum(sr[c]) * scale);
    }
  }
}

// Rows r0..r1 of out [N*P, C] = a * s[n, c] + b[n, c], with n = r / P.
template <typename T>
ADVPROP_CPU_CLONES void scale_add_rows(const T* __restrict a, const T* __restrict s, const T* __restrict b,
                                       T* __restrict out, int64_t r0, int64_t r1, int64_t P, int64_t C) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* sr = s + (r / P) * C;
    const T* br = b + (r / P) * C;
    const T* ar = a + r * C;
    T* o = out + r * C;
    for (int64_t c = 0; c < C; ++c) o[c] = mul_store_add(ar[c], to_accum(sr[c]), br[c]);
  }
}

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, C)); }

// out[n, p, c] = (a ? a[n, p, c] : 1) * s[n, c] * scale
template <typename T>
void spatial_broadcast(const T* a, const T* s, Accum<T> scale, T* out, int64_t N, int64_t P, int64_t C) {
  parallel_for(0, N * P, row_grain(C), [&](int64_t lo, int64_t hi) { broadcast_rows<T>(a, s, scale, out, lo, hi, P, C); });
}

// out[n, p, c] = a[n, p, c] * s[n, c] + b[n, c]
template <typename T>
void spatial_scale_add(const T* a, const T* s, const T* b, T* out, int64_t N, int64_t P, int64_t C) {
  parallel_for(0, N * P, row_grain(C), [&](int64_t lo, int64_t hi) { scale_add_rows<T>(a, s, b, out, lo, hi, P, C); });
}

}  // namespace

int64_t spatial_chunk(int64_t C) { return std::max<int64_t>(1, kChunkElems / std::max<int64_t>(1, C)); }

void spatial_accumulate(const float* a, float* acc, int64_t rows, int64_t C) {
  sum_rows<float>(a, nullptr, nullptr, nullptr, acc, rows, C);
}

void spatial_finish(const float* partial, int64_t N, int64_t P, int64_t C, float* out) {
  const int64_t nchunks = std::max<int64_t>(1, (P + spatial_chunk(C) - 1) / spatial_chunk(C));
  spatial_total<float>(partial, N, nchunks, C, pool_scale(P), out);
}

void global_avg_pool_forward(const Tensor& x, Tensor& y) {
  const char* op = "global_avg_pool_forward";
  const PoolSizes sz = pool_sizes(x, {{&y, true}});
  if (y.numel() == 0) return;
  const double scale = pool_scale(sz.p);
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    spatial_sum<T>(x.data_as<T>(), nullptr, scale, y.data_as<T>(), nullptr, nullptr, sz.n, sz.p, sz.c);
  });
}

void global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  const char* op = "global_avg_pool_backward";
  const PoolSizes sz = pool_sizes(dx, {{&dy, true}});
  if (dx.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(dx.dtype(), op, [&](auto t) {
    using T = decltype(t);
    using A = Accum<T>;
    spatial_broadcast<T>(nullptr, dy.data_as<T>(), A(1) / static_cast<A>(sz.p), dx.data_as<T>(), sz.n, sz.p, sz.c);
  });
}

void channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y) {
  const char* op = "channel_scale_forward";
  const PoolSizes sz = pool_sizes(x, {{&s, true}, {&y, false}});
  if (y.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    spatial_broadcast<T>(x.data_as<T>(), s.data_as<T>(), Accum<T>(1), y.data_as<T>(), sz.n, sz.p, sz.c);
  });
}

void channel_scale_backward(const Tensor& x, const Tensor& s, const Tensor& dy, Tensor* dx, Tensor* ds) {
  const char* op = "channel_scale_backward";
  const PoolSizes sz = pool_sizes(x, {{&s, true}, {&dy, false}, {dx, false}, {ds, true}});
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    if (ds && ds->numel())  // with dx in the same pass when both are wanted
      spatial_sum<T>(dy.data_as<T>(), x.data_as<T>(), 1.0, ds->data_as<T>(), s.data_as<T>(),
                     dx ? dx->data_as<T>() : nullptr, sz.n, sz.p, sz.c);
    else if (dx && dx->numel())
      spatial_broadcast<T>(dy.data_as<T>(), s.data_as<T>(), Accum<T>(1), dx->data_as<T>(), sz.n, sz.p, sz.c);
  });
}

void channel_scale_add(const Tensor& x, const Tensor& s, const Tensor& b, Tensor& y) {
  const char* op = "channel_scale_add";
  const PoolSizes sz = pool_sizes(x, {{&s, true}, {&b, true}, {&y, false}});
  if (y.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    spatial_scale_add<T>(x.data_as<T>(), s.data_as<T>(), b.data_as<T>(), y.data_as<T>(), sz.n, sz.p, sz.c);
  });
}

}  // namespace cpu
}  // namespace advprop
