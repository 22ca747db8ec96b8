// The one header with inline PTX: device wrappers for the sm_80 tensor-core instructions and the
// asynchronous copies that feed them. Each wrapper is `asm volatile` on sm_80 and newer, traps on
// older architectures (callers choose a kernel by compute capability; cuda-sim reports 9.0), and
// under ADVPROP_SIM calls the simulator's model of the instruction (native/sim/cuda_sim_ptx.h,
// which documents what is modelled and how). Kernels call these instead of writing asm.
//
// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type" and
// "... for mma.m16n8k8"), with g = lane / 4 and t = lane % 4:
//   m16n8k16 .bf16/.f16  A (16x16, row-major) a[0..3]: (g, 2t..2t+1), (g+8, 2t..), (g, 2t+8..),
//                        (g+8, 2t+8..), two elements per register, the lower column in bits 0-15;
//                        B (16x8, column-major) b[0..1]: (k = 2t..2t+1, n = g), (k = 2t+8.., n = g)
//   m16n8k8 .tf32        A (16x8) a[0..3]: (g, t), (g+8, t), (g, t+4), (g+8, t+4), one f32 bit
//                        pattern each (low 13 mantissa bits ignored); B (8x8) b[0..1]: (k = t, n = g),
//                        (k = t+4, n = g)
//   C and D (16x8 f32)   c[0..3]: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)
// ldmatrix.x4 of a 16x16 tile (lanes 0-15 address rows 0-15 at column 0, lanes 16-31 the same
// rows at column 8) yields exactly A's four registers; ldmatrix.x2.trans of a row-major [k][n]
// 16x8 tile (lanes 0-15 address rows k = 0-15) yields B's two.
//
// To add a wrapper: the asm under ADVPROP_PTX_ASM, a model of the instruction in
// native/sim/ptx_sim.cc (a warp-wide one through detail::warp_collective) declared in
// cuda_sim_ptx.h, a kernel in tensor_core_check.cu and a reference in
// native/tests/tensor_core_test.cc.
#pragma once

#include "common.cuh"

#include <cstdint>
#include <cstring>

#if defined(ADVPROP_SIM)
#include "../sim/cuda_sim_ptx.h"
#define ADVPROP_PTX_SIM 1
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define ADVPROP_PTX_ASM 1
#endif

#if defined(__CUDA_ARCH__)
#define ADVPROP_PTX_UNAVAILABLE() __trap()
#else
#define ADVPROP_PTX_UNAVAILABLE() ((void)0)
#endif

namespace advprop {
namespace ADVPROP_CUDA_NS {
namespace ptx {

// ---- packing --------------------------------------------------------------------------------

// Two values rounded to nearest even, `lo` in bits 0-15: one register of an A or B fragment.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}
__device__ __forceinline__ uint32_t pack_f16x2(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

// cvt.rna.tf32.f32: f32 to tf32 rounded to nearest, ties away from zero (the low 13 bits zero).
// Without it an f32 operand of the tf32 mma is truncated.
__device__ __forceinline__ uint32_t f32_to_tf32(float x) {
#if ADVPROP_PTX_SIM
  return ::advprop::sim::ptx::cvt_rna_tf32(__float_as_uint(x));
#elif ADVPROP_PTX_ASM
  uint32_t r;
  asm volatile("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
#else
  ADVPROP_PTX_UNAVAILABLE();
  return 0;
#endif
}

// ---- mma.sync -------------------------------------------------------------------------------

// D = A * B + C for one warp; every lane of the warp must call it. d may alias c. The three
// shapes differ only in the instruction's name and the simulator's Mma kind.
#if ADVPROP_PTX_SIM
#define ADVPROP_PTX_MMA_F32(name, kind, instr)                                                   \
  __device__ __forceinline__ void name(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) { \
    ::advprop::sim::ptx::mma(::advprop::sim::ptx::Mma::kind, d, a, b, c);                      \
  }
#elif ADVPROP_PTX_ASM
#define ADVPROP_PTX_MMA_F32(name, kind, instr)                                                   \
  __device__ __forceinline__ void name(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) { \
    asm volatile("mma.sync.aligned." instr " {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, " \
                 "{%10, %11, %12, %13};\n"                                                     \
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])                               \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), \
                   "f"(c[1]), "f"(c[2]), "f"(c[3]));                                            \
  }
#else
#define ADVPROP_PTX_MMA_F32(name, kind, instr)                                                   \
  __device__ __forceinline__ void name(float*, const uint32_t*, const uint32_t*, const float*) { \
    ADVPROP_PTX_UNAVAILABLE();                                                                   \
  }
#endif
ADVPROP_PTX_MMA_F32(mma_m16n8k16_bf16_f32, m16n8k16_bf16, "m16n8k16.row.col.f32.bf16.bf16.f32")
ADVPROP_PTX_MMA_F32(mma_m16n8k16_f16_f32, m16n8k16_f16, "m16n8k16.row.col.f32.f16.f16.f32")
ADVPROP_PTX_MMA_F32(mma_m16n8k8_tf32_f32, m16n8k8_tf32, "m16n8k8.row.col.f32.tf32.tf32.f32")
#undef ADVPROP_PTX_MMA_F32

// ---- ldmatrix -------------------------------------------------------------------------------

// Every lane of the warp calls it with the shared-memory address of one 16-byte row: lanes 8j to
// 8j+7 give the rows of matrix j (only the first 8 * N lanes' addresses are read); register j
// receives matrix j's elements (row lane/4, columns 2(lane%4), +1), or with .trans those of its
// transpose.
#if ADVPROP_PTX_ASM
#define ADVPROP_PTX_SMEM(p) static_cast<uint32_t>(__cvta_generic_to_shared(p))
#endif

__device__ __forceinline__ void ldmatrix_x1(uint32_t r[1], const void* smem_row) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::ldmatrix(1, false, r, smem_row);
#elif ADVPROP_PTX_ASM
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n"
               : "=r"(r[0])
               : "r"(ADVPROP_PTX_SMEM(smem_row))
               : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t r[2], const void* smem_row) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::ldmatrix(2, false, r, smem_row);
#elif ADVPROP_PTX_ASM
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(ADVPROP_PTX_SMEM(smem_row))
               : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* smem_row) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::ldmatrix(4, false, r, smem_row);
