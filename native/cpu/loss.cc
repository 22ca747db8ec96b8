// CPU softmax cross-entropy and row argmax (contract: advprop/loss.h). One row per work item;
// row sums accumulate in double in index order, so results do not depend on the thread count.
// 16-bit logits are widened exactly (wide); the loss and lse are stored in Accum<T> (f32 for
// bf16 and f16) and dlogits rounded once from double to T. f32 and f64 compute as before.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/loss.h"
#include "advprop/parallel.h"

namespace advprop {
namespace cpu {
namespace {

int64_t row_grain(int64_t K) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, K)); }

// A logit as the double the row sums use: exact for every storage type.
template <typename T>
double wide(T v) {
  return static_cast<double>(to_accum(v));
}

template <typename T, typename A = Accum<T>>
void forward_typed(const T* z, const int32_t* labels, double eps, A* loss, A* lse, int64_t N, int64_t K) {
  parallel_for(0, N, row_grain(K), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      const T* __restrict r = z + n * K;
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < K; ++k) m = std::fmax(m, wide(r[k]));
      double se = 0.0, gap = 0.0;  // gap = sum_k (m - z_k)
      for (int64_t k = 0; k < K; ++k) {
        const double d = wide(r[k]) - m;
        se += std::exp(d);
        gap -= d;
      }
      const double log_se = std::log(se);
      const int32_t y = labels[n];
      const double gy = (y >= 0 && y < K) ? m - wide(r[y]) : std::numeric_limits<double>::quiet_NaN();
      lse[n] = static_cast<A>(m + log_se);
      // lse - sum_k t_k z_k with sum_k t_k = 1, written as log_se + sum_k t_k (m - z_k) so that
      // large logits do not cancel.
      loss[n] = static_cast<A>(log_se + (1.0 - eps) * gy + (eps / static_cast<double>(K)) * gap);
    }
  });
}

template <typename T, typename A = Accum<T>>
void backward_typed(const T* z, const int32_t* labels, const A* lse, const A* dy, bool dy_scalar, double scale,
                    double eps, T* dz, int64_t N, int64_t K) {
  const double off = eps / static_cast<double>(K), on = 1.0 - eps;
  parallel_for(0, N, row_grain(K), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      const double g = scale * static_cast<double>(dy_scalar ? dy[0] : dy[n]);
      const double l = static_cast<double>(lse[n]);
      const int32_t y = labels[n];
      const T* __restrict r = z + n * K;
      T* __restrict o = dz + n * K;
      for (int64_t k = 0; k < K; ++k) {
        const double t = k == y ? on + off : off;
        o[k] = from_double<T>((std::exp(wide(r[k]) - l) - t) * g);
      }
    }
  });
}

template <typename T>
void argmax_typed(const T* z, int32_t* pred, int64_t N, int64_t K) {
  parallel_for(0, N, row_grain(K), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      const T* r = z + n * K;
      int64_t best = -1;
      for (int64_t k = 0; k < K; ++k) {
        const auto v = to_accum(r[k]);
        if (!std::isnan(v) && (best < 0 || v > to_accum(r[best]))) best = k;
      }
      pred[n] = static_cast<int32_t>(best < 0 ? 0 : best);  // an all-NaN row predicts class 0
    }
  });
}

}  // namespace

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, double smoothing, Tensor& loss, Tensor& lse) {
  const char* op = "softmax_xent_forward";
  const LossSizes sz = xent_forward_sizes(logits, labels, loss, lse);
  if (sz.n == 0) return;
  dispatch_dtype<MixedFloatTypes>(logits.dtype(), op, [&](auto t) {
    using T = decltype(t);
    using A = Accum<T>;
    forward_typed<T>(logits.data_as<T>(), labels.data_as<int32_t>(), smoothing, loss.data_as<A>(), lse.data_as<A>(), sz.n,
                     sz.k);
  });
}

void softmax_xent_backward(const Tensor& logits, const Tensor& labels, const Tensor& lse, const Tensor& dy,
                           double scale, double smoothing, Tensor& dlogits) {
  const char* op = "softmax_xent_backward";
  const LossSizes sz = xent_backward_sizes(logits, labels, lse, dy, dlogits);
  if (sz.n == 0) return;
  dispatch_dtype<MixedFloatTypes>(logits.dtype(), op, [&](auto t) {
    using T = decltype(t);
    using A = Accum<T>;
    backward_typed<T>(logits.data_as<T>(), labels.data_as<int32_t>(), lse.data_as<A>(), dy.data_as<A>(), dy.ndim() == 0,
                      scale, smoothing, dlogits.data_as<T>(), sz.n, sz.k);
  });
}

void argmax_rows(const Tensor& logits, Tensor& pred) {
  const char* op = "argmax_rows";
  const LossSizes sz = loss_sizes(logits, pred);
  if (sz.n == 0) return;
  dispatch_dtype<MixedFloatTypes>(logits.dtype(), op, [&](auto t) {
    using T = decltype(t);
    argmax_typed<T>(logits.data_as<T>(), pred.data_as<int32_t>(), sz.n, sz.k);
  });
}

}  // namespace cpu
}  // namespace advprop
