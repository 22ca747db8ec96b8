// Sums described by a ReducePlan (contract: advprop/reduce.h). Deterministic: the order in which
// an output's terms are added depends only on the plan, never on timing or the device.
//
// One kernel covers every shape. A block of (bx, by) threads (bx * by = 256, or bx = 1 and by a
// power of two from 32 to 256) handles a tile of bx consecutive outputs; its by rows of threads
// stride through the output's reduction range, and their per-thread sums are combined by a fixed
// binary tree (shared memory across warps, shuffles inside one). The shape picks the layout so
// that a warp reads contiguous memory: up to 16 terms, one thread per output (bx = 256); when the
// innermost kept axis has stride 1 (per-channel sums over NHWC), 32 outputs side by side
// (bx = 32); otherwise the block walks along the reduction (bx = 1). When there are too few
// output tiles to fill the device, the reduction range is split into chunks (blockIdx.y), the
// first pass writes per-chunk partials to a scratch buffer and a second pass of the same kernel
// sums them in chunk order. Sums are accumulated in double for f32 and f64 alike, as on the CPU:
// reductions are bound by memory, so the wider adds cost little and an f32 result is the
// correctly rounded sum in all but pathological cases. bf16 and f16 are widened exactly on the
// load and the double total is rounded once to 16 bits (from_double); partials stay double.
#include "common.cuh"

#include <algorithm>

#include "advprop/device.h"
#include "advprop/reduce.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {

DeviceBackend& device_backend();  // runtime.cu

