// CPU sum over axes (the plan comes from make_reduce_plan, native/ops/reduce.cc).
//
// Accumulation is in double for f32 and f64 inputs: a single rounding at the end keeps f32 sums
// of millions of elements at f32 accuracy, and the double adds cost nothing next to the loads.
// bf16 and f16 take the same loops: each element widened exactly (to_accum, then to double) and
// the double total rounded once to 16 bits (from_double), so the f32 and f64 code is unchanged.
//
// Determinism: the order in which each output is summed depends on the shapes alone. The work is
// cut into tasks (a group of outputs x a chunk of the reduced range) by shape-only rules, each
// task writes its own slot, and chunk partials are added in chunk order. The thread count only
// decides who runs a task.
//
// Contracting a * b + c into an FMA would make the AVX-512 clone (whose ISA includes FMA)
// round differently from the AVX2 and baseline ones; with it off every CPU gives the same bits.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <vector>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/parallel.h"
#include "advprop/reduce.h"
#include "simd.h"

namespace advprop {

namespace cpu {
namespace {

// An element as the double the sums add: exact for every storage type.
template <typename T>
inline double wide(T v) {
  return static_cast<double>(to_accum(v));
}

// Elements read by one task, and the most tasks a reduction is cut into.
constexpr int64_t kTaskElems = int64_t(1) << 16;
constexpr int64_t kMaxTasks = 256;
// Outputs along a contiguous kept axis summed together: their accumulators stay in L1.
constexpr int64_t kTile = 1024;
// Independent accumulator chains in a contiguous sum: enough to hide the add latency, and a
// fixed number so that every ISA clone adds in the same order.
constexpr int kLanes = 16;

template <typename T>
inline double sum_contig(const T* x, int64_t n) {
  double lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += wide(x[i + l]);
  double tail = 0;
  for (; i < n; ++i) tail += wide(x[i]);
  if (n < kLanes) return tail;
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] += lane[l + w];
  return lane[0] + tail;
}

// Offsets of consecutive flat indices over dims (sizes, strides), outermost first: one division
// per dim to start, then an odometer step per index.
struct Walker {
  int n;
  const int64_t *size, *stride;
  int64_t idx[kMaxDims];
  int64_t off = 0;
  Walker(int n_, const int64_t* size_, const int64_t* stride_, int64_t start) : n(n_), size(size_), stride(stride_) {
    for (int d = n - 1; d >= 0; --d) {
      idx[d] = start % size[d];
      off += idx[d] * stride[d];
      start /= size[d];
    }
  }
  void next() {
    for (int d = n - 1; d >= 0; --d) {
      off += stride[d];
      if (++idx[d] < size[d]) return;
      off -= size[d] * stride[d];
      idx[d] = 0;
    }
  }
};

// The reduced range [r0, r1) is walked in runs along the innermost reduced dim (contiguous when
// its stride is 1), so index arithmetic happens per run, not per element. The walk is written
// out in both kernels rather than shared through a lambda, which could end up compiled outside
// the ISA clone.

// Innermost axis reduced (or no axis contiguous): each output o in [o0, o1) is one sum of the
// reduced elements r in [r0, r1), written to dst[o - o0].
template <typename T>
ADVPROP_CPU_CLONES void sum_outputs(const T* x, const ReducePlan& p, int64_t o0, int64_t o1, int64_t r0,
                                    int64_t r1, double* dst) {
  const int64_t size = p.n_red ? p.red_size[p.n_red - 1] : 1;
  const int64_t stride = p.n_red ? p.red_stride[p.n_red - 1] : 0;
  const int n_outer = p.n_red ? p.n_red - 1 : 0;
  const Walker first_run(n_outer, p.red_size, p.red_stride, r0 / size);
  const int64_t first_pos = r0 % size;
  Walker kept(p.n_kept, p.kept_size, p.kept_stride, o0);
  for (int64_t o = o0; o < o1; ++o, kept.next()) {
    const T* base = x + kept.off;
    Walker outer = first_run;
    double acc = 0;
    for (int64_t r = r0, pos = first_pos; r < r1; pos = 0, outer.next()) {
      const int64_t len = std::min(size - pos, r1 - r);
      const T* run = base + outer.off + pos * stride;
      if (stride == 1) {
        acc += sum_contig(run, len);
      } else {
        for (int64_t j = 0; j < len; ++j) acc += wide(run[j * stride]);
      }
      r += len;
    }
    dst[o - o0] = acc;
  }
}

// Innermost axis kept: the outputs [o0, o0 + w) are adjacent in x, so each reduced element adds a
// contiguous row of w values into w accumulators (vectorised across outputs, while each output
// is still summed in plain r order).
template <typename T>
ADVPROP_CPU_CLONES void sum_row_block(const T* x, const ReducePlan& p, int64_t o0, int64_t w, int64_t r0,
                                      int64_t r1, double* __restrict acc) {
  const int64_t size = p.n_red ? p.red_size[p.n_red - 1] : 1;
  const int64_t stride = p.n_red ? p.red_stride[p.n_red - 1] : 0;
  const int n_outer = p.n_red ? p.n_red - 1 : 0;
  for (int64_t k = 0; k < w; ++k) acc[k] = 0;
  const T* base = x + Walker(p.n_kept, p.kept_size, p.kept_stride, o0).off;
  Walker outer(n_outer, p.red_size, p.red_stride, r0 / size);
  for (int64_t r = r0, pos = r0 % size; r < r1; pos = 0, outer.next()) {
    const int64_t len = std::min(size - pos, r1 - r);
    const T* run = base + outer.off + pos * stride;
    for (int64_t j = 0; j < len; ++j) {
      const T* row = run + j * stride;
      for (int64_t k = 0; k < w; ++k) acc[k] += wide(row[k]);
    }
    r += len;
  }
}

template <typename T>
void sum_typed(const T* x, const ReducePlan& p, double scale, T* out) {
  const int64_t O = p.out_count, R = p.reduce_count;
  if (O == 0) return;
  if (R == 0) {
    std::fill(out, out + O, from_double<T>(0.0));
    return;
  }
  // A unit is a group of outputs summed together: one output, or a tile of up to kTile
  // outputs along a contiguous kept axis.
  const bool rows = p.n_kept > 0 && p.kept_stride[p.n_kept - 1] == 1;
  const int64_t inner = rows ? p.kept_size[p.n_kept - 1] : 1;
  const int64_t tiles = rows ? (inner + kTile - 1) / kTile : 1;
  const int64_t width = rows ? std::min(inner, kTile) : 1;  // outputs per unit, at most
  const int64_t units = O / inner * tiles;
  // Too few units for the pool: cut the reduced range into S chunks as well.
  const int64_t want = std::clamp<int64_t>(O * R / kTaskElems, 1, kMaxTasks);
  int64_t S = units >= want ? 1 : std::min(R, (want + units - 1) / units);
  const int64_t chunk = (R + S - 1) / S;
  S = (R + chunk - 1) / chunk;
  std::vector<double> partial(S > 1 ? static_cast<size_t>(S * O) : 0);
  const int64_t grain = std::max<int64_t>(1, kTaskElems / (width * chunk));

  parallel_for(0, units * S, grain, [&](int64_t t0, int64_t t1) {
    double acc[kTile];
    for (int64_t t = t0; t < t1;) {
      const int64_t u = t % units, s = t / units;
      const int64_t r0 = s * chunk, r1 = std::min(R, r0 + chunk);
      int64_t o0, w;
      if (rows) {
        const int64_t tile = u % tiles;
        o0 = u / tiles * inner + tile * kTile;
        w = std::min(kTile, inner - tile * kTile);
        sum_row_block(x, p, o0, w, r0, r1, acc);
        t += 1;
      } else {
        // Single outputs are batched into one call, all from the same reduced chunk s.
        o0 = u;
        w = std::min({t1 - t, units - u, kTile});
        sum_outputs(x, p, o0, o0 + w, r0, r1, acc);
        t += w;
      }
      if (S == 1) {
        for (int64_t k = 0; k < w; ++k) out[o0 + k] = from_double<T>(scale * acc[k]);
      } else {
        std::copy(acc, acc + w, partial.begin() + s * O + o0);
      }
    }
  });
  if (S == 1) return;
  parallel_for(0, O, kTaskElems / S + 1, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      double total = 0;
      for (int64_t s = 0; s < S; ++s) total += partial[s * O + o];
      out[o] = from_double<T>(scale * total);
    }
  });
}

}  // namespace

