// PGD kernels (contract: advprop/attack.h; reference: native/cpu/attack.cc).
// L∞ step: one grid-stride pass, float4 loads when a vector never straddles a sample. L2: per
// sample sums of squares with one warp per chunk of attack.h's order (coalesced: lane l reads
// elements l, l + 32, ...; folded by shuffles in the CPU's order), the chunk sums added per
// sample by one thread in chunk order, then an element-wise pass. No atomics, so the result is
// deterministic and equals the CPU's wherever attack.h says it does. A bf16/f16 gradient takes the
// scalar kernels (the float4 one is f32 throughout), widened on the load.
#include "capture.cuh"

#include <cstdint>
#include <type_traits>

#include "advprop/dtype_dispatch.h"
#include "advprop/attack.h"
#include "advprop/philox.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kWarps = kThreads / 32;

// i / d, in 32 bits when both fit (a 64-bit division is dozens of instructions on the GPU).
ADVPROP_HD int64_t sample_of(int64_t i, int64_t d) {
  return (i | d) <= 0x7fffffff ? int64_t(uint32_t(i) / uint32_t(d)) : i / d;
}

template <typename T, typename G>
__global__ void linf_kernel(const T* xa, const G* g, const T* x, T* out, int64_t n, int64_t d, PerSample<T> eps,
                            PerSample<T> alpha, T lo, T hi) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t s = (eps.t || alpha.t) ? sample_of(i, d) : 0;
    out[i] = linf_step_one(xa[i], grad_as<T>(g[i]), x[i], eps.at(s), alpha.at(s), lo, hi);
  }
}

// f32, 16-byte aligned, D a multiple of 4: a float4 lies in one sample.
__global__ void linf_vec4_kernel(const float4* xa, const float4* g, const float4* x, float4* out, int64_t n4,
                                 int64_t d4, PerSample<float> eps, PerSample<float> alpha, float lo, float hi) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const int64_t s = (eps.t || alpha.t) ? sample_of(i, d4) : 0;
    const float e = eps.at(s), al = alpha.at(s);
    const float4 a = xa[i], gv = g[i], xv = x[i];
    float4 r;
    r.x = linf_step_one(a.x, gv.x, xv.x, e, al, lo, hi);
    r.y = linf_step_one(a.y, gv.y, xv.y, e, al, lo, hi);
    r.z = linf_step_one(a.z, gv.z, xv.z, e, al, lo, hi);
    r.w = linf_step_one(a.w, gv.w, xv.w, e, al, lo, hi);
    out[i] = r;
  }
}

// What the L2 sums square: the gradient, the step's displacement, or the random start's normals.
template <typename T, typename G>
struct GradValue {
  const G* g;
  int64_t d;
  ADVPROP_HD double operator()(int64_t n, int64_t j) const { return double(grad_as<T>(g[n * d + j])); }
};
template <typename T, typename G>
struct DeltaValue {
  const T* xa;
  const G* g;
  const T* x;
  const double* step;
  int64_t d;
  ADVPROP_HD double operator()(int64_t n, int64_t j) const {
    const int64_t i = n * d + j;
    return l2_delta(double(xa[i]), double(grad_as<T>(g[i])), double(x[i]), step[n]);
  }
};
template <typename T>
struct NormalValue {
  uint64_t seed, offset;
  const uint64_t* offset_add;
  int64_t d;
  SampleMap map;
  ADVPROP_HD double operator()(int64_t n, int64_t j) const {
    return double(random_start_normal<T>(seed, shifted_offset(offset, offset_add), map.element(static_cast<uint64_t>(n * d + j), uint64_t(d))));
  }
};

// part[t] = the sum of squares of chunk t (sample t / chunks), one warp per chunk.
template <typename V>
__global__ void chunk_sumsq_kernel(V value, int64_t tasks, int64_t chunks, int64_t d, double* part) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * kWarps + warp; t < tasks; t += static_cast<int64_t>(gridDim.x) * kWarps) {
    const int64_t n = t / chunks, base = (t % chunks) * kSumChunk;
    double acc = 0.0;
    for (int64_t step = 0; step < kSumChunk / kSumLanes; ++step) {
      const int64_t j = base + step * kSumLanes + lane;
      if (j < d) acc = add_square(acc, value(n, j));
    }
    for (int off = kSumLanes / 2; off >= 1; off /= 2) acc = acc + __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) part[t] = acc;
  }
}