namespace {

constexpr unsigned kBlock = 256;
constexpr int64_t kSmallReduce = 16;    // up to this many terms: one thread per output
constexpr int64_t kTargetBlocks = 1024;  // enough blocks to fill any current GPU a few times
constexpr int64_t kMinPerThread = 16;    // terms per thread below which splitting does not pay
constexpr int64_t kMaxChunks = 4096;
constexpr int64_t kMaxGridX = 8192;      // more output tiles than this: blocks loop over them

template <typename T, typename OutT>
__global__ void reduce_kernel(const T* x, ReducePlan p, double scale, OutT* out, int64_t chunk, int64_t ntiles) {
  __shared__ double sm[kBlock];
  const unsigned bx = blockDim.x, by = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t r1 = r0 + chunk < p.reduce_count ? r0 + chunk : p.reduce_count;
  for (int64_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    const int64_t o = tile * bx + tx;
    double acc = 0.0;
    if (o < p.out_count) {
      const T* base = x + p.kept_offset(o);
      if (p.n_red == 1) {
        const int64_t s = p.red_stride[0];
        for (int64_t r = r0 + ty; r < r1; r += by) acc += static_cast<double>(to_accum(base[r * s]));
      } else {
        for (int64_t r = r0 + ty; r < r1; r += by) acc += static_cast<double>(to_accum(base[p.red_offset(r)]));
      }
    }
    // Tree over ty: row ty += row ty + h. Levels whose partner is in another warp go through
    // shared memory; the last ones (h * bx < 32, all inside warp 0) through shuffles, which add
    // the same pairs without a barrier per level.
    const unsigned t = ty * bx + tx;
    sm[t] = acc;
    __syncthreads();
    unsigned h = by / 2;
    for (; h * bx >= 32; h >>= 1) {
      if (ty < h) sm[t] += sm[t + h * bx];
      __syncthreads();
    }
    double total = sm[t];
    if (h > 0 && t < 32)
      for (; h > 0; h >>= 1) total += __shfl_down_sync(0xffffffffu, total, h * bx);
    if (ty == 0 && o < p.out_count)
      out[static_cast<int64_t>(blockIdx.y) * p.out_count + o] = from_double<OutT>(total * scale);
    __syncthreads();  // sm is reused by the next tile
  }
}

struct Config {
  unsigned bx = 1, by = 1;
  int64_t ntiles = 1, chunk = 1, nchunks = 1;
};

unsigned pow2_at_least(int64_t n, unsigned cap) {
  unsigned p = 1;
  while (p < cap && p < n) p *= 2;
  return p;
}

// A function of the plan alone, so that every device sums in the same order.
Config choose(const ReducePlan& p, bool allow_split) {
  Config c;
  const int64_t O = p.out_count, R = p.reduce_count;
  if (R <= kSmallReduce) {
    c.bx = kBlock;
    c.by = 1;
  } else if (p.n_kept > 0 && p.kept_stride[p.n_kept - 1] == 1) {
    c.bx = pow2_at_least(O, 32);
    c.by = kBlock / c.bx;
  } else {
    c.bx = 1;
    c.by = std::max(32u, pow2_at_least(R, kBlock));
  }
  c.ntiles = (O + c.bx - 1) / c.bx;
  int64_t n = 1;
  if (allow_split && c.ntiles < kTargetBlocks) {
    const int64_t by_work = R / (c.by * kMinPerThread);
    const int64_t want = (kTargetBlocks + c.ntiles - 1) / c.ntiles;
    n = std::max<int64_t>(1, std::min({by_work, want, kMaxChunks}));
  }
  const int64_t per = (R + n - 1) / n;
  c.chunk = std::max<int64_t>(c.by, (per + c.by - 1) / c.by * c.by);
  c.nchunks = std::max<int64_t>(1, (R + c.chunk - 1) / c.chunk);
  return c;
}

template <typename T, typename OutT>
void launch(const T* x, const ReducePlan& p, const Config& c, double scale, OutT* out, cudaStream_t s) {
  dim3 grid(static_cast<unsigned>(std::min(c.ntiles, kMaxGridX)), static_cast<unsigned>(c.nchunks));
  dim3 block(c.bx, c.by);
  ADVPROP_LAUNCH((reduce_kernel<T, OutT>), grid, block, 0, s)(x, p, scale, out, c.chunk, c.ntiles);
}

// Scratch for the partial sums; returned to the caching allocator right after the second pass
// is queued, which is safe because any later user of the block is ordered after that pass.
struct Scratch {
  void* ptr;
  size_t bytes;
  int index;
  Scratch(size_t b, int i) : ptr(device_backend().allocate(b, i)), bytes(b), index(i) {}
  ~Scratch() { device_backend().deallocate(ptr, bytes, index); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

template <typename T>
void sum_typed(const Tensor& x, const ReducePlan& plan, double scale, Tensor& out) {
  cudaStream_t s = stream_of(out);
  const Config c = choose(plan, true);
  if (c.nchunks == 1) {
    launch(x.data_as<T>(), plan, c, scale, out.data_as<T>(), s);
    return;
  }
  Scratch partial(static_cast<size_t>(c.nchunks * plan.out_count) * sizeof(double), out.device().index);
  double* part = static_cast<double*>(partial.ptr);
  launch(x.data_as<T>(), plan, c, 1.0, part, s);
  // The partials form a [nchunks, out_count] matrix; sum its columns in chunk order.
  ReducePlan p2;
  p2.n_kept = 1;
  p2.kept_size[0] = plan.out_count;
  p2.kept_stride[0] = 1;
  p2.n_red = 1;
  p2.red_size[0] = c.nchunks;
  p2.red_stride[0] = plan.out_count;
  p2.out_count = plan.out_count;
  p2.reduce_count = c.nchunks;
  launch(static_cast<const double*>(part), p2, choose(p2, false), scale, out.data_as<T>(), s);
}

}  // namespace

void sum(const Tensor& x, const ReducePlan& plan, double scale, Tensor& out) {
  assert_plan_fits(plan, x, out);
  if (out.numel() == 0) return;
  if (plan.reduce_count == 0) {  // empty sums are +0 whatever the scale's sign, as on the CPU
    check_cuda(cudaMemsetAsync(out.data(), 0, out.nbytes(), stream_of(out)), "sum");
    return;
  }
  dispatch_dtype<MixedFloatTypes>(x.dtype(), "sum", [&](auto t) { sum_typed<decltype(t)>(x, plan, scale, out); });
}

namespace {

template <typename T>
__global__ void sum_backward_kernel(const T* dy, ReducePlan p, double scale, T* dx, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t o = i / p.reduce_count, r = i - o * p.reduce_count;
    dx[p.kept_offset(o) + p.red_offset(r)] = from_double<T>(scale * static_cast<double>(to_accum(dy[o])));
  }
}

}  // namespace

void sum_backward(const Tensor& dy, const ReducePlan& plan, double scale, Tensor& dx) {
  assert_plan_fits(plan, dx, dy);
  const int64_t total = dx.numel();
  if (total == 0) return;
  const unsigned threads = 256;
  cudaStream_t s = stream_of(dx);
  dispatch_dtype<MixedFloatTypes>(dy.dtype(), "sumBackward", [&](auto t) {
    using T = decltype(t);
    ADVPROP_LAUNCH((sum_backward_kernel<T>), grid_for(total, threads), threads, 0, s)(
        dy.data_as<T>(), plan, scale, dx.data_as<T>(), total);
  });
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
