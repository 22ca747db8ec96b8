// The inference epilogue's per-channel affine (contract: advprop/epilogue.h; reference:
// native/cpu/epilogue.cc): invstd as batch norm's eval statistics compute it (f64, rounded once),
// times gamma. The epilogue itself is applied where gemm.cu and depthwise.cu store their output.
#include "common.cuh"

#include <cstdint>

#include "advprop/dtype_dispatch.h"
#include "advprop/epilogue.h"
#include "advprop/invariants.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

template <typename T>
__global__ void affine_kernel(const T* gamma, const T* beta, const T* rmean, const T* rvar, int64_t C, double eps, T* out) {
  for (int64_t c = grid_start(); c < C; c += grid_step()) {
    const T invstd = static_cast<T>(1.0 / sqrt(static_cast<double>(rvar[c]) + eps));
    out[c] = rmean[c];
    out[C + c] = gamma[c] * invstd;
    out[2 * C + c] = beta[c];
  }
}

}  // namespace

void bn_eval_affine(const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                    int64_t domain, double eps, Tensor& out) {
  const int64_t C = out.numel() / 3, kc = gamma.numel();
  ADVPROP_ASSERT(out.numel() == 3 * C && domain >= 0 && kc >= (domain + 1) * C &&
                 tensors_hold(out.dtype(), out.device(), {{&gamma, kc}, {&beta, kc}, {&running_mean, kc}, {&running_var, kc}, {&out, 3 * C}}));
  if (C == 0) return;
  dispatch_dtype<FloatTypes>(out.dtype(), "bn_eval_affine", [&](auto t) {
    using T = decltype(t);
    const int64_t o = domain * C;
    ADVPROP_LAUNCH((affine_kernel<T>), grid_for(C, kThreads), kThreads, 0, stream_of(out))(
        gamma.data_as<const T>() + o, beta.data_as<const T>() + o, running_mean.data_as<const T>() + o,
        running_var.data_as<const T>() + o, C, eps, out.data_as<T>());
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