enum class Factor : int { step = 0, project = 1, start = 2 };

// factor[n] from sample n's chunk sums, added in chunk order.
template <typename T, Factor F>
__global__ void factor_kernel(const double* part, int64_t nsamples, int64_t chunks, PerSample<T> scalar, int64_t d,
                              SampleMap map, uint64_t seed, uint64_t offset, const uint64_t* offset_add,
                              double* factor) {
  offset = shifted_offset(offset, offset_add);
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= nsamples) return;
  double total = 0.0;
  for (int64_t c = 0; c < chunks; ++c) total = total + part[n * chunks + c];
  const double s = double(scalar.at(n));
  if (F == Factor::step) factor[n] = l2_step_factor(s, total);
  if (F == Factor::project) factor[n] = l2_project_factor(s, total);
  if (F == Factor::start) {
    const uint64_t ui = random_start_radius_index(map, nsamples, d, n);
    factor[n] = l2_start_factor(s, philox_uniform_element(seed, offset, ui), d, total);
  }
}

template <typename T, typename G>
__global__ void l2_apply_kernel(const T* xa, const G* g, const T* x, T* out, int64_t n, int64_t d, const double* step,
                                const double* proj, T lo, T hi) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t s = sample_of(i, d);
    const double di = l2_delta(double(xa[i]), double(grad_as<T>(g[i])), double(x[i]), step[s]);
    out[i] = clamp_to(static_cast<T>(add_rn(double(x[i]), mul_rn(proj[s], di))), lo, hi);
  }
}

// One thread per Philox block of four elements, as the CPU reads them.
template <typename T>
__global__ void linf_start_kernel(const T* x, T* out, int64_t n, int64_t d, PerSample<T> eps, SampleMap map,
                                  uint64_t seed, uint64_t offset, const uint64_t* offset_add, T lo, T hi) {
  offset = shifted_offset(offset, offset_add);
  const int64_t nblk = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < nblk; j += stride) {
    const int64_t i0 = j * 4;
    // With a sample map (data-parallel ranks) each element evaluates its own block.
    const bool id = map.identity();
    const Philox4 b = philox_block(seed, offset, static_cast<uint64_t>(i0));
    for (int k = 0; k < 4 && i0 + k < n; ++k) {
      const int64_t i = i0 + k;
      const double u = id ? double(philox_uniform01(b.v[k])) : philox_uniform_element(seed, offset, map.element(uint64_t(i), uint64_t(d)));
      const double r = 2.0 * u - 1.0;  // exact
      out[i] = clamp_to(static_cast<T>(fma(double(eps.at(sample_of(i, d))), r, double(x[i]))), lo, hi);
    }
  }
}

template <typename T>
__global__ void l2_start_kernel(const T* x, T* out, int64_t n, int64_t d, const double* radius, SampleMap map,
                                uint64_t seed, uint64_t offset, const uint64_t* offset_add, T lo, T hi) {
  offset = shifted_offset(offset, offset_add);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double z = double(random_start_normal<T>(seed, offset, map.element(uint64_t(i), uint64_t(d))));
    out[i] = clamp_to(static_cast<T>(fma(radius[sample_of(i, d)], z, double(x[i]))), lo, hi);
  }
}

// Per-sample factors on the device: chunk sums, then one thread per sample.
template <typename T, Factor F, typename G, typename V>
Tensor factors(const PgdView<T, G>& v, V value, PerSample<T> scalar, uint64_t seed = 0, uint64_t offset = 0,
               const uint64_t* offset_add = nullptr) {
  const int64_t chunks = sum_chunks(v.d), tasks = v.nsamples * chunks;
  Tensor part = Tensor::empty({tasks}, DType::f64, v.device);
  Tensor out = Tensor::empty(Shape{v.nsamples}, DType::f64, v.device);
  cudaStream_t st = stream_for(v.device.index);
  ADVPROP_LAUNCH(chunk_sumsq_kernel<V>, grid_for(tasks, kWarps), kThreads, 0, st)(value, tasks, chunks, v.d,
                                                                                  part.data_as<double>());
  ADVPROP_LAUNCH((factor_kernel<T, F>), grid_for(v.nsamples, 128), 128, 0, st)(
      part.data_as<double>(), v.nsamples, chunks, scalar, v.d, v.map, seed, offset, offset_add, out.data_as<double>());
  return out;
}

