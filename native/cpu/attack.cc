// CPU PGD kernels: the reference for advprop/attack.h.
//
// The L∞ step is one pass, split at sample boundaries so the inner loop sees scalar eps/alpha
// and vectorises (a bf16/f16 gradient, widened per element, is the same loop on 2-byte loads). The L2 kernels need per-sample norms: the sums follow the lane/chunk order
// defined in attack.h (the CUDA kernels use it too), each chunk a task of its own, so the result
// depends on the shapes alone, not on the thread count.
//
// Contraction of a * b + c into an FMA would make the AVX-512 clone round differently from the
// others (and from CUDA, which the shared helpers keep uncontracted too).
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "advprop/dtype_dispatch.h"
#include "advprop/attack.h"
#include "advprop/error.h"
#include "advprop/parallel.h"
#include "advprop/philox.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {


template <typename T, typename G>
ADVPROP_CPU_CLONES void linf_span(const T* xa, const G* g, const T* x, T* out, int64_t len, T eps, T alpha, T lo,
                                  T hi) {
  for (int64_t i = 0; i < len; ++i) out[i] = linf_step_one(xa[i], grad_as<T>(g[i]), x[i], eps, alpha, lo, hi);
}

// Calls f(n, begin, end) for the pieces of [lo, hi) that lie in one sample of d elements.
template <typename F>
void by_sample(int64_t lo, int64_t hi, int64_t d, F&& f) {
  for (int64_t i = lo; i < hi;) {
    const int64_t n = i / d, end = std::min(hi, (n + 1) * d);
    f(n, i, end);
    i = end;
  }
}

// Chunk sums of squares of value(n, j) (j the index in sample n), in the attack.h order, then
// the per-sample totals in chunk order.
template <typename V>
std::vector<double> sample_sumsq(int64_t nsamples, int64_t d, V&& value) {
  const int64_t chunks = sum_chunks(d);
  std::vector<double> part(static_cast<size_t>(nsamples * chunks), 0.0);
  parallel_for(0, nsamples * chunks, std::max<int64_t>(1, kGrainCostly / kSumChunk), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / chunks, base = (t % chunks) * kSumChunk;
      double lane[kSumLanes] = {};
      if (base + kSumChunk <= d) {  // a whole chunk: no bounds test, so the lanes vectorise
        for (int64_t step = 0; step < kSumChunk / kSumLanes; ++step)
          for (int64_t l = 0; l < kSumLanes; ++l) lane[l] = add_square(lane[l], value(n, base + step * kSumLanes + l));
      } else {
        for (int64_t step = 0; step < kSumChunk / kSumLanes; ++step)
          for (int64_t l = 0; l < kSumLanes; ++l) {
            const int64_t j = base + step * kSumLanes + l;
            if (j < d) lane[l] = add_square(lane[l], value(n, j));
          }
      }
      part[static_cast<size_t>(t)] = fold_lanes(lane);
    }
  });
  std::vector<double> total(static_cast<size_t>(nsamples), 0.0);
  for (int64_t n = 0; n < nsamples; ++n)
    for (int64_t c = 0; c < chunks; ++c) total[n] = total[n] + part[static_cast<size_t>(n * chunks + c)];
  return total;
}

