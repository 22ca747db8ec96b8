// Included first by every native/cuda/*.cu file. The same sources are compiled twice: by nvcc
// into namespace advprop::cuda, and by the host compiler with ADVPROP_SIM defined into
// advprop::cudasim, where native/sim provides the CUDA language and runtime on the CPU. Code in
// this folder therefore uses only: ADVPROP_LAUNCH for launches, ADVPROP_DYNAMIC_SMEM for dynamic
// shared memory, static __shared__ arrays, the warp intrinsics, half types and runtime calls that
// the simulator implements (see native/sim/cuda_sim.h), and inline PTX only through the wrappers
// of ptx.cuh.
#pragma once

#if defined(ADVPROP_SIM)
#include "../sim/cuda_sim.h"
#define ADVPROP_CUDA_NS cudasim
#define ADVPROP_DYNAMIC_SMEM(T, name) T* name = reinterpret_cast<T*>(::advprop::sim::dynamic_smem())
#define ADVPROP_LAUNCH(kernel, grid, block, smem, stream) \
  ::advprop::sim::make_launch(kernel, grid, block, smem, stream, #kernel)
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#define ADVPROP_CUDA_NS cuda
#define ADVPROP_DYNAMIC_SMEM(T, name)                              \
  extern __shared__ __align__(16) unsigned char advprop_smem_raw[]; \
  T* name = reinterpret_cast<T*>(advprop_smem_raw)
#define ADVPROP_LAUNCH(kernel, grid, block, smem, stream) \
  ::advprop::cuda::make_launch(kernel, grid, block, smem, stream, #kernel)
#endif

#include <cstdint>
#include <string>
#include <utility>

#include "advprop/device.h"
#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/half.h"
#include "advprop/pointwise.h"
#include "advprop/tensor.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {

// The device type these kernels serve: the real GPU, or the simulator when built with ADVPROP_SIM.
#if defined(ADVPROP_SIM)
constexpr DeviceType kDeviceType = DeviceType::cuda_sim;
#else
constexpr DeviceType kDeviceType = DeviceType::cuda;
#endif

// Throws ERR_CUDA ("<what>: <cuda error string>") when err is not cudaSuccess.
void check_cuda(cudaError_t err, const char* what);
// The stream every op on device `index` is ordered on; also makes `index` the current device.
cudaStream_t stream_for(int index);
inline cudaStream_t stream_of(const Tensor& t) { return stream_for(t.device().index); }
// A host-to-device copy of at most kSmallUploadBytes queued on the op stream from a pinned ring,
// without waiting (native/cuda/staging.cu): labels and other small inputs inside a step.
constexpr size_t kSmallUploadBytes = size_t(256) << 10;
void small_upload(void* dst, const void* src, size_t bytes, int index);

// Blocks for a 1-D grid-stride kernel over n items: enough to fill the device, never zero.
inline unsigned grid_for(int64_t n, unsigned threads, unsigned max_blocks = 4096) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > max_blocks) b = max_blocks;
  return static_cast<unsigned>(b);
}

#if !defined(ADVPROP_SIM)
// Launch through a function pointer so that template kernels with commas in their argument
// lists can be passed to ADVPROP_LAUNCH wrapped in parentheses.
template <typename... KArgs>
struct Launch {
  void (*kernel)(KArgs...);
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  const char* name;
  template <typename... Args>
  void operator()(Args&&... args) const {
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0 || block.z == 0)
      ::advprop::fail(ErrorCode::Internal, std::string("launch of ") + name + ": empty grid or block");
    kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
    check_cuda(cudaGetLastError(), name);
  }
};
template <typename... KArgs>
Launch<KArgs...> make_launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                             cudaStream_t stream, const char* name) {
  return Launch<KArgs...>{kernel, grid, block, smem, stream, name};
}
#endif

// The math policy of advprop/pointwise.h: the device's exp and log (the host's on cuda-sim), and
// batch norm's silu by division.
struct Math : StdMath {
  template <typename T>
  ADVPROP_HD static T bn_silu(T z) {
    return silu_by_division<Math>(z);
  }
};

