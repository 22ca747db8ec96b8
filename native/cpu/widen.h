// The cpu's widened path for bf16 and f16 (DESIGN.md, Precision): a kernel whose f32 code is
// vectorised in ways a 16-bit element does not fit (register blocking on float vectors) runs that
// f32 code on f32 copies of its 16-bit operands and rounds the f32 result once into the 16-bit
// output. The result is then exactly the f32 kernel's for the widened operands, rounded once.
#pragma once
#include "advprop/tensor.h"

namespace advprop {
namespace cpu {

// Whether t holds bf16 or f16.
inline bool is_half(DType t) { return t == DType::bf16 || t == DType::f16; }
// An f32 copy of a contiguous bf16 or f16 cpu tensor, same shape, from the cpu pool (so the
// host-memory budget counts it).
Tensor widen_to_f32(const Tensor& t);
// An f32 copy of elements [first, first + count) of such a tensor, shape [count]: kernels whose
// outputs depend on a slice of the batch widen a slice at a time, so the f32 copies stay small.
Tensor widen_to_f32(const Tensor& t, int64_t first, int64_t count);
// An uninitialised f32 cpu tensor of t's shape, for the f32 kernel's result.
Tensor f32_like(const Tensor& t);
// dst[i] = src[i] rounded to dst's dtype (bf16 or f16), once, to nearest even. Same numel.
void narrow_from_f32(const Tensor& src, Tensor& dst);
// dst[offset + i] = src[i] rounded, for every element of src.
void narrow_from_f32(const Tensor& src, Tensor& dst, int64_t offset);

}  // namespace cpu
}  // namespace advprop
