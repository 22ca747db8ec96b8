// CPU inference epilogue (contract: advprop/epilogue.h): the eval batch norm's per-channel affine
// and activation, then the residual, on rows of a convolution's output. The expression is batch
// norm's apply_rows (batchnorm.cc) with its eval-mode math policy (bn_math.h), so the bits agree.
#pragma GCC optimize("fp-contract=off")

#include "epilogue.h"

#include <cmath>

#include "advprop/enum_table.h"
#include "advprop/invariants.h"
#include "bn_math.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

template <BnAct ACT, typename T>
ADVPROP_CPU_CLONES void rows_typed(const T* __restrict mean, const T* __restrict scale, const T* __restrict shift,
                                   const T* __restrict res, int64_t ldr, T* __restrict c, int64_t ldc, int64_t rows,
                                   int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    T* __restrict out = c + i * ldc;
    for (int64_t j = 0; j < cols; ++j) out[j] = bn_act_forward<ACT, BnMathEval>((out[j] - mean[j]) * scale[j] + shift[j]);
    if (res) {
      const T* __restrict r = res + i * ldr;
      for (int64_t j = 0; j < cols; ++j) out[j] = out[j] + r[j];
    }
  }
}

template <typename T>
void rows_any(const EpilogueView<T>& e, T* c, int64_t ldc, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
  const T* res = e.res ? e.res + row0 * e.ldr + col0 : nullptr;
  with_enum(e.act, "epilogue", [&](auto act) {
    rows_typed<decltype(act)::value, T>(e.mean + col0, e.scale + col0, e.shift + col0, res, e.ldr, c, ldc, rows, cols);
  });
}

}  // namespace

void apply_epilogue_rows(const EpilogueView<float>& e, float* c, int64_t ldc, int64_t row0, int64_t rows, int64_t col0,
                         int64_t cols) {
  rows_any(e, c, ldc, row0, rows, col0, cols);
}
void apply_epilogue_rows(const EpilogueView<double>& e, double* c, int64_t ldc, int64_t row0, int64_t rows,
                         int64_t col0, int64_t cols) {
  rows_any(e, c, ldc, row0, rows, col0, cols);
}

void bn_eval_affine(const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                    int64_t domain, double eps, Tensor& out) {
  const int64_t C = out.numel() / 3;
  ADVPROP_ASSERT(out.numel() == 3 * C && domain >= 0 && gamma.numel() >= (domain + 1) * C &&
                 tensors_hold(out.dtype(), out.device(), {{&gamma, gamma.numel()}, {&beta, gamma.numel()},
                                                          {&running_mean, gamma.numel()}, {&running_var, gamma.numel()}, {&out, 3 * C}}));
  dispatch_dtype<FloatTypes>(out.dtype(), "bn_eval_affine", [&](auto t) {
    using T = decltype(t);
    const T *g = gamma.data_as<const T>() + domain * C, *b = beta.data_as<const T>() + domain * C;
    const T *rm = running_mean.data_as<const T>() + domain * C, *rv = running_var.data_as<const T>() + domain * C;
    T* o = out.data_as<T>();
    for (int64_t c = 0; c < C; ++c) {
      // As multi_batch_norm_forward in eval mode: invstd in f64, rounded once, times gamma.
      const T invstd = static_cast<T>(1.0 / std::sqrt(static_cast<double>(rv[c]) + eps));
      o[c] = rm[c];
      o[C + c] = g[c] * invstd;
      o[2 * C + c] = b[c];
    }
  });
}

}  // namespace cpu
}  // namespace advprop
