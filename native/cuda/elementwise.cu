// Elementwise kernels (contract: advprop/elementwise.h; reference: native/cpu/elementwise.cc).
// Every kernel is a 1-D grid-stride loop with 64-bit indices. Values that must match the CPU bit
// for bit (fill, cast, binary, relu) are single IEEE operations in the tensor's type, which nvcc
// and the host compiler round identically.
#include "common.cuh"

#include <cstdint>
#include <string>
#include <type_traits>

#include "advprop/elementwise.h"
#include "advprop/hostdevice.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

constexpr unsigned kThreads = 256;

ADVPROP_HD float ew_exp(float x) { return expf(x); }
ADVPROP_HD double ew_exp(double x) { return exp(x); }
ADVPROP_HD float ew_log(float x) { return logf(x); }
ADVPROP_HD double ew_log(double x) { return log(x); }
template <typename T>
ADVPROP_HD T ew_sigmoid(T x) { return T(1) / (T(1) + ew_exp(-x)); }

// s = sigmoid(x) and sn = sigmoid(-x) = 1 - s from one exp. Forming 1 - s by subtraction would
// lose every digit of the gradient once s rounds to 1 (x above ~9 in f32).
template <typename T>
ADVPROP_HD void sigmoid_pair(T x, T& s, T& sn) {
  const T e = ew_exp(x < T(0) ? x : -x);  // exp(-|x|), in (0, 1]
  const T d = T(1) / (T(1) + e);
  s = x < T(0) ? e * d : d;
  sn = x < T(0) ? d : e * d;
}

// Float to int32 as CUDA's cvt.rzi.s32 does it and the CPU reference defines it: truncate,
// saturate outside int32, NaN becomes 0. Spelled out because a bare C cast of those inputs is
// undefined behaviour on the host (cuda-sim).
template <typename D, typename S>
ADVPROP_HD D convert(S v) {
  if constexpr (std::is_same<D, int32_t>::value && std::is_floating_point<S>::value) {
    if (!(v == v)) return D(0);
    if (v <= S(-2147483648.0)) return D(-2147483647 - 1);
    if (v >= S(2147483647.0)) return D(2147483647);
  }
  return static_cast<D>(v);
}

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

template <int Op, typename T>
ADVPROP_HD T binary_op(T a, T b) {
  switch (Op) {
    case static_cast<int>(BinaryOp::add): return a + b;
    case static_cast<int>(BinaryOp::sub): return a - b;
    case static_cast<int>(BinaryOp::mul): return a * b;
    default: return a / b;
  }
}

// out[i] = a[i % na] op b[i % nb]. The operand indices advance by stride mod n with one
// conditional subtraction, so the loop needs no 64-bit division after its first iteration.
template <int Op, typename T>
__global__ void binary_kernel(const T* a, int64_t na, const T* b, int64_t nb, T* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t ia = i % na, ib = i % nb;
  const int64_t sa = stride % na, sb = stride % nb;
  for (; i < n; i += stride) {
    out[i] = binary_op<Op>(a[ia], b[ib]);
    ia += sa;
    if (ia >= na) ia -= na;
    ib += sb;
    if (ib >= nb) ib -= nb;
  }
}

// Same-shape f32 with 16-byte aligned pointers: one float4 per thread and step.
template <int Op>
__global__ void binary_vec4_kernel(const float4* a, const float4* b, float4* out, int64_t n4) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    float4 x = a[i], y = b[i], r;
    r.x = binary_op<Op>(x.x, y.x);
    r.y = binary_op<Op>(x.y, y.y);
    r.z = binary_op<Op>(x.z, y.z);
    r.w = binary_op<Op>(x.w, y.w);
    out[i] = r;
  }
}

template <int Op, typename T>
ADVPROP_HD T unary_op(T x, T alpha) {
  switch (Op) {
    case static_cast<int>(UnaryOp::scale): return alpha * x;
    case static_cast<int>(UnaryOp::add_scalar): return x + alpha;
    case static_cast<int>(UnaryOp::silu): return x * ew_sigmoid(x);
    case static_cast<int>(UnaryOp::sigmoid): return ew_sigmoid(x);
    case static_cast<int>(UnaryOp::relu): return x < T(0) ? T(0) : x;  // NaN and -0 pass, as on the CPU
    case static_cast<int>(UnaryOp::exp): return ew_exp(x);
    case static_cast<int>(UnaryOp::log): return ew_log(x);
    case static_cast<int>(UnaryOp::square): return x * x;
    default: return -x;
  }
}

