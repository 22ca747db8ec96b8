// The CUDA language and runtime surface that native/cuda/*.cu need when the host compiler builds
// them for the cuda-sim device (ADVPROP_SIM). Included by native/cuda/common.cuh only.
//
// Execution model (native/sim/scheduler.cc): every block runs its threads as cooperative fibers
// on one host thread; a fiber runs until it reaches __syncthreads, a warp intrinsic or its end.
// Blocks run in parallel on the CPU thread pool. Launches are synchronous, so streams and events
// only need to keep their API; a stream that captures records its launches instead
// (cuda_sim_runtime.h says what capture models).
//
// Beyond the warp intrinsics, barriers and atomics below, the math of cuda_sim_math.h and the
// runtime API of cuda_sim_runtime.h (runtime.cc), the simulator has:
// - __half and __nv_bfloat16 with their pairs and conversions (cuda_sim_half.h, on
//   advprop/half.h), bit for bit as on the GPU;
// - the PTX instructions of native/cuda/ptx.cuh, the only inline PTX kernels may use: mma.sync
//   (bf16, f16, tf32), ldmatrix and cp.async, modelled in ptx_sim.cc as cuda_sim_ptx.h describes.
//   Warp-wide instructions meet at the warp intrinsics' rendezvous (warp_collective, below) with
//   all 32 lanes' registers, and compute once per warp in lane order, so results are deterministic.
//
// Limitations that kernel code must respect:
// - `__shared__` expands to `static thread_local`: declare shared variables inside a kernel or
//   __device__ function body and never initialise them (CUDA forbids it too). Their bytes are
//   not checked by AddressSanitizer; dynamic shared memory (ADVPROP_DYNAMIC_SMEM) is, and is
//   filled with 0xFF bytes at the start of every block so that reads before writes show up.
// - `extern __shared__` does not compile here: use ADVPROP_DYNAMIC_SMEM.
// - __CUDA_ARCH__ and __CUDACC__ are not defined; no `asm` (use ptx.cuh), no WMMA (nvcuda::wmma),
//   no half-precision math beyond the operators and conversions of cuda_sim_half.h.
// - __activemask() returns the warp's lanes that have not exited (the simulator does not track
//   divergence); warp intrinsics wait for every non-exited lane named in the mask, and mma.sync
//   and ldmatrix for all 32 lanes (a warp with exited or missing lanes is an error).
// - The simulator does not check that an address passed to ldmatrix or cp.async is in shared
//   memory (only that it is aligned).
// - A thread that spins on memory written by another thread of its block never yields: it hangs.
#pragma once

#if !defined(ADVPROP_SIM)
#error "cuda_sim.h is only for ADVPROP_SIM builds"
#endif

// Standard headers come before the keyword macros: libstdc++ spells __noinline__ inside
// attributes, which the macro below would break.
#include <math.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "advprop/error.h"

#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __forceinline__ __inline__
#define __noinline__ __attribute__((noinline))
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define __shared__ static thread_local

