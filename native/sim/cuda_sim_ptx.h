// cuda-sim's model of the PTX instructions that native/cuda/ptx.cuh wraps (and nothing else calls
// these: kernels use ptx.cuh, which is the same code on the GPU and here). Defined in ptx_sim.cc.
//
// What is modelled, from the PTX ISA (section "Warp Level Matrix Multiply-Accumulate
// Instructions" and cp.async):
// - mma.sync.aligned (m16n8k16 bf16/f16, m16n8k8 tf32; A row-major, B column-major, f32
//   accumulators): the register fragment layouts exactly. Each lane hands in its registers, the
//   warp meets (detail::warp_collective), and D = A * B + C is computed once for the warp: the
//   products exactly and the k-sum plus C in double, rounded once to f32 (the hardware's order and
//   internal precision are unspecified; this is the correctly rounded result in all but
//   pathological cancellations). A NaN result is the canonical 0x7fffffff. tf32 operands are f32
//   bit patterns whose low 13 mantissa bits are ignored (truncated), as the tensor cores do;
//   round first with cvt_rna_tf32 for round-to-nearest.
// - ldmatrix.sync.aligned.m8n8.x{1,2,4}[.trans].shared.b16: lanes 8j..8j+7 give the row
//   addresses of matrix j (16-byte aligned, checked); lane l receives, for each matrix, the two
//   16-bit elements (row l/4, columns 2(l%4) and 2(l%4)+1), the lower column in the low half; with
//   .trans the elements (rows 2(l%4) and 2(l%4)+1, column l/4) of the matrix as stored.
// - cp.async.{ca,cg}.shared.global with commit_group / wait_group: per thread, a copy reads its
//   source when issued and fills its destination with 0xFF bytes (a NaN in f32, bf16 and f16);
//   the data lands when a wait_group covers its group, in issue order. So a kernel that reads a
//   destination before waiting, or writes one while a copy is in flight, sees the poison instead
//   of a lucky result. __syncthreads does not complete copies (nor does it on the GPU); copies a
//   thread never waits for are dropped when it exits.
#pragma once

#include <cstdint>

namespace advprop {
namespace sim {
namespace ptx {

enum class Mma : int { m16n8k16_bf16, m16n8k16_f16, m16n8k8_tf32 };

// a: 4 registers, b: 2, c and d: 4 floats; d may alias c.
void mma(Mma shape, float* d, const uint32_t* a, const uint32_t* b, const float* c);

// num: 1, 2 or 4 matrices; r receives num registers. row: this lane's row address (ignored for
// lanes >= 8 * num).
void ldmatrix(int num, bool trans, uint32_t* r, const void* row);

// cp_size 4, 8 or 16 bytes; only the first src_size bytes are read, the rest are zero.
void cp_async(void* dst, const void* src, int cp_size, int src_size);
void cp_async_commit();
// Completes every copy of this thread except those of its `pending` most recently committed
// groups (and those not yet committed).
void cp_async_wait(int pending);

// cvt.rna.tf32.f32: to nearest, ties away from zero, low 13 bits cleared; NaN -> 0x7fffffff.
inline uint32_t cvt_rna_tf32(uint32_t f32_bits) {
  if ((f32_bits & 0x7fffffffu) > 0x7f800000u) return 0x7fffffffu;
  if ((f32_bits & 0x7f800000u) == 0x7f800000u) return f32_bits;
  return (f32_bits + 0x1000u) & 0xffffe000u;
}

}  // namespace ptx
}  // namespace sim
}  // namespace advprop
