// The PGD attack kernels: one projected step and the random start. Every backend implements
// ADVPROP_ATTACK_KERNELS with the same semantics; native/cpu/attack.cc is the reference.
// Tensors are [N, ...] (sample n is the n-th run of D = numel / N contiguous elements), one dtype
// (f32, or f64), one device, contiguous; the front-end (native/ops/attack.cc) checks. The one
// exception is the step's gradient, which may also be bf16 or f16 (the gradient of a 16-bit
// network): it is widened exactly on the load (to_accum) and every formula below is unchanged,
// so a 16-bit gradient gives the bits its f32 widening would.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "advprop/dtype_dispatch.h"
#include "advprop/enum_table.h"
#include "advprop/error.h"
#include "advprop/hostdevice.h"
#include "advprop/philox.h"
#include "advprop/round_ops.h"
#include "advprop/sample_map.h"
#include "advprop/tensor.h"

namespace advprop {

// X(id, name); the C API's ADVPROP_LINF / ADVPROP_L2 follow this list.
#define ADVPROP_ATTACK_NORMS(X) X(linf, "linf") X(l2, "l2")
ADVPROP_ENUM(AttackNorm, "norm", ADVPROP_ATTACK_NORMS);

// eps and alpha are per sample when eps_t / alpha_t are set ([N], the inputs' dtype and device),
// else the scalars (rounded to the dtype). lo/hi: the valid pixel range. The front-end checks
// scalar eps/alpha >= 0 but not the values of a per-sample tensor (that would read the device
// back, a synchronisation per step): negative entries there are the caller's error.
struct PgdArgs {
  AttackNorm norm = AttackNorm::linf;
  double eps = 0, alpha = 0, lo = 0, hi = 1;
  const Tensor* eps_t = nullptr;
  const Tensor* alpha_t = nullptr;
  SampleMap map;  // the random start only
};

// pgd_step, L∞: out = clamp(clamp(x_adv + alpha * sign(g), x - eps, x + eps), lo, hi), sign(0) = 0,
//   every operation in the dtype (a single IEEE operation each, so every backend gives the same bits).
// pgd_step, L2, per sample (norms accumulated in double, sample_sumsq order):
//   a = alpha / ||g|| (0 when ||g|| = 0: no step), d = (x_adv + a * g) - x,
//   s = min(1, eps / ||d||) (1 when ||d|| = 0), out = clamp(x + s * d, lo, hi); d, s, the sums and
//   the products in double, one rounding to the dtype at the end.
// pgd_random_start, L∞: out = clamp(x + eps * (2u - 1), lo, hi), u = philox_uniform_element(i),
//   i the flat element index; (x + eps * r) is one fma in double, rounded once.
// pgd_random_start, L2: z_i = philox_normal_element(i) rounded to the dtype, u_n =
//   philox_uniform_element(round_up(numel, 4) + n) (after the normals, in blocks of their own),
//   r_n = eps * u_n^(1/D) / ||z_n||, out = clamp(x + r_n * z_i, lo, hi) (fma in double, one rounding).
//   Uniform in the L2 ball of radius eps (Muller's method) before the clamp.
// pgd_random_start with a sample map (advprop/sample_map.h; data-parallel ranks): element i draws
//   at map.element(i, D) and sample n's radius at round_up(map.global_samples(N) × D, 4) +
//   map.sample(n), the indices the whole global batch would use; the identity map is the above.
#define ADVPROP_ATTACK_KERNELS                                                                  \
  void pgd_step(const PgdArgs& a, const Tensor& x_adv, const Tensor& grad, const Tensor& x, Tensor& out); \
  void pgd_random_start(const PgdArgs& a, const Tensor& x, uint64_t seed, uint64_t offset, Tensor& out);

namespace cpu { ADVPROP_ATTACK_KERNELS }
namespace cuda { ADVPROP_ATTACK_KERNELS }
namespace cudasim { ADVPROP_ATTACK_KERNELS }

namespace ops {
// Checked front-ends: same shape/dtype/device for x_adv, grad, x; eps >= 0, alpha >= 0, lo <= hi;
// per-sample eps/alpha of shape [N]. Return a new tensor.
Tensor pgd_step(const Tensor& x_adv, const Tensor& grad, const Tensor& x, const PgdArgs& a);
Tensor pgd_random_start(const Tensor& x, const PgdArgs& a, uint64_t seed, uint64_t offset);
}  // namespace ops

// ---- the per-sample sum of squares every backend computes in the same order -------------------
// A sample of D elements is cut into chunks of kSumChunk; in a chunk, lane l (of 32) adds the
// squares of elements l, l + 32, l + 64, ... in double; the lanes are folded as a warp shuffle
// does (lane l += lane l + off for off = 16, 8, 4, 2, 1); the chunk sums are then added in chunk
// order. The CUDA kernels run one warp per chunk (coalesced); the CPU loops the same lanes, so the
// sums are bit-identical on every backend (the L2 random start depends on it).
constexpr int64_t kSumLanes = 32;
constexpr int64_t kSumChunk = 32 * kSumLanes;

inline int64_t sum_chunks(int64_t d) { return d == 0 ? 1 : (d + kSumChunk - 1) / kSumChunk; }

// acc + v * v without contraction into an fma on any backend (host files that include this turn
// contraction off; nvcc contracts unless told with the _rn intrinsics).
ADVPROP_HD double add_square(double acc, double v) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(acc, __dmul_rn(v, v));
#else
  return acc + v * v;
#endif
}

