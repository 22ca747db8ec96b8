// Elementwise kernels (contract: advprop/elementwise.h; reference: native/cpu/elementwise.cc).
// Every kernel is a 1-D grid-stride loop with 64-bit indices. Values that must match the CPU bit
// for bit (fill, cast, binary, relu) are single IEEE operations in the tensor's type, which nvcc
// and the host compiler round identically. bf16 and f16 (binary, unary and its backward) widen
// each element to f32 (to_accum), compute in f32 and round once on the store (from_accum), with
// 2-byte scalar loads; the float4 paths stay f32-only.
#include "common.cuh"

#include <cstdint>
#include <type_traits>

#include "advprop/dtype_dispatch.h"
#include "advprop/elementwise.h"
#include "advprop/pointwise.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T v) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = v;
}

template <typename S, typename D>
__global__ void cast_kernel(const S* src, D* dst, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = convert<D>(src[i]);
}

// binary_apply on one element, or on each of a float4's four.
template <BinaryOp Op, typename V>
struct Lanes {
  ADVPROP_HD static V apply(V x, V y) { return from_accum<V>(binary_apply<Op>(to_accum(x), to_accum(y))); }
};
template <BinaryOp Op>
struct Lanes<Op, float4> {
  ADVPROP_HD static float4 apply(float4 x, float4 y) {
    return make_float4(binary_apply<Op>(x.x, y.x), binary_apply<Op>(x.y, y.y), binary_apply<Op>(x.z, y.z),
                       binary_apply<Op>(x.w, y.w));
  }
};

// out[i] = a[i % na] op b[i % nb], on elements or (for broadcasts whose operand sizes are
// multiples of 4, such as per-channel scales with C % 4 == 0) on float4s. The operand indices
// advance by stride mod n with one conditional subtraction, so the loop needs no 64-bit division
// after its first iteration.
template <BinaryOp Op, typename V>
__global__ void binary_kernel(const V* a, int64_t na, const V* b, int64_t nb, V* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t ia = i % na, ib = i % nb;
  const int64_t sa = stride % na, sb = stride % nb;
  for (; i < n; i += stride) {
    out[i] = Lanes<Op, V>::apply(a[ia], b[ib]);
    ia += sa;
    if (ia >= na) ia -= na;
    ib += sb;
    if (ib >= nb) ib -= nb;
  }
}

// Same-shape f32 with 16-byte aligned pointers: one float4 per thread and step.
template <BinaryOp Op>
__global__ void binary_vec4_kernel(const float4* a, const float4* b, float4* out, int64_t n4) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride)
    out[i] = Lanes<Op, float4>::apply(a[i], b[i]);
}

// f32, 16-byte aligned: one float4 per thread and step. A scalar 4-byte load per thread leaves
// too few bytes in flight to stream from HBM (72-75% of copy on the H200 for silu, scale, relu).
template <UnaryOp Op>
__global__ void unary_vec4_kernel(const float4* x, float4* out, int64_t n4, float alpha) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 v = x[i];
    out[i] = make_float4(unary_op_forward<Op, Math>(v.x, alpha), unary_op_forward<Op, Math>(v.y, alpha),
                         unary_op_forward<Op, Math>(v.z, alpha), unary_op_forward<Op, Math>(v.w, alpha));
  }
}

template <UnaryOp Op>
__global__ void unary_backward_vec4_kernel(const float4* x, const float4* dy, float4* dx, int64_t n4, float alpha) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 v = x[i], g = dy[i];
    dx[i] = make_float4(
        unary_op_backward<Op, Math>(v.x, g.x, alpha), unary_op_backward<Op, Math>(v.y, g.y, alpha),
        unary_op_backward<Op, Math>(v.z, g.z, alpha), unary_op_backward<Op, Math>(v.w, g.w, alpha));
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <UnaryOp Op, typename T>
__global__ void unary_kernel(const T* x, T* out, int64_t n, Accum<T> alpha) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = from_accum<T>(unary_op_forward<Op, Math>(to_accum(x[i]), alpha));
}

template <UnaryOp Op, typename T>
__global__ void unary_backward_kernel(const T* x, const T* dy, T* dx, int64_t n, Accum<T> alpha) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dx[i] = from_accum<T>(unary_op_backward<Op, Math>(to_accum(x[i]), to_accum(dy[i]), alpha));
}

template <BinaryOp Op, typename T>
void launch_binary(const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  cudaStream_t s = stream_of(out);
  const T* pa = a.data_as<T>();
  const T* pb = b.data_as<T>();
  T* po = out.data_as<T>();
  if (sizeof(T) == 4 && a.numel() == n && b.numel() == n && n >= 4 &&
      ((reinterpret_cast<uintptr_t>(pa) | reinterpret_cast<uintptr_t>(pb) | reinterpret_cast<uintptr_t>(po)) & 15) == 0) {
    const int64_t n4 = n / 4;
    ADVPROP_LAUNCH(binary_vec4_kernel<Op>, grid_for(n4, kThreads), kThreads, 0, s)(
        reinterpret_cast<const float4*>(pa), reinterpret_cast<const float4*>(pb), reinterpret_cast<float4*>(po), n4);
    const int64_t done = n4 * 4;
    if (done == n) return;
    pa += done;
    pb += done;
    po += done;
    ADVPROP_LAUNCH((binary_kernel<Op, T>), 1, kThreads, 0, s)(pa, n - done, pb, n - done, po, n - done);
    return;
  }
  if (sizeof(T) == 4 && a.numel() % 4 == 0 && b.numel() % 4 == 0 && aligned16(pa) && aligned16(pb) && aligned16(po)) {
    // n is a multiple of both operand sizes, hence of 4.
    ADVPROP_LAUNCH((binary_kernel<Op, float4>), grid_for(n / 4, kThreads), kThreads, 0, s)(
        reinterpret_cast<const float4*>(pa), a.numel() / 4, reinterpret_cast<const float4*>(pb), b.numel() / 4,
        reinterpret_cast<float4*>(po), n / 4);
    return;
  }
  ADVPROP_LAUNCH((binary_kernel<Op, T>), grid_for(n, kThreads), kThreads, 0, s)(pa, a.numel(), pb, b.numel(), po, n);
}