// dy * f'(x), from the forward input.
template <int Op, typename T>
ADVPROP_HD T unary_grad(T x, T dy, T alpha) {
  switch (Op) {
    case static_cast<int>(UnaryOp::scale): return dy * alpha;
    case static_cast<int>(UnaryOp::add_scalar): return dy;
    case static_cast<int>(UnaryOp::silu): {
      T s, sn;
      sigmoid_pair(x, s, sn);
      return dy * (s * (T(1) + x * sn));
    }
    case static_cast<int>(UnaryOp::sigmoid): {
      T s, sn;
      sigmoid_pair(x, s, sn);
      return dy * (s * sn);
    }
    case static_cast<int>(UnaryOp::relu): return x > T(0) ? dy : T(0);
    case static_cast<int>(UnaryOp::exp): return dy * ew_exp(x);
    case static_cast<int>(UnaryOp::log): return dy / x;
    case static_cast<int>(UnaryOp::square): return dy * (x + x);
    default: return -dy;
  }
}

// f32, 16-byte aligned: one float4 per thread and step. A scalar 4-byte load per thread leaves
// too few bytes in flight to stream from HBM (72-75% of copy on the H200 for silu, scale, relu).
template <int Op>
__global__ void unary_vec4_kernel(const float4* x, float4* out, int64_t n4, float alpha) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 v = x[i];
    out[i] = make_float4(unary_op<Op>(v.x, alpha), unary_op<Op>(v.y, alpha), unary_op<Op>(v.z, alpha),
                         unary_op<Op>(v.w, alpha));
  }
}

template <int Op>
__global__ void unary_backward_vec4_kernel(const float4* x, const float4* dy, float4* dx, int64_t n4, float alpha) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 v = x[i], g = dy[i];
    dx[i] = make_float4(unary_grad<Op>(v.x, g.x, alpha), unary_grad<Op>(v.y, g.y, alpha),
                        unary_grad<Op>(v.z, g.z, alpha), unary_grad<Op>(v.w, g.w, alpha));
  }
}

// out[i] = a[i % na4] op b[i % nb4] on float4s, for broadcasts whose operand sizes are multiples
// of 4 (per-channel scales with C % 4 == 0); the index walk is binary_kernel's.
template <int Op>
__global__ void binary_bcast_vec4_kernel(const float4* a, int64_t na4, const float4* b, int64_t nb4, float4* out,
                                         int64_t n4) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n4) return;
  int64_t ia = i % na4, ib = i % nb4;
  const int64_t sa = stride % na4, sb = stride % nb4;
  for (; i < n4; i += stride) {
    const float4 x = a[ia], y = b[ib];
    out[i] = make_float4(binary_op<Op>(x.x, y.x), binary_op<Op>(x.y, y.y), binary_op<Op>(x.z, y.z),
                         binary_op<Op>(x.w, y.w));
    ia += sa;
    if (ia >= na4) ia -= na4;
    ib += sb;
    if (ib >= nb4) ib -= nb4;
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <int Op, typename T>
__global__ void unary_kernel(const T* x, T* out, int64_t n, T alpha) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = unary_op<Op>(x[i], alpha);
}

template <int Op, typename T>
__global__ void unary_backward_kernel(const T* x, const T* dy, T* dx, int64_t n, T alpha) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dx[i] = unary_grad<Op>(x[i], dy[i], alpha);
}

[[noreturn]] void bad_dtype(const char* op, DType t, const char* supported) {
  fail(ErrorCode::DType, std::string(op) + ": dtype " + dtype_name(t) + " is not supported (" + supported + ")");
}

// Calls f(T{}) for the float dtypes.
template <typename F>
void float_dispatch(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    default: bad_dtype(op, t, "f32, f64");
  }
}

template <typename F>
void all_dispatch(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::i32: f(int32_t{}); return;
    default: bad_dtype(op, t, "f32, f64, i32");
  }
}

template <int Op, typename T>
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
    ADVPROP_LAUNCH(binary_bcast_vec4_kernel<Op>, grid_for(n / 4, kThreads), kThreads, 0, s)(
        reinterpret_cast<const float4*>(pa), a.numel() / 4, reinterpret_cast<const float4*>(pb), b.numel() / 4,
        reinterpret_cast<float4*>(po), n / 4);
    return;
  }
  ADVPROP_LAUNCH((binary_kernel<Op, T>), grid_for(n, kThreads), kThreads, 0, s)(pa, a.numel(), pb, b.numel(), po, n);
}