void sum(const Tensor& x, const ReducePlan& plan, double scale, Tensor& out) {
  assert_plan_fits(plan, x, out);
  dispatch_dtype<MixedFloatTypes>(x.dtype(), "sum", [&](auto t) {
    using T = decltype(t);
    sum_typed(x.data_as<T>(), plan, scale, out.data_as<T>());
  });
}

namespace {

template <typename T>
void sum_backward_typed(const T* dy, const ReducePlan& p, double scale, T* dx) {
  const int64_t total = p.out_count * p.reduce_count;
  parallel_for(0, total, 65536, [&](int64_t lo, int64_t hi) {
    int64_t o = lo / p.reduce_count, r = lo % p.reduce_count;
    int64_t base = p.kept_offset(o);
    T v = from_double<T>(scale * wide(dy[o]));
    for (int64_t i = lo; i < hi; ++i) {
      dx[base + p.red_offset(r)] = v;
      if (++r == p.reduce_count && i + 1 < hi) {
        r = 0;
        ++o;
        base = p.kept_offset(o);
        v = from_double<T>(scale * wide(dy[o]));
      }
    }
  });
}

}  // namespace

void sum_backward(const Tensor& dy, const ReducePlan& plan, double scale, Tensor& dx) {
  assert_plan_fits(plan, dx, dy);
  if (dx.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(dy.dtype(), "sumBackward", [&](auto t) {
    using T = decltype(t);
    sum_backward_typed(dy.data_as<T>(), plan, scale, dx.data_as<T>());
  });
}

}  // namespace cpu
}  // namespace advprop
