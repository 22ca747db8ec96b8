// The tensor-core check kernels (contract: advprop/tensor_core_check.h): each runs one PTX
// wrapper of ptx.cuh on operands from global memory, arranged into registers by the PTX ISA's
// fragment layouts exactly as ptx.cuh documents them, and writes the raw result back.
#include "common.cuh"
#include "ptx.cuh"

#include <cstdint>
#include <string>
#include <vector>

#include "advprop/error.h"
#include "advprop/tensor_core_check.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace {

// C/D element i of this lane: (g + 8 * (i / 2), 2t + i % 2) of a 16 x 8 matrix.
__device__ __forceinline__ int cd_index(int lane, int i) {
  return ((lane >> 2) + 8 * (i >> 1)) * 8 + 2 * (lane & 3) + (i & 1);
}

__global__ void mma_m16n8k16_kernel(int f16, const uint32_t* a, const uint32_t* b, const float* c, float* d) {
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  uint32_t ra[4], rb[2];
  float rc[4], rd[4];
  for (int r = 0; r < 4; ++r) {
    const int at = (g + 8 * (r & 1)) * 16 + 2 * t + 8 * (r >> 1);
    ra[r] = (a[at] & 0xffffu) | (a[at + 1] << 16);
  }
  for (int r = 0; r < 2; ++r) {
    const int k = 2 * t + 8 * r;
    rb[r] = (b[k * 8 + g] & 0xffffu) | (b[(k + 1) * 8 + g] << 16);
  }
  for (int i = 0; i < 4; ++i) rc[i] = c[cd_index(lane, i)];
  if (f16)
    ptx::mma_m16n8k16_f16_f32(rd, ra, rb, rc);
  else
    ptx::mma_m16n8k16_bf16_f32(rd, ra, rb, rc);
  for (int i = 0; i < 4; ++i) d[cd_index(lane, i)] = rd[i];
}

// Accumulates in place (d aliases c), as a GEMM's main loop does.
__global__ void mma_m16n8k8_tf32_kernel(const uint32_t* a, const uint32_t* b, const float* c, float* d) {
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  uint32_t ra[4], rb[2];
  float acc[4];
  for (int r = 0; r < 4; ++r) ra[r] = a[(g + 8 * (r & 1)) * 8 + t + 4 * (r >> 1)];
  for (int r = 0; r < 2; ++r) rb[r] = b[(t + 4 * r) * 8 + g];
  for (int i = 0; i < 4; ++i) acc[i] = c[cd_index(lane, i)];
  ptx::mma_m16n8k8_tf32_f32(acc, ra, rb, acc);
  for (int i = 0; i < 4; ++i) d[cd_index(lane, i)] = acc[i];
}

__global__ void ldmatrix_kernel(int num, int trans, const uint16_t* image, int n, const int* offsets, uint32_t* out) {
  ADVPROP_DYNAMIC_SMEM(uint16_t, s);
  for (int i = threadIdx.x; i < n; i += 32) s[i] = image[i];
  __syncthreads();
  const int lane = threadIdx.x;
  const uint16_t* row = s + offsets[lane];
  uint32_t r[4] = {0, 0, 0, 0};
  // The variant is uniform across the warp, as .aligned requires.
  switch (num * 2 + trans) {
    case 2: ptx::ldmatrix_x1(r, row); break;
    case 3: ptx::ldmatrix_x1_trans(r, row); break;
    case 4: ptx::ldmatrix_x2(r, row); break;
    case 5: ptx::ldmatrix_x2_trans(r, row); break;
    case 8: ptx::ldmatrix_x4(r, row); break;
    default: ptx::ldmatrix_x4_trans(r, row); break;
  }
  for (int j = 0; j < num; ++j) out[lane * num + j] = r[j];
}