template <typename T, typename G>
void step_typed(const PgdView<T, G>& v) {
  const int64_t numel = v.numel, nsamples = v.nsamples, d = v.d;
  const T *xa = v.xa, *x = v.x;
  const G* g = v.g;
  T* out = v.out;
  const PerSample<T> eps = v.eps, alpha = v.alpha;
  const T lo = v.lo, hi = v.hi;
  if (v.norm == AttackNorm::linf) {
    parallel_for(0, numel, kGrainCheap, [&](int64_t i0, int64_t i1) {
      by_sample(i0, i1, d, [&](int64_t n, int64_t b, int64_t e) {
        linf_span(xa + b, g + b, x + b, out + b, e - b, eps.at(n), alpha.at(n), lo, hi);
      });
    });
    return;
  }
  const std::vector<double> gg =
      sample_sumsq(nsamples, d, [&](int64_t n, int64_t j) { return double(grad_as<T>(g[n * d + j])); });
  std::vector<double> step(static_cast<size_t>(nsamples));
  for (int64_t n = 0; n < nsamples; ++n) step[n] = l2_step_factor(double(alpha.at(n)), gg[n]);
  const std::vector<double> dd = sample_sumsq(nsamples, d, [&](int64_t n, int64_t j) {
    const int64_t i = n * d + j;
    return l2_delta(double(xa[i]), double(grad_as<T>(g[i])), double(x[i]), step[n]);
  });
  std::vector<double> proj(static_cast<size_t>(nsamples));
  for (int64_t n = 0; n < nsamples; ++n) proj[n] = l2_project_factor(double(eps.at(n)), dd[n]);
  parallel_for(0, numel, kGrainCheap, [&](int64_t i0, int64_t i1) {
    by_sample(i0, i1, d, [&](int64_t n, int64_t b, int64_t e) {
      const double sa = step[n], sp = proj[n];
      for (int64_t i = b; i < e; ++i) {
        const double di = l2_delta(double(xa[i]), double(grad_as<T>(g[i])), double(x[i]), sa);
        out[i] = clamp_to(static_cast<T>(add_rn(double(x[i]), mul_rn(sp, di))), lo, hi);
      }
    });
  });
}

// G is only there because the view carries it: the random start reads no gradient.
template <typename T, typename G>
void random_start_typed(const PgdView<T, G>& v, uint64_t seed, uint64_t offset) {
  const int64_t numel = v.numel, nsamples = v.nsamples, d = v.d;
  const T* x = v.x;
  T* out = v.out;
  const PerSample<T> eps = v.eps;
  const T lo = v.lo, hi = v.hi;
  if (v.norm == AttackNorm::linf) {
    parallel_for(0, numel, kGrainCostly, [&](int64_t i0, int64_t i1) {
      by_sample(i0, i1, d, [&](int64_t n, int64_t b, int64_t e) {
        const double en = double(eps.at(n));
        if (!v.map.identity()) {
          for (int64_t i = b; i < e; ++i) {
            const double u = philox_uniform_element(seed, offset, v.map.element(uint64_t(i), uint64_t(d)));
            out[i] = clamp_to(static_cast<T>(std::fma(en, 2.0 * u - 1.0, double(x[i]))), lo, hi);
          }
          return;
        }
        for (int64_t i = b; i < e;) {
          const Philox4 blk = philox_block(seed, offset, static_cast<uint64_t>(i));
          for (int64_t lane = i & 3; lane < 4 && i < e; ++lane, ++i) {
            const double r = 2.0 * double(philox_uniform01(blk.v[lane])) - 1.0;  // exact
            out[i] = clamp_to(static_cast<T>(std::fma(en, r, double(x[i]))), lo, hi);
          }
        }
      });
    });
    return;
  }
  const std::vector<double> zz = sample_sumsq(nsamples, d, [&](int64_t n, int64_t j) {
    return double(random_start_normal<T>(seed, offset, v.map.element(static_cast<uint64_t>(n * d + j), uint64_t(d))));
  });
  std::vector<double> radius(static_cast<size_t>(nsamples));
  for (int64_t n = 0; n < nsamples; ++n) {
    const double u = philox_uniform_element(seed, offset, random_start_radius_index(v.map, nsamples, d, n));
    radius[n] = l2_start_factor(double(eps.at(n)), u, d, zz[n]);
  }
  parallel_for(0, numel, kGrainCostly, [&](int64_t i0, int64_t i1) {
    by_sample(i0, i1, d, [&](int64_t n, int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const double z = double(random_start_normal<T>(seed, offset, v.map.element(uint64_t(i), uint64_t(d))));
        out[i] = clamp_to(static_cast<T>(std::fma(radius[n], z, double(x[i]))), lo, hi);
      }
    });
  });
}

}  // namespace

void pgd_step(const PgdArgs& a, const Tensor& x_adv, const Tensor& grad, const Tensor& x, Tensor& out) {
  with_pgd_view("pgdStep", a, &x_adv, &grad, x, out, [](const auto& v) { step_typed(v); });
}

void pgd_random_start(const PgdArgs& a, const Tensor& x, uint64_t seed, uint64_t offset, Tensor& out) {
  with_pgd_view("pgdRandomStart", a, nullptr, nullptr, x, out, [&](const auto& v) { random_start_typed(v, seed, offset); });
}

}  // namespace cpu
}  // namespace advprop