// Batch norm spells e^-|z| as exp(-fabs(z)) where the elementwise ops write exp(z < 0 ? z : -z):
// the two differ only in the sign bit of a NaN result, and are kept apart so that no bit moves.
// Shared by batchnorm.cu and the inference epilogue (gemm.cu, depthwise.cu), which must agree.
struct BnMath : Math {
  template <typename T>
  ADVPROP_HD static T exp_neg_abs(T z) {
    return exp(-::fabs(z));
  }
};

// a * s + b with the product rounded before the sum, as the CPU twins compute it: nvcc would
// otherwise contract the two into one FMA and the results would differ in the last bit.
__device__ __forceinline__ float mul_add_rn(float a, float s, float b) { return __fadd_rn(__fmul_rn(a, s), b); }
__device__ __forceinline__ double mul_add_rn(double a, double s, double b) { return __dadd_rn(__dmul_rn(a, s), b); }

// Sixteen bytes of T, moved by one 128-bit load or store: 4 f32, 8 bf16 or f16, 2 f64. The
// memory-bound kernels (batch norm's apply and input gradient, the pooling broadcasts, dropout)
// take a pack per thread and step where the innermost extent is a multiple of kLen and the
// pointers are 16-byte aligned: a 16-bit activation read element by element moves 2 bytes per
// load instruction, and a GPU needs many more bytes in flight than that to stream at copy speed.
// The arithmetic per element is the scalar kernels', so the bits are theirs.
template <typename T>
struct alignas(16) Pack {
  static constexpr int kLen = static_cast<int>(16 / sizeof(T));
  T v[kLen];
};
// Four consecutive T in one load (dropout's Philox block of four elements): 16 bytes of f32, 8 of
// bf16 or f16, 32 (two loads) of f64.
template <typename T>
struct alignas(4 * sizeof(T)) Quad {
  T v[4];
};
inline bool aligned_to(const void* p, uintptr_t bytes) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0; }
inline bool aligned16(const void* p) { return aligned_to(p, 16); }

// A 1-D grid-stride loop with 64-bit indices:
//   for (int64_t i = grid_start(); i < total; i += grid_step())
__device__ __forceinline__ int64_t grid_start() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t grid_step() { return static_cast<int64_t>(blockDim.x) * gridDim.x; }

// Splits a flat index innermost axis first: returns rest % extent and leaves rest / extent, so
// c = peel(r, C), w = peel(r, W), h = peel(r, H) leaves n in r.
__device__ __forceinline__ int64_t peel(int64_t& rest, int64_t extent) {
  const int64_t i = rest % extent;
  rest /= extent;
  return i;
}

// The position of flat index i in an NHWC tensor [N, H, W, C].
struct Nhwc {
  int64_t n, h, w, c;
};
__device__ __forceinline__ Nhwc nhwc_of(int64_t i, int64_t H, int64_t W, int64_t C) {
  const int64_t c = peel(i, C), w = peel(i, W), h = peel(i, H);
  return Nhwc{i, h, w, c};
}

// The per-channel sums over rows (batch-norm statistics, pooling, the depthwise weight gradient)
// run in blocks of kTileC channels (x, one warp reading consecutive channels) by kLanes row lanes
// (y), each lane striding through a chunk of rows; the lanes meet in a fixed tree.
constexpr int kTileC = 32;
constexpr int kLanes = 8;

// This thread's channel (block x) and the rows [begin, end) of chunk `index` of `chunk` rows.
struct ChannelTile {
  int64_t c, begin, end;
};
__device__ __forceinline__ ChannelTile channel_tile(unsigned index, int64_t chunk, int64_t rows) {
  const int64_t begin = static_cast<int64_t>(index) * chunk;
  return ChannelTile{static_cast<int64_t>(blockIdx.x) * kTileC + threadIdx.x, begin,
                     begin + chunk < rows ? begin + chunk : rows};
}

// Adds the kLanes values v of a channel into lane 0 in a fixed order, through the block's shared
// array s[kLanes][kTileC]; the sum is valid in lane 0 (threadIdx.y == 0).
template <typename T>
__device__ __forceinline__ T lane_sum(T (*s)[kTileC], T v) {
  s[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  for (int half = kLanes / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.y) < half) s[threadIdx.y][threadIdx.x] += s[threadIdx.y + half][threadIdx.x];
    __syncthreads();
  }
  return s[0][threadIdx.x];
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