#elif ADVPROP_PTX_ASM
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(ADVPROP_PTX_SMEM(smem_row))
               : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}
__device__ __forceinline__ void ldmatrix_x1_trans(uint32_t r[1], const void* smem_row) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::ldmatrix(1, true, r, smem_row);
#elif ADVPROP_PTX_ASM
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n"
               : "=r"(r[0])
               : "r"(ADVPROP_PTX_SMEM(smem_row))
               : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t r[2], const void* smem_row) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::ldmatrix(2, true, r, smem_row);
#elif ADVPROP_PTX_ASM
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(ADVPROP_PTX_SMEM(smem_row))
               : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* smem_row) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::ldmatrix(4, true, r, smem_row);
#elif ADVPROP_PTX_ASM
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(ADVPROP_PTX_SMEM(smem_row))
               : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}

// ---- cp.async -------------------------------------------------------------------------------

// Per thread: copies cp-size bytes from global to shared memory in the background. Both addresses
// aligned to the size. The data may be read only after a cp_async_wait that covers its group
// (and, by other threads, after a barrier that follows that wait).
__device__ __forceinline__ void cp_async_4(void* smem, const void* gmem) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::cp_async(smem, gmem, 4, 4);
#elif ADVPROP_PTX_ASM
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(ADVPROP_PTX_SMEM(smem)), "l"(gmem) : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}
__device__ __forceinline__ void cp_async_8(void* smem, const void* gmem) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::cp_async(smem, gmem, 8, 8);
#elif ADVPROP_PTX_ASM
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(ADVPROP_PTX_SMEM(smem)), "l"(gmem) : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}
// 16 bytes through L2 only (.cg): tiles are read once per block.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::cp_async(smem, gmem, 16, 16);
#elif ADVPROP_PTX_ASM
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(ADVPROP_PTX_SMEM(smem)), "l"(gmem) : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}
// Reads only the first src_bytes (0 to 16) and zero-fills the rest: the edges of a tile. With
// src_bytes == 0 nothing is read, but gmem should still be a valid address (CUTLASS's practice).
__device__ __forceinline__ void cp_async_16_zfill(void* smem, const void* gmem, int src_bytes) {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::cp_async(smem, gmem, 16, src_bytes);
#elif ADVPROP_PTX_ASM
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(ADVPROP_PTX_SMEM(smem)), "l"(gmem),
               "r"(src_bytes)
               : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}

// Closes the group of this thread's copies issued since the last commit (possibly empty).
__device__ __forceinline__ void cp_async_commit() {
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::cp_async_commit();
#elif ADVPROP_PTX_ASM
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}

// Waits until at most N of this thread's most recently committed groups are still pending: the
// copies of every older group have landed.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  static_assert(N >= 0, "cp.async.wait_group takes a non-negative constant");
#if ADVPROP_PTX_SIM
  ::advprop::sim::ptx::cp_async_wait(N);
#elif ADVPROP_PTX_ASM
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#else
  ADVPROP_PTX_UNAVAILABLE();
#endif
}

// Commits and waits for everything (cp.async.wait_all).
__device__ __forceinline__ void cp_async_wait_all() {
  cp_async_commit();
  cp_async_wait<0>();
}

}  // namespace ptx
}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