ADVPROP_HD double fold_lanes(double* lane) {
  for (int off = kSumLanes / 2; off >= 1; off /= 2)
    for (int l = 0; l < off; ++l) lane[l] = lane[l] + lane[l + off];
  return lane[0];
}

// philox_normal_element(seed, offset, i) rounded to T (so that the squares of f32 values are
// exact in double), evaluating only the Box-Muller pair that holds element i.
template <typename T>
ADVPROP_HD T random_start_normal(uint64_t seed, uint64_t offset, uint64_t i) {
  const Philox4 b = philox_block(seed, offset, i);
  const int pair = static_cast<int>(i & 2);
  double z0, z1;
  philox_normal_pair(b.v[pair], b.v[pair + 1], &z0, &z1);
  return static_cast<T>((i & 1) ? z1 : z0);
}

inline uint64_t random_start_radius_index(int64_t numel, int64_t n) {
  return static_cast<uint64_t>((numel + 3) / 4 * 4 + n);
}
// The same through a sample map: the global batch's element count and sample index.
ADVPROP_HD uint64_t random_start_radius_index(const SampleMap& m, int64_t nsamples, int64_t d, int64_t n) {
  const uint64_t numel = m.global_samples(static_cast<uint64_t>(nsamples)) * static_cast<uint64_t>(d);
  return (numel + 3) / 4 * 4 + m.sample(static_cast<uint64_t>(n));
}

// The per-sample factors of the L2 kernels, from a sum of squares.
// Step: alpha / ||g||, 0 for a zero gradient (no step rather than 0/0).
ADVPROP_HD double l2_step_factor(double alpha, double gg) { return gg > 0 ? alpha / sqrt(gg) : 0.0; }
// Projection onto the eps-ball: min(1, eps / ||d||), 1 inside the ball (and for d = 0).
ADVPROP_HD double l2_project_factor(double eps, double dd) {
  const double norm = sqrt(dd);
  return norm > eps ? eps / norm : 1.0;
}
// Random start: radius eps * u^(1/D) along z / ||z||; 0 when every normal is 0 (never in practice).
ADVPROP_HD double l2_start_factor(double eps, double u, int64_t d, double zz) {
  return zz > 0 ? eps * pow(u, 1.0 / static_cast<double>(d)) / sqrt(zz) : 0.0;
}
// The L2 step's displacement from the clean image, d = (x_adv + a * g) - x.
ADVPROP_HD double l2_delta(double xa, double g, double x, double a) { return add_rn(add_rn(xa, mul_rn(a, g)), -x); }