// Rows padded to 24 and 16 elements: 16-byte aligned, not contiguous, as ldmatrix allows.
__global__ void ldmatrix_mma_kernel(const uint16_t* a, const uint16_t* b, const float* c, float* d) {
  __shared__ __align__(16) uint16_t sa[16][24];
  __shared__ __align__(16) uint16_t sb[16][16];
  const int lane = threadIdx.x;
  for (int i = lane; i < 16 * 16; i += 32) sa[i / 16][i % 16] = a[i];
  for (int i = lane; i < 16 * 8; i += 32) sb[i / 8][i % 8] = b[i];
  __syncthreads();
  uint32_t ra[4], rb[2];
  float rc[4], rd[4];
  ptx::ldmatrix_x4(ra, &sa[lane & 15][8 * (lane >> 4)]);
  ptx::ldmatrix_x2_trans(rb, &sb[lane & 15][0]);
  for (int i = 0; i < 4; ++i) rc[i] = c[cd_index(lane, i)];
  ptx::mma_m16n8k16_bf16_f32(rd, ra, rb, rc);
  for (int i = 0; i < 4; ++i) d[cd_index(lane, i)] = rd[i];
}

constexpr int kT = kCpAsyncThreads;

// Records chunk `words` of stage buffer s for this thread and, after a barrier, its neighbour's.
__device__ void record(const uint32_t* s, int words, uint32_t* own, uint32_t* next) {
  const int t = threadIdx.x;
  for (int w = 0; w < words; ++w) own[t * words + w] = s[t * words + w];
  __syncthreads();
  const int u = (t + 1) % kT;
  for (int w = 0; w < words; ++w) next[t * words + w] = s[u * words + w];
}

__global__ void cp_async_kernel(const uint32_t* src, uint32_t* out) {
  __shared__ __align__(16) uint32_t s0[kT * 4];
  __shared__ __align__(16) uint32_t s1[kT * 2];
  __shared__ __align__(16) uint32_t s2[kT * 5];  // word t (4 bytes), then 4 words per thread
  const int t = threadIdx.x;
  const uint32_t* src1 = src + kT * 4;
  const uint32_t* src2 = src1 + kT * 2;
  const uint32_t* src3 = src2 + kT;
  ptx::cp_async_16(&s0[4 * t], &src[4 * t]);
  ptx::cp_async_commit();
  ptx::cp_async_8(&s1[2 * t], &src1[2 * t]);
  ptx::cp_async_commit();
  ptx::cp_async_4(&s2[t], &src2[t]);
  ptx::cp_async_16_zfill(&s2[kT + 4 * t], &src3[4 * t], 4 * (t % 5));
  ptx::cp_async_commit();
  ptx::cp_async_commit();  // an empty group still counts in wait_group
  uint32_t* o = out;
  ptx::cp_async_wait<3>();
  record(s0, 4, o, o + kT * 4);
  o += kT * 8;
  ptx::cp_async_wait<2>();
  record(s1, 2, o, o + kT * 2);
  o += kT * 4;
  ptx::cp_async_wait<1>();
  // Group 2 as one 5-word chunk per thread: its cp_async_4 word, then its zero-filled 4 words.
  o[t * 5] = s2[t];
  for (int w = 0; w < 4; ++w) o[t * 5 + 1 + w] = s2[kT + 4 * t + w];
  __syncthreads();
  const int u = (t + 1) % kT;
  o[kT * 5 + t * 5] = s2[u];
  for (int w = 0; w < 4; ++w) o[kT * 5 + t * 5 + 1 + w] = s2[kT + 4 * u + w];
}

__global__ void conversions_kernel(const float* x, int pairs, uint32_t* out) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += gridDim.x * blockDim.x) {
    const float lo = x[2 * i], hi = x[2 * i + 1];
    out[4 * i + 0] = ptx::f32_to_tf32(lo);
    out[4 * i + 1] = ptx::f32_to_tf32(hi);
    out[4 * i + 2] = ptx::pack_bf16x2(lo, hi);
    out[4 * i + 3] = ptx::pack_f16x2(lo, hi);
  }
}

