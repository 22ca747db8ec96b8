// CPU optimizer updates (contract: advprop/optim.h). The tensors of one call are seen as one
// concatenated element range, cut into chunks by parallel_for; a chunk may span several small
// tensors. Each piece runs a plain loop over restrict pointers that g++ vectorises.
//
// fp-contract=off: see simd.h (the AVX-512 clone must round like the others). CMakeLists.txt
// compiles this file with -fno-math-errno so that the sqrt below vectorises.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/optim.h"
#include "advprop/parallel.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

// c by value: a local copy, which no store through the arrays can change.
template <typename T, bool kDecay>
ADVPROP_CPU_CLONES void rmsprop_span(T* __restrict p, const T* __restrict g, T* __restrict ms, T* __restrict mom,
                                     int64_t n, const RmspropConsts<T> c) {
  for (int64_t i = 0; i < n; ++i) rmsprop_element(p[i], g[i], ms[i], mom[i], c, kDecay);
}

template <typename T, bool kDecay, bool kNesterov>
ADVPROP_CPU_CLONES void sgd_span(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n, T lr, T mu,
                                 T wd) {
  for (int64_t i = 0; i < n; ++i) sgd_element(p[i], g[i], buf[i], lr, mu, wd, kDecay, kNesterov);
}

template <typename T>
ADVPROP_CPU_CLONES void ema_span(T* __restrict e, const T* __restrict s, int64_t n, T d, T one_minus_d) {
  for (int64_t i = 0; i < n; ++i) e[i] = ema_element(e[i], s[i], d, one_minus_d);
}

// Calls piece(tensor index, first element, element count) for every part of the concatenated
// range of `lead`'s tensors, in parallel chunks whose bounds depend only on the sizes.
template <typename F>
void for_each_piece(const TensorList& lead, F&& piece) {
  std::vector<int64_t> start(lead.size() + 1, 0);
  for (size_t i = 0; i < lead.size(); ++i) start[i + 1] = start[i] + lead[i].numel();
  parallel_for(0, start.back(), kGrainCheap, [&](int64_t lo, int64_t hi) {
    // The last tensor that starts at or before lo (skips empty ones, which own no elements).
    size_t i = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), lo) - start.begin()) - 1;
    for (; lo < hi; ++i) {
      const int64_t end = std::min(hi, start[i + 1]);
      if (end > lo) piece(i, lo - start[i], end - lo);
      lo = std::max(lo, end);
    }
  });
}

}  // namespace

void rmsprop_update(const TensorList& params, const TensorList& grads, const TensorList& ms, const TensorList& mom,
                    const std::vector<uint8_t>& decay, const RmspropHyper& h) {
  dispatch_dtype(list_dtype(params), "rmspropUpdate", [&](auto zero) {
    using T = decltype(zero);
    RmspropHyper v = h;
    if (h.lr_at.defined()) v.lr = *h.lr_at.data_as<double>();  // cpu runs the call now: read it now
    const RmspropConsts<T> c = rmsprop_consts<T>(v);
    for_each_piece(params, [&](size_t i, int64_t off, int64_t n) {
      T* p = params[i].data_as<T>() + off;
      const T* g = grads[i].data_as<T>() + off;
      T* a = ms[i].data_as<T>() + off;
      T* b = mom[i].data_as<T>() + off;
      if (decays(decay, i)) rmsprop_span<T, true>(p, g, a, b, n, c);
      else rmsprop_span<T, false>(p, g, a, b, n, c);
    });
  });
}

void sgd_update(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                const std::vector<uint8_t>& decay, const SgdHyper& h) {
  dispatch_dtype(list_dtype(params), "sgdUpdate", [&](auto zero) {
    using T = decltype(zero);
    const T lr = T(h.lr_at.defined() ? *h.lr_at.data_as<double>() : h.lr), mu = T(h.momentum), wd = T(h.weight_decay);
    for_each_piece(params, [&](size_t i, int64_t off, int64_t n) {
      T* p = params[i].data_as<T>() + off;
      const T* g = grads[i].data_as<T>() + off;
      T* b = bufs[i].data_as<T>() + off;
      const bool dec = decays(decay, i);
      if (dec && h.nesterov) sgd_span<T, true, true>(p, g, b, n, lr, mu, wd);
      else if (dec) sgd_span<T, true, false>(p, g, b, n, lr, mu, wd);
      else if (h.nesterov) sgd_span<T, false, true>(p, g, b, n, lr, mu, wd);
      else sgd_span<T, false, false>(p, g, b, n, lr, mu, wd);
    });
  });
}

void ema_update(const TensorList& emas, const TensorList& sources, double decay_value, const Tensor& decay_at) {
  const double decay = decay_at.defined() ? *decay_at.data_as<double>() : decay_value;
  dispatch_dtype(list_dtype(emas), "emaUpdate", [&](auto zero) {
    using T = decltype(zero);
    const T d = T(decay), omd = T(1.0 - decay);
    for_each_piece(emas, [&](size_t i, int64_t off, int64_t n) {
      T* e = emas[i].data_as<T>() + off;
      const T* s = sources[i].data_as<T>() + off;
      if (decay == 0)
        std::memcpy(e, s, static_cast<size_t>(n) * sizeof(T));
      else
        ema_span<T>(e, s, n, d, omd);
    });
  });
}

}  // namespace cpu
}  // namespace advprop