template <int Op, typename T>
void launch_unary(const Tensor& x, T alpha, Tensor& out) {
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

template <int Op, typename T>
void launch_unary_backward(const Tensor& x, const Tensor& dy, T alpha, Tensor& dx) {
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

// Turns the runtime op into the template argument of `fn`.
#define ADVPROP_UNARY_SWITCH(op, fn, T, ...)                                        \
  switch (op) {                                                                       \
    case UnaryOp::scale: fn<static_cast<int>(UnaryOp::scale), T>(__VA_ARGS__); break; \
    case UnaryOp::add_scalar: fn<static_cast<int>(UnaryOp::add_scalar), T>(__VA_ARGS__); break; \
    case UnaryOp::silu: fn<static_cast<int>(UnaryOp::silu), T>(__VA_ARGS__); break;   \
    case UnaryOp::sigmoid: fn<static_cast<int>(UnaryOp::sigmoid), T>(__VA_ARGS__); break; \
    case UnaryOp::relu: fn<static_cast<int>(UnaryOp::relu), T>(__VA_ARGS__); break;   \
    case UnaryOp::exp: fn<static_cast<int>(UnaryOp::exp), T>(__VA_ARGS__); break;     \
    case UnaryOp::log: fn<static_cast<int>(UnaryOp::log), T>(__VA_ARGS__); break;     \
    case UnaryOp::square: fn<static_cast<int>(UnaryOp::square), T>(__VA_ARGS__); break; \
    case UnaryOp::neg: fn<static_cast<int>(UnaryOp::neg), T>(__VA_ARGS__); break;     \
    default: fail(ErrorCode::Arg, "unary: unknown op " + std::to_string(static_cast<int>(op))); \
  }

}  // namespace

void fill(Tensor& out, double value) {
  const int64_t n = out.numel();
  all_dispatch(out.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    if (n == 0) return;
    ADVPROP_LAUNCH(fill_kernel<T>, grid_for(n, kThreads), kThreads, 0, stream_of(out))(
        out.data_as<T>(), n, convert<T>(value));
  });
}

void cast(const Tensor& src, Tensor& dst) {
  const int64_t n = dst.numel();
  ADVPROP_CHECK(src.numel() == n, ErrorCode::Shape,
                "cast: src " + shape_str(src.shape()) + " and dst " + shape_str(dst.shape()) + " differ in size");
  all_dispatch(src.dtype(), "cast", [&](auto stag) {
    all_dispatch(dst.dtype(), "cast", [&](auto dtag) {
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
  ADVPROP_CHECK(a.numel() > 0 && b.numel() > 0 && n % a.numel() == 0 && n % b.numel() == 0, ErrorCode::Shape,
                std::string(binary_op_name(op)) + ": out " + shape_str(out.shape()) + " is not a multiple of a " +
                    shape_str(a.shape()) + " and b " + shape_str(b.shape()));
  float_dispatch(out.dtype(), binary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case BinaryOp::add: launch_binary<static_cast<int>(BinaryOp::add), T>(a, b, out); break;
      case BinaryOp::sub: launch_binary<static_cast<int>(BinaryOp::sub), T>(a, b, out); break;
      case BinaryOp::mul: launch_binary<static_cast<int>(BinaryOp::mul), T>(a, b, out); break;
      case BinaryOp::div: launch_binary<static_cast<int>(BinaryOp::div), T>(a, b, out); break;
      default: fail(ErrorCode::Arg, "binary: unknown op " + std::to_string(static_cast<int>(op)));
    }
  });
}

void unary(UnaryOp op, const Tensor& x, double alpha, Tensor& out) {
  if (out.numel() == 0) return;
  float_dispatch(out.dtype(), unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    ADVPROP_UNARY_SWITCH(op, launch_unary, T, x, static_cast<T>(alpha), out)
  });
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& dy, double alpha, Tensor& dx) {
  if (dx.numel() == 0) return;
  float_dispatch(dx.dtype(), unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    ADVPROP_UNARY_SWITCH(op, launch_unary_backward, T, x, dy, static_cast<T>(alpha), dx)
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