template <typename T, typename G>
void step_typed(const PgdView<T, G>& v) {
  cudaStream_t st = stream_for(v.device.index);
  if (v.norm == AttackNorm::linf) {
    bool vec = false;
    if constexpr (std::is_same<T, float>::value && std::is_same<G, float>::value) {
      auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
      vec = v.d % 4 == 0 && aligned(v.xa) && aligned(v.g) && aligned(v.x) && aligned(v.out);
    }
    if (vec) {
      const int64_t n4 = v.numel / 4;
      ADVPROP_LAUNCH(linf_vec4_kernel, grid_for(n4, kThreads), kThreads, 0, st)(
          reinterpret_cast<const float4*>(v.xa), reinterpret_cast<const float4*>(v.g),
          reinterpret_cast<const float4*>(v.x), reinterpret_cast<float4*>(v.out), n4, v.d / 4,
          PerSample<float>{reinterpret_cast<const float*>(v.eps.t), float(v.eps.s)},
          PerSample<float>{reinterpret_cast<const float*>(v.alpha.t), float(v.alpha.s)}, float(v.lo), float(v.hi));
    } else {
      ADVPROP_LAUNCH((linf_kernel<T, G>), grid_for(v.numel, kThreads), kThreads, 0, st)(
          v.xa, v.g, v.x, v.out, v.numel, v.d, v.eps, v.alpha, v.lo, v.hi);
    }
    return;
  }
  Tensor step = factors<T, Factor::step>(v, GradValue<T, G>{v.g, v.d}, v.alpha);
  Tensor proj = factors<T, Factor::project>(v, DeltaValue<T, G>{v.xa, v.g, v.x, step.data_as<double>(), v.d}, v.eps);
  ADVPROP_LAUNCH((l2_apply_kernel<T, G>), grid_for(v.numel, kThreads), kThreads, 0, st)(
      v.xa, v.g, v.x, v.out, v.numel, v.d, step.data_as<double>(), proj.data_as<double>(), v.lo, v.hi);
}

// G is only there because the view carries it: the random start reads no gradient.
template <typename T, typename G>
void random_start_typed(const PgdView<T, G>& v, uint64_t seed, uint64_t offset) {
  cudaStream_t st = stream_for(v.device.index);
  const uint64_t* add = capture_offset_word(v.device.index);
  if (v.norm == AttackNorm::linf) {
    ADVPROP_LAUNCH(linf_start_kernel<T>, grid_for((v.numel + 3) / 4, kThreads), kThreads, 0, st)(
        v.x, v.out, v.numel, v.d, v.eps, v.map, seed, offset, add, v.lo, v.hi);
    return;
  }
  Tensor radius =
      factors<T, Factor::start>(v, NormalValue<T>{seed, offset, add, v.d, v.map}, v.eps, seed, offset, add);
  ADVPROP_LAUNCH(l2_start_kernel<T>, grid_for(v.numel, kThreads), kThreads, 0, st)(
      v.x, v.out, v.numel, v.d, radius.data_as<double>(), v.map, seed, offset, add, v.lo, v.hi);
}

}  // namespace

void pgd_step(const PgdArgs& a, const Tensor& x_adv, const Tensor& grad, const Tensor& x, Tensor& out) {
  with_pgd_view("pgdStep", a, &x_adv, &grad, x, out, [](const auto& v) { step_typed(v); });
}

void pgd_random_start(const PgdArgs& a, const Tensor& x, uint64_t seed, uint64_t offset, Tensor& out) {
  with_pgd_view("pgdRandomStart", a, nullptr, nullptr, x, out, [&](const auto& v) { random_start_typed(v, seed, offset); });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