namespace advprop {
namespace sim {
namespace rt {

// ---- vector types -------------------------------------------------------------------------

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

#define ADVPROP_SIM_VEC2(T, name, align)                                              \
  struct __attribute__((aligned(align))) name {                                       \
    T x, y;                                                                           \
  };                                                                                  \
  inline name make_##name(T x, T y) { return name{x, y}; }
#define ADVPROP_SIM_VEC3(T, name)                                                     \
  struct name {                                                                       \
    T x, y, z;                                                                        \
  };                                                                                  \
  inline name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define ADVPROP_SIM_VEC4(T, name, align)                                              \
  struct __attribute__((aligned(align))) name {                                       \
    T x, y, z, w;                                                                     \
  };                                                                                  \
  inline name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }
ADVPROP_SIM_VEC2(int, int2, 8)
ADVPROP_SIM_VEC3(int, int3)
ADVPROP_SIM_VEC4(int, int4, 16)
ADVPROP_SIM_VEC2(unsigned, uint2, 8)
ADVPROP_SIM_VEC4(unsigned, uint4, 16)
ADVPROP_SIM_VEC2(float, float2, 8)
ADVPROP_SIM_VEC3(float, float3)
ADVPROP_SIM_VEC4(float, float4, 16)
ADVPROP_SIM_VEC2(double, double2, 16)
ADVPROP_SIM_VEC2(long long, longlong2, 16)
ADVPROP_SIM_VEC4(unsigned char, uchar4, 4)
ADVPROP_SIM_VEC2(short, short2, 4)
#undef ADVPROP_SIM_VEC2
#undef ADVPROP_SIM_VEC3
#undef ADVPROP_SIM_VEC4

constexpr int warpSize = 32;

}  // namespace rt

// ---- the running thread --------------------------------------------------------------------

namespace detail {

// What the built-in variables read. The scheduler rewrites thread_idx/linear_tid on every fiber
// switch; all fibers of a block share one host thread, so one slot per host thread suffices.
struct CurrentThread {
  rt::uint3 thread_idx{0, 0, 0};
  rt::uint3 block_idx{0, 0, 0};
  rt::dim3 block_dim{1, 1, 1};
  rt::dim3 grid_dim{1, 1, 1};
  unsigned linear_tid = 0;
  void* smem = nullptr;
  // Counts the blocks this host thread has run, so that per-thread state kept outside the
  // scheduler (cp.async queues, native/sim/ptx_sim.cc) can tell a new block from the last one.
  uint64_t block_serial = 0;
};
// Defined inline (not extern) so that every access is a plain TLS load without a wrapper call.
inline thread_local CurrentThread tl_current;

inline const rt::uint3& current_thread_idx() { return tl_current.thread_idx; }
inline const rt::uint3& current_block_idx() { return tl_current.block_idx; }
inline const rt::dim3& current_block_dim() { return tl_current.block_dim; }
inline const rt::dim3& current_grid_dim() { return tl_current.grid_dim; }

// Warp intrinsics meet in warp_exchange: the calling lane publishes `value` and waits until every
// non-exited lane of `mask` has arrived, then receives its result (see scheduler.cc).
enum WarpOp : int { kWarpSync = 0, kWarpShfl = 1, kWarpVote = 2, kWarpMatch = 3, kWarpCollective = 4 };
uint64_t warp_exchange(int op, unsigned mask, uint64_t value, int src_lane);
unsigned warp_live_mask();

// A warp-wide instruction whose operands do not fit warp_exchange's 64-bit slot (mma.sync takes
// 10 words per lane, ldmatrix an address and returns up to 4 words). Every lane copies up to
// kLaneWordsIn words into its LaneWords and parks at the same rendezvous as the intrinsics above;
// when all 32 lanes have arrived, `run` is called once with the warp's 32 LaneWords (lane order)
// and fills each lane's `out`, which the lane copies back when it resumes. The whole warp must
// take part, as .sync.aligned instructions require: a warp with exited or missing lanes, or lanes
// at a different instruction, ends the launch with an error naming `name`.
constexpr int kLaneWordsIn = 16;
constexpr int kLaneWordsOut = 8;
struct LaneWords {
  uint32_t in[kLaneWordsIn];
  uint32_t out[kLaneWordsOut];
};
struct WarpCollective {
  const char* name;
  void (*run)(LaneWords* lanes);
};
void warp_collective(const WarpCollective& op, const uint32_t* in, int n_in, uint32_t* out, int n_out);
// Block barrier; mode 0 plain, 1 count, 2 and, 3 or (the __syncthreads_* variants).
int block_barrier(int pred, int mode);

template <typename T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "cuda-sim warp shuffles take trivially copyable types of at most 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

// Source lane of a shuffle, following the PTX shfl.sync definition (modes up, down, bfly, idx):
// out-of-segment sources read the caller's own value.
enum ShflMode : int { kShflUp, kShflDown, kShflBfly, kShflIdx };
inline int shfl_source(int mode, int lane, unsigned b, int width) {
  const int segmask = (32 - width) & 31;
  const int cval = mode == kShflUp ? 0 : 31;
  const int max_lane = (lane & segmask) | (cval & ~segmask);
  const int min_lane = lane & segmask;
  const int bval = static_cast<int>(b & 31u);
  int j = lane;
  bool ok = false;
  switch (mode) {
    case kShflUp: j = lane - bval; ok = j >= max_lane; break;
    case kShflDown: j = lane + bval; ok = j <= max_lane; break;
    case kShflBfly: j = lane ^ bval; ok = j <= max_lane; break;
    default: j = min_lane | (bval & ~segmask); ok = j <= max_lane; break;
  }
  return ok ? j : lane;
}

template <typename T>
inline T shfl(int mode, unsigned mask, T var, unsigned b, int width) {
  int src = shfl_source(mode, static_cast<int>(tl_current.linear_tid & 31u), b, width);
  return from_bits<T>(warp_exchange(kWarpShfl, mask, to_bits(var), src));
}

inline void compiler_barrier() { __asm__ __volatile__("" ::: "memory"); }

}  // namespace detail

namespace rt {

// ---- synchronisation ------------------------------------------------------------------------

inline void __syncthreads() {
  detail::compiler_barrier();
  detail::block_barrier(0, 0);
  detail::compiler_barrier();
}
inline int __syncthreads_count(int pred) {
  detail::compiler_barrier();
  int r = detail::block_barrier(pred, 1);
  detail::compiler_barrier();
  return r;
}
inline int __syncthreads_and(int pred) {
  detail::compiler_barrier();
  int r = detail::block_barrier(pred, 2);
  detail::compiler_barrier();
  return r;
}
inline int __syncthreads_or(int pred) {
  detail::compiler_barrier();
  int r = detail::block_barrier(pred, 3);
  detail::compiler_barrier();
  return r;
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  detail::compiler_barrier();
  detail::warp_exchange(detail::kWarpSync, mask, 0, 0);
  detail::compiler_barrier();
}
inline unsigned __activemask() { return detail::warp_live_mask(); }

template <typename T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  return detail::shfl(detail::kShflIdx, mask, var, static_cast<unsigned>(src_lane), width);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return detail::shfl(detail::kShflUp, mask, var, delta, width);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return detail::shfl(detail::kShflDown, mask, var, delta, width);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  return detail::shfl(detail::kShflBfly, mask, var, static_cast<unsigned>(lane_mask), width);
}

inline unsigned __ballot_sync(unsigned mask, int pred) {
  return static_cast<unsigned>(detail::warp_exchange(detail::kWarpVote, mask, pred != 0, 0));
}
// The vote result carries the participating lanes in its high word.
inline int __any_sync(unsigned mask, int pred) {
  return static_cast<uint32_t>(detail::warp_exchange(detail::kWarpVote, mask, pred != 0, 0)) != 0;
}
inline int __all_sync(unsigned mask, int pred) {
  uint64_t r = detail::warp_exchange(detail::kWarpVote, mask, pred != 0, 0);
  return static_cast<uint32_t>(r) == static_cast<uint32_t>(r >> 32);
}
template <typename T>
inline unsigned __match_any_sync(unsigned mask, T value) {
  return static_cast<unsigned>(detail::warp_exchange(detail::kWarpMatch, mask, detail::to_bits(value), 0));
}

inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline long long clock64() {
#if defined(__x86_64__)
  return static_cast<long long>(__builtin_ia32_rdtsc());
#else
  return std::chrono::steady_clock::now().time_since_epoch().count();
#endif
}
inline void __nanosleep(unsigned) {}
[[noreturn]] void __trap();

// ---- atomics (blocks may run concurrently on different host threads) -----------------------

#define ADVPROP_SIM_ATOMIC_INT(T)                                                                  \
  inline T atomicAdd(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicSub(T* p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicAnd(T* p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicOr(T* p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }             \
  inline T atomicXor(T* p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }           \
  inline T atomicExch(T* p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }         \
  inline T atomicCAS(T* p, T compare, T v) {                                                       \
    __atomic_compare_exchange_n(p, &compare, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);        \
    return compare;                                                                                \
  }                                                                                                \
  inline T atomicMax(T* p, T v) {                                                                  \
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);                                                  \
    while (old < v &&                                                                              \
           !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {  \
    }                                                                                              \
    return old;                                                                                    \
  }                                                                                                \
  inline T atomicMin(T* p, T v) {                                                                  \
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);                                                  \
    while (v < old &&                                                                              \
           !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {  \
    }                                                                                              \
    return old;                                                                                    \
  }
ADVPROP_SIM_ATOMIC_INT(int)
ADVPROP_SIM_ATOMIC_INT(unsigned)
ADVPROP_SIM_ATOMIC_INT(unsigned long long)
ADVPROP_SIM_ATOMIC_INT(long long)
#undef ADVPROP_SIM_ATOMIC_INT

namespace detail_atomic {
// Floating-point read-modify-write as a compare-and-swap loop on the bit pattern.
template <typename F, typename Bits, typename Op>
inline F rmw(F* p, Op op) {
  static_assert(sizeof(F) == sizeof(Bits), "bit width");
  Bits* bp = reinterpret_cast<Bits*>(p);
  Bits old_bits = __atomic_load_n(bp, __ATOMIC_SEQ_CST);
  for (;;) {
    F old_val;
    std::memcpy(&old_val, &old_bits, sizeof(F));
    F new_val = op(old_val);
    Bits new_bits;
    std::memcpy(&new_bits, &new_val, sizeof(F));
    if (__atomic_compare_exchange_n(bp, &old_bits, new_bits, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      return old_val;
  }
}
}  // namespace detail_atomic

inline float atomicAdd(float* p, float v) {
  return detail_atomic::rmw<float, uint32_t>(p, [v](float o) { return o + v; });
}
inline double atomicAdd(double* p, double v) {
  return detail_atomic::rmw<double, uint64_t>(p, [v](double o) { return o + v; });
}
inline float atomicExch(float* p, float v) {
  return detail_atomic::rmw<float, uint32_t>(p, [v](float) { return v; });
}
inline unsigned atomicInc(unsigned* p, unsigned limit) {
  unsigned old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (!__atomic_compare_exchange_n(p, &old, old >= limit ? 0u : old + 1u, true, __ATOMIC_SEQ_CST,
                                      __ATOMIC_SEQ_CST)) {
  }
  return old;
}
inline unsigned atomicDec(unsigned* p, unsigned limit) {
  unsigned old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (!__atomic_compare_exchange_n(p, &old, (old == 0u || old > limit) ? limit : old - 1u, true,
                                      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}

}  // namespace rt
}  // namespace sim
}  // namespace advprop

// Parts of this header, in files of their own for size; they rely on everything above (the standard
// headers, which must precede the keyword macros, included).
#include "cuda_sim_math.h"
#include "cuda_sim_runtime.h"

namespace advprop {
namespace sim {

// ---- launches -------------------------------------------------------------------------------

struct LaunchSpec {
  const void* kernel;  // identity for cudaFuncSetAttribute
  const char* name;
  rt::dim3 grid, block;
  size_t smem;
};

// Checks the configuration like the hardware would (throws advprop::Error, code Cuda), then runs
// invoke(arg) once per simulated thread and returns when every block has finished. An exception
// thrown by a kernel thread, or a deadlock, stops the launch and is rethrown here.
void run_kernel(const LaunchSpec& spec, void (*invoke)(void*), void* arg);

// Dynamic shared memory of the calling thread's block.
inline void* dynamic_smem() { return detail::tl_current.smem; }

// Checks `spec` as run_kernel would and records `run` if `stream` captures (graph.cc). Returns
// false when the stream does not capture, so the caller runs the launch now; throws like a
// rejected launch when the capture was invalidated or the configuration is refused.
bool capture_launch(const LaunchSpec& spec, rt::cudaStream_t stream, std::function<void()> run);

template <typename... KArgs>
struct Launch {
  void (*kernel)(KArgs...);
  LaunchSpec spec;
  rt::cudaStream_t stream;

  template <typename... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(KArgs), "wrong number of kernel arguments");
    // Arguments are converted once, as the CUDA runtime copies them into the launch; every
    // simulated thread then gets its own by-value copy from this tuple.
    struct Frame {
      void (*kernel)(KArgs...);
      std::tuple<std::decay_t<KArgs>...> args;
      static void invoke(void* p) {
        Frame* f = static_cast<Frame*>(p);
        std::apply(f->kernel, f->args);
      }
    };
    if (any_capture()) {
      // A captured launch keeps its frame, so a replay sees the arguments of capture time.
      auto frame = std::make_shared<Frame>(Frame{kernel, std::tuple<std::decay_t<KArgs>...>(std::forward<Args>(args)...)});
      const LaunchSpec s = spec;
      if (!capture_launch(spec, stream, [s, frame] { run_kernel(s, &Frame::invoke, frame.get()); }))
        run_kernel(spec, &Frame::invoke, frame.get());
      return;
    }
    Frame frame{kernel, std::tuple<std::decay_t<KArgs>...>(std::forward<Args>(args)...)};
    run_kernel(spec, &Frame::invoke, &frame);
  }
};

template <typename... KArgs>
Launch<KArgs...> make_launch(void (*kernel)(KArgs...), rt::dim3 grid, rt::dim3 block, size_t smem,
                             rt::cudaStream_t stream, const char* name) {
  return Launch<KArgs...>{kernel, LaunchSpec{reinterpret_cast<const void*>(kernel), name, grid, block, smem},
                          stream};
}

}  // namespace sim
}  // namespace advprop

#include "cuda_sim_half.h"

#define threadIdx (::advprop::sim::detail::current_thread_idx())
#define blockIdx (::advprop::sim::detail::current_block_idx())
#define blockDim (::advprop::sim::detail::current_block_dim())
#define gridDim (::advprop::sim::detail::current_grid_dim())

using namespace ::advprop::sim::rt;