template <UnaryOp Op, typename T>
void launch_unary(const Tensor& x, Accum<T> alpha, Tensor& out) {
  int64_t n = out.numel();
  cudaStream_t s = stream_of(out);
  const T* px = x.data_as<T>();
  T* po = out.data_as<T>();
  if constexpr (std::is_same<T, float>::value) {
    if (n >= 4 && aligned16(px) && aligned16(po)) {
      const int64_t n4 = n / 4;
      ADVPROP_LAUNCH(unary_vec4_kernel<Op>, grid_for(n4, kThreads), kThreads, 0, s)(
          reinterpret_cast<const float4*>(px), reinterpret_cast<float4*>(po), n4, alpha);
      px += n4 * 4;
      po += n4 * 4;
      n -= n4 * 4;
      if (n == 0) return;
    }
  }
  ADVPROP_LAUNCH((unary_kernel<Op, T>), grid_for(n, kThreads), kThreads, 0, s)(px, po, n, alpha);
}

template <UnaryOp Op, typename T>
void launch_unary_backward(const Tensor& x, const Tensor& dy, Accum<T> alpha, Tensor& dx) {
  int64_t n = dx.numel();
  cudaStream_t s = stream_of(dx);
  const T* px = x.data_as<T>();
  const T* pg = dy.data_as<T>();
  T* po = dx.data_as<T>();
  if constexpr (std::is_same<T, float>::value) {
    if (n >= 4 && aligned16(px) && aligned16(pg) && aligned16(po)) {
      const int64_t n4 = n / 4;
      ADVPROP_LAUNCH(unary_backward_vec4_kernel<Op>, grid_for(n4, kThreads), kThreads, 0, s)(
          reinterpret_cast<const float4*>(px), reinterpret_cast<const float4*>(pg), reinterpret_cast<float4*>(po), n4,
          alpha);
      px += n4 * 4;
      pg += n4 * 4;
      po += n4 * 4;
      n -= n4 * 4;
      if (n == 0) return;
    }
  }
  ADVPROP_LAUNCH((unary_backward_kernel<Op, T>), grid_for(n, kThreads), kThreads, 0, s)(px, pg, po, n, alpha);
}

}  // namespace

void fill(Tensor& out, double value) {
  const int64_t n = out.numel();
  dispatch_dtype<StorageTypes>(out.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    if (n == 0) return;
    ADVPROP_LAUNCH(fill_kernel<T>, grid_for(n, kThreads), kThreads, 0, stream_of(out))(
        out.data_as<T>(), n, convert<T>(value));
  });
}

void cast(const Tensor& src, Tensor& dst) {
  const int64_t n = dst.numel();
  ADVPROP_ASSERT(src.numel() == n);
  dispatch_dtype<StorageTypes>(src.dtype(), "cast", [&](auto stag) {
    dispatch_dtype<StorageTypes>(dst.dtype(), "cast", [&](auto dtag) {
      using S = decltype(stag);
      using D = decltype(dtag);
      if (n == 0) return;
      cudaStream_t s = stream_of(dst);
      if (src.dtype() == dst.dtype()) {
        if (src.data() != dst.data())
          check_cuda(cudaMemcpyAsync(dst.data(), src.data(), dst.nbytes(), cudaMemcpyDeviceToDevice, s), "cast");
        return;
      }
      ADVPROP_LAUNCH((cast_kernel<S, D>), grid_for(n, kThreads), kThreads, 0, s)(src.data_as<S>(), dst.data_as<D>(), n);
    });
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  ADVPROP_ASSERT(a.dtype() == out.dtype() && b.dtype() == out.dtype());
  ADVPROP_ASSERT(a.numel() > 0 && b.numel() > 0 && n % a.numel() == 0 && n % b.numel() == 0);
  dispatch_dtype<MixedFloatTypes>(out.dtype(), binary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    with_enum(op, "binary", [&](auto optag) { launch_binary<decltype(optag)::value, T>(a, b, out); });
  });
}

void unary(UnaryOp op, const Tensor& x, double alpha, Tensor& out) {
  ADVPROP_ASSERT(x.dtype() == out.dtype() && x.numel() == out.numel());
  if (out.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(out.dtype(), unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    with_enum(op, "unary", [&](auto optag) {
      launch_unary<decltype(optag)::value, T>(x, static_cast<Accum<T>>(alpha), out);
    });
  });
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& dy, double alpha, Tensor& dx) {
  ADVPROP_ASSERT(x.dtype() == dx.dtype() && dy.dtype() == dx.dtype() && x.numel() == dx.numel() &&
                 dy.numel() == dx.numel());
  if (dx.numel() == 0) return;
  dispatch_dtype<MixedFloatTypes>(dx.dtype(), unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    with_enum(op, "unaryBackward", [&](auto optag) {
      launch_unary_backward<decltype(optag)::value, T>(x, dy, static_cast<Accum<T>>(alpha), dx);
    });
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
