// Dropout / drop-connect (contract: advprop/dropout.h; reference: native/cpu/dropout.cc).
// Per element: one thread per Philox block of four elements, read and written as one Quad (four
// T in one load) when the pointers allow. Per sample: grid y runs over the samples, so each
// thread draws its sample's number once (a Philox evaluation is about a hundred instructions, too
// many per element) and then streams the sample's elements in 16-byte packs, adding the residual
// in the same pass when there is one. bf16 and f16 compute in f32 and round to T after the
// product and after the add, as the cpu does (mul_store, mul_store_add).
#include "capture.cuh"

#include <algorithm>
#include <cstdint>

#include "advprop/dropout.h"
#include "advprop/philox.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

template <typename T>
__global__ void element_kernel(const T* x, T* out, int64_t n, double keep, Accum<T> scale, uint64_t seed,
                               uint64_t offset, const uint64_t* offset_add, bool quads) {
  offset = shifted_offset(offset, offset_add);
  const int64_t nblk = (n + 3) / 4;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < nblk; j += stride) {
    const int64_t i0 = j * 4;
    const Philox4 b = philox_block(seed, offset, static_cast<uint64_t>(i0));
    if (quads && i0 + 3 < n) {
      const Quad<T> v = reinterpret_cast<const Quad<T>*>(x)[j];
      Quad<T> r;
#pragma unroll
      for (int k = 0; k < 4; ++k) r.v[k] = double(philox_uniform01(b.v[k])) <= keep ? mul_store(v.v[k], scale) : T{};
      reinterpret_cast<Quad<T>*>(out)[j] = r;
      continue;
    }
    for (int k = 0; k < 4 && i0 + k < n; ++k)
      out[i0 + k] = double(philox_uniform01(b.v[k])) <= keep ? mul_store(x[i0 + k], scale) : T{};
  }
}

// Per element with a sample map (data-parallel ranks): one Philox evaluation per element.
template <typename T>
__global__ void mapped_element_kernel(const T* x, T* out, int64_t n, int64_t row, SampleMap map, double keep,
                                      Accum<T> scale, uint64_t seed, uint64_t offset, const uint64_t* offset_add) {
  offset = shifted_offset(offset, offset_add);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint64_t c = map.element(static_cast<uint64_t>(i), static_cast<uint64_t>(row));
    out[i] = philox_uniform_element(seed, offset, c) <= keep ? mul_store(x[i], scale) : T{};
  }
}

// r: the residual or null. A kept sample gives x * scale + r rounded twice (mul_store_add), as
// dropConnect then add; a dropped one 0 * scale + r, i.e. 0 + r (not r: -0 becomes +0, as in add).
template <typename T>
__device__ __forceinline__ T sample_element(T x, const T* r, int64_t i, bool kept, Accum<T> scale) {
  if (r) return kept ? mul_store_add(x, scale, r[i]) : mul_store_add(T{}, scale, r[i]);
  return kept ? mul_store(x, scale) : T{};
}

// grid (blocks over a sample's d elements, samples (grid-stride in y)). `packs`: d is a multiple
// of Pack<T>::kLen and x, r, out are 16-byte aligned.
template <typename T>
__global__ void sample_kernel(const T* x, const T* r, T* out, int64_t samples, int64_t d, SampleMap map, double keep,
                              Accum<T> scale, uint64_t seed, uint64_t offset, const uint64_t* offset_add, bool packs) {
  offset = shifted_offset(offset, offset_add);
  constexpr int K = Pack<T>::kLen;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t smp = blockIdx.y; smp < samples; smp += gridDim.y) {
    const bool kept = philox_uniform_element(seed, offset, map.sample(static_cast<uint64_t>(smp))) <= keep;
    const int64_t base = smp * d;
    if (packs) {
      const auto* xp = reinterpret_cast<const Pack<T>*>(x + base);
      const auto* rp = r ? reinterpret_cast<const Pack<T>*>(r + base) : nullptr;
      auto* op = reinterpret_cast<Pack<T>*>(out + base);
      for (int64_t i = first; i < d / K; i += stride) {
        const Pack<T> v = xp[i];
        Pack<T> o;
        if (rp) {
          const Pack<T> rv = rp[i];
#pragma unroll
          for (int j = 0; j < K; ++j) o.v[j] = sample_element<T>(v.v[j], rv.v, j, kept, scale);
        } else {
#pragma unroll
          for (int j = 0; j < K; ++j) o.v[j] = sample_element<T>(v.v[j], nullptr, j, kept, scale);
        }
        op[i] = o;
      }
      continue;
    }
    for (int64_t i = first; i < d; i += stride) out[base + i] = sample_element<T>(x[base + i], r ? r + base : nullptr, i, kept, scale);
  }
}

template <typename T>
void typed(const Tensor& xt, const DropoutPlan& p, Tensor& outt) {
  const int64_t n = outt.numel();
  const Accum<T> scale = static_cast<Accum<T>>(1.0 / p.keep);
  cudaStream_t st = stream_of(outt);
  const uint64_t* add = capture_offset_word(outt.device().index);
  if (p.sample == 0 && !p.map.identity()) {
    ADVPROP_LAUNCH(mapped_element_kernel<T>, grid_for(n, kThreads), kThreads, 0, st)(
        xt.data_as<T>(), outt.data_as<T>(), n, p.row, p.map, p.keep, scale, p.seed, p.offset, add);
    return;
  }
  const T* x = xt.data_as<T>();
  T* out = outt.data_as<T>();
  if (p.sample == 0) {
    const bool quads = aligned_to(x, sizeof(Quad<T>)) && aligned_to(out, sizeof(Quad<T>));
    ADVPROP_LAUNCH(element_kernel<T>, grid_for((n + 3) / 4, kThreads), kThreads, 0, st)(
        x, out, n, p.keep, scale, p.seed, p.offset, add, quads);
    return;
  }
  const T* r = p.residual ? p.residual->data_as<T>() : nullptr;
  const int64_t d = p.sample, samples = n / d;
  if (samples == 0) return;
  const bool packs = d % Pack<T>::kLen == 0 && aligned16(x) && aligned16(r) && aligned16(out);
  const int64_t per_sample = packs ? d / Pack<T>::kLen : d;
  // About 4096 blocks over all samples (grid y, at most 65535 at a time), each block covering a
  // part of one sample; never more blocks per sample than its elements need.
  const int64_t ys = std::min<int64_t>(samples, 65535);
  const int64_t bx = std::max<int64_t>(1, std::min<int64_t>(4096 / ys, (per_sample + kThreads - 1) / kThreads));
  const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(ys));
  ADVPROP_LAUNCH(sample_kernel<T>, grid, kThreads, 0, st)(x, r, out, samples, d, p.map, p.keep, scale, p.seed, p.offset,
                                                           add, packs);
}

}  // namespace

void dropout(const Tensor& x, const DropoutPlan& p, Tensor& out) {
  assert_dropout_plan(x, p, out);
  dispatch_dtype<MixedFloatTypes>(out.dtype(), "dropout", [&](auto t) { typed<decltype(t)>(x, p, out); });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
