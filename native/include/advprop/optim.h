// Fused multi-tensor optimizer updates: each call updates a whole list of tensors in place, in
// one parallel pass on the CPU and one kernel launch per 192 tensors on CUDA (a descriptor table
// of pointers, sizes and flags, uploaded once per set of state tensors and kept on the device; the
// second list's pointers, which change per call, travel as kernel arguments: native/cuda/optim.cu).
// Elementwise, hence deterministic.
//
// For every list index i and element j (g = grads[i][j], p = params[i][j]; decay[i] marks the
// tensors that get weight decay, an L2 term wd·p²/2 in the loss, i.e. g ← g + wd·p):
// rmsprop_update (TensorFlow's RMSPropOptimizer; ms starts at 1, mom at 0, lr folded into mom):
//     ms ← ρ·ms + (1−ρ)·g²;  mom ← μ·mom + lr·g / √(ms + ε);  p ← p − mom
// sgd_update (PyTorch's SGD without dampening; buf starts at 0, so the first step gives buf = g):
//     buf ← μ·buf + g;  p ← p − lr·(nesterov ? g + μ·buf : buf)
// ema_update: ema ← d·ema + (1−d)·src; with d = 0 exactly src (a copy: NaN or inf in the old
//     ema does not leak through 0·ema), which is how the EMA's copy_to writes into live tensors.
// Device scalars: the learning rate (rmsprop_update, sgd_update) and the EMA decay may instead
// come from an f64 [1] tensor on the lists' device (`lr_at`, `decay_at`), read when the kernel
// runs, as T(value) and T(1.0 - value) exactly as the by-value forms round them. A captured CUDA
// graph records kernel arguments once; with a device scalar its replays take each step's value
// (the trainer's --cuda-graph: a schedule's lr and the EMA's warm-up decay change every step).
// Its value is not range-checked: the caller writes a value the by-value form would accept.
//
// The kernels take lists that the front-ends below have checked: non-empty, equal lengths, one
// float dtype and one device, pairwise equal shapes, contiguous, no written tensor overlapping
// another one.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "advprop/error.h"
#include "advprop/hostdevice.h"
#include "advprop/tensor.h"

namespace advprop {

struct RmspropHyper {
  double lr = 0, rho = 0.9, momentum = 0.9, eps = 1e-3, weight_decay = 0;
  Tensor lr_at;  // undefined: lr
};
struct SgdHyper {
  double lr = 0, momentum = 0, weight_decay = 0;
  bool nesterov = false;
  Tensor lr_at;  // undefined: lr
};

using TensorList = std::vector<Tensor>;

// One element of each update, every operation in T, for the kernels of every backend (whose
// loops differ: cpu spans, a cuda multi-tensor kernel). omd = 1 - d, rounded to T.
ADVPROP_HD float optim_sqrt(float x) { return sqrtf(x); }
ADVPROP_HD double optim_sqrt(double x) { return sqrt(x); }

// RMSProp's hyper-parameters in T; omr = 1 - rho.
template <typename T>
struct RmspropConsts {
  T lr, rho, omr, mu, eps, wd;
};
template <typename T>
RmspropConsts<T> rmsprop_consts(const RmspropHyper& h) {
  return {T(h.lr), T(h.rho), T(1.0 - h.rho), T(h.momentum), T(h.eps), T(h.weight_decay)};
}

template <typename T>
ADVPROP_HD void rmsprop_element(T& p, T g, T& ms, T& mom, const RmspropConsts<T>& c, bool decay) {
  if (decay) g = g + c.wd * p;
  const T m = c.rho * ms + c.omr * (g * g);
  ms = m;
  const T v = c.mu * mom + c.lr * g / optim_sqrt(m + c.eps);
  mom = v;
  p = p - v;
}

template <typename T>
ADVPROP_HD void sgd_element(T& p, T g, T& buf, T lr, T mu, T wd, bool decay, bool nesterov) {
  if (decay) g = g + wd * p;
  const T b = mu * buf + g;
  buf = b;
  p = p - lr * (nesterov ? g + mu * b : b);
}

template <typename T>
ADVPROP_HD T ema_element(T e, T s, T d, T omd) {
  return d * e + omd * s;
}

// The element type of a call's lists (the front-end dispatches only non-empty ones).
inline DType list_dtype(const TensorList& lead) {
  ADVPROP_ASSERT(!lead.empty());
  return lead[0].dtype();
}

// `decay` as the kernels take it: empty (no tensor decayed, which is also what the front-ends
// pass when the weight decay is 0) or one flag per tensor.
inline bool decays(const std::vector<uint8_t>& decay, size_t i) { return !decay.empty() && decay[i]; }

#define ADVPROP_OPTIM_KERNELS                                                                          \
  void rmsprop_update(const TensorList& params, const TensorList& grads, const TensorList& ms,        \
                      const TensorList& mom, const std::vector<uint8_t>& decay, const RmspropHyper& h); \
  void sgd_update(const TensorList& params, const TensorList& grads, const TensorList& bufs,          \
                  const std::vector<uint8_t>& decay, const SgdHyper& h);                              \
  void ema_update(const TensorList& emas, const TensorList& sources, double decay, const Tensor& decay_at);

namespace cpu { ADVPROP_OPTIM_KERNELS }
namespace cuda { ADVPROP_OPTIM_KERNELS }
namespace cudasim { ADVPROP_OPTIM_KERNELS }

namespace ops {
// Checked front-ends (ERR_ARG for list lengths and hyper-parameters, ERR_SHAPE / ERR_DTYPE /
// ERR_DEVICE / ERR_DISPOSED naming the list and index). `decay` is empty (no tensor decayed) or
// one flag per tensor. Empty lists are a no-op. A device scalar (lr_at, decay_at) must be f64 [1]
// on the lists' device (ERR_DTYPE / ERR_SHAPE / ERR_DEVICE naming it).
ADVPROP_OPTIM_KERNELS
// ema_update with decay by value.
void ema_update(const TensorList& emas, const TensorList& sources, double decay);
}  // namespace ops

}  // namespace advprop