template <typename T>
ADVPROP_HD T clamp_to(T v, T lo, T hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

template <typename T>
ADVPROP_HD T sign_of(T g) {
  return g > T(0) ? T(1) : (g < T(0) ? T(-1) : T(0));
}

// One element of the L∞ step, every operation in T. alpha * sign is exact, so there is nothing
// for nvcc to contract.
template <typename T>
ADVPROP_HD T linf_step_one(T xa, T g, T x, T eps, T alpha, T lo, T hi) {
  const T v = xa + alpha * sign_of(g);
  return clamp_to(clamp_to(v, x - eps, x + eps), lo, hi);
}

// eps or alpha of sample n: the [N] tensor's entry, or the scalar rounded to T.
template <typename T>
struct PerSample {
  const T* t;
  T s;
  ADVPROP_HD T at(int64_t n) const { return t ? t[n] : s; }
};

template <typename T>
PerSample<T> per_sample(const Tensor* t, double s) {
  return {t ? t->data_as<T>() : nullptr, static_cast<T>(s)};
}

// A gradient element in the image's dtype T: exact (a 16-bit gradient widens to f32 exactly).
template <typename T, typename G>
ADVPROP_HD T grad_as(G g) {
  return static_cast<T>(to_accum(g));
}

// One call as every backend's kernels read it: the pointers (x_adv and grad null for the random
// start), N samples of D = numel / N elements, eps and alpha per sample, the clamp range in T,
// and the device (for scratch tensors and the stream). G is the gradient's storage type: T, or
// bf16 / f16.
template <typename T, typename G = T>
struct PgdView {
  AttackNorm norm;
  Device device;
  const T* xa;
  const G* g;
  const T* x;
  T* out;
  int64_t numel, nsamples, d;
  PerSample<T> eps, alpha;
  T lo, hi;
  SampleMap map;
};

// The gradient's dtype against the image's: its own, or one of the 16-bit types.
inline bool pgd_grad_dtype_ok(DType grad, DType image) { return grad == image || dtype_in<HalfTypes>(grad); }

// The shared body of the backends' entries: asserts what the kernels index by (the front-end,
// native/ops/attack.cc, checks the caller's input), then calls f(PgdView<T, G>) for out's dtype T
// and the gradient's G (T when there is no gradient).
template <typename F>
void with_pgd_view(const char* op, const PgdArgs& a, const Tensor* x_adv, const Tensor* grad, const Tensor& x,
                   Tensor& out, F&& f) {
  ADVPROP_ASSERT(out.ndim() >= 1 && out.dim(0) > 0 && x.dtype() == out.dtype() && x.numel() == out.numel());
  ADVPROP_ASSERT(!x_adv || (x_adv->dtype() == out.dtype() && x_adv->numel() == out.numel()));
  ADVPROP_ASSERT(!grad || (pgd_grad_dtype_ok(grad->dtype(), out.dtype()) && grad->numel() == out.numel()));
  for (const Tensor* t : {a.eps_t, a.alpha_t})
    ADVPROP_ASSERT(!t || (t->dtype() == out.dtype() && t->numel() == out.dim(0)));
  dispatch_dtype(out.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const int64_t numel = out.numel(), nsamples = out.dim(0);
    auto run = [&](auto gtag) {
      using G = decltype(gtag);
      f(PgdView<T, G>{a.norm, out.device(), x_adv ? x_adv->data_as<T>() : nullptr, grad ? grad->data_as<G>() : nullptr,
                      x.data_as<T>(), out.data_as<T>(), numel, nsamples, numel / nsamples,
                      per_sample<T>(a.eps_t, a.eps), per_sample<T>(a.alpha_t, a.alpha), static_cast<T>(a.lo),
                      static_cast<T>(a.hi), a.map});
    };
    if (!grad || grad->dtype() == out.dtype()) run(T{});
    else dispatch_dtype<HalfTypes>(grad->dtype(), op, run);
  });
}

}  // namespace advprop