// A device buffer for the duration of one check.
template <typename T>
struct Buffer {
  T* p = nullptr;
  size_t n;
  explicit Buffer(size_t count) : n(count) { check_cuda(cudaMalloc(&p, n * sizeof(T)), "cudaMalloc"); }
  Buffer(const std::vector<T>& host, cudaStream_t s) : Buffer(host.size()) {
    check_cuda(cudaMemcpyAsync(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  }
  ~Buffer() { cudaFree(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::vector<T> get(cudaStream_t s) const {
    std::vector<T> h(n);
    check_cuda(cudaMemcpyAsync(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync");
    check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");
    return h;
  }
};

}  // namespace

bool tensor_cores_usable(int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || device < 0 || device >= count) return false;
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return false;
  return p.major >= 8;
}

std::vector<float> check_mma(int device, TcMma shape, const std::vector<uint32_t>& a, const std::vector<uint32_t>& b,
                             const std::vector<float>& c) {
  require_tc_usable(tensor_cores_usable(device), device, "check_mma");
  check_tc_mma_args(shape, a.size(), b.size(), c.size());
  cudaStream_t s = stream_for(device);
  Buffer<uint32_t> da(a, s), db(b, s);
  Buffer<float> dc(c, s), dd(16 * 8);
  if (shape == TcMma::m16n8k8_tf32)
    ADVPROP_LAUNCH(mma_m16n8k8_tf32_kernel, 1, 32, 0, s)(da.p, db.p, dc.p, dd.p);
  else
    ADVPROP_LAUNCH(mma_m16n8k16_kernel, 1, 32, 0, s)(shape == TcMma::m16n8k16_f16 ? 1 : 0, da.p, db.p, dc.p, dd.p);
  return dd.get(s);
}

std::vector<uint32_t> check_ldmatrix(int device, int num, bool trans, const std::vector<uint16_t>& image,
                                     const std::vector<int>& row_offsets) {
  require_tc_usable(tensor_cores_usable(device), device, "check_ldmatrix");
  check_tc_ldmatrix_args(num, image.size(), row_offsets);
  cudaStream_t s = stream_for(device);
  Buffer<uint16_t> di(image, s);
  Buffer<int> doff(row_offsets, s);
  Buffer<uint32_t> dout(32 * static_cast<size_t>(num));
  ADVPROP_LAUNCH(ldmatrix_kernel, 1, 32, image.size() * sizeof(uint16_t), s)
  (num, trans ? 1 : 0, di.p, static_cast<int>(image.size()), doff.p, dout.p);
  return dout.get(s);
}

std::vector<float> check_ldmatrix_mma(int device, const std::vector<uint16_t>& a, const std::vector<uint16_t>& b,
                                      const std::vector<float>& c) {
  require_tc_usable(tensor_cores_usable(device), device, "check_ldmatrix_mma");
  check_tc_ldmatrix_mma_args(a.size(), b.size(), c.size());
  cudaStream_t s = stream_for(device);
  Buffer<uint16_t> da(a, s), db(b, s);
  Buffer<float> dc(c, s), dd(16 * 8);
  ADVPROP_LAUNCH(ldmatrix_mma_kernel, 1, 32, 0, s)(da.p, db.p, dc.p, dd.p);
  return dd.get(s);
}

std::vector<uint32_t> check_cp_async(int device, const std::vector<uint32_t>& src) {
  require_tc_usable(tensor_cores_usable(device), device, "check_cp_async");
  check_tc_cp_async_args(src.size());
  cudaStream_t s = stream_for(device);
  Buffer<uint32_t> dsrc(src, s), dout(kCpAsyncOutWords);
  ADVPROP_LAUNCH(cp_async_kernel, 1, kT, 0, s)(dsrc.p, dout.p);
  return dout.get(s);
}

std::vector<uint32_t> check_conversions(int device, const std::vector<float>& x) {
  require_tc_usable(tensor_cores_usable(device), device, "check_conversions");
  check_tc_conversions_args(x.size());
  const int pairs = static_cast<int>(x.size() / 2);
  cudaStream_t s = stream_for(device);
  Buffer<float> dx(x, s);
  Buffer<uint32_t> dout(4 * x.size() / 2);
  ADVPROP_LAUNCH(conversions_kernel, grid_for(pairs, 256), 256, 0, s)(dx.p, pairs, dout.p);
  return dout.get(s);
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
