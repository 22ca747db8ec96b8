// Between the cpu depthwise kernels (depthwise.cc) and their bf16/f16 path (depthwise_half.cc),
// which runs the f32 kernels on widened slices of the batch. Internal to native/cpu.
#pragma once
#include <cstdint>

#include "advprop/conv.h"

namespace advprop {
namespace cpu {
namespace depthwise_detail {

// The blocked f32 forward (depthwise_forward.cc) on wt, the weights transposed to [KH, KW, C], at
// ISA level isa (simd.h), with the epilogue epi (or none) on each output row; false, doing
// nothing, for the shapes it does not serve (see there).
bool forward_blocked_f32(const Conv2dParams& p, const float* x, const float* wt, const float* bias, float* y,
                         const Epilogue* epi, int isa);

// The f32 kernels of depthwise.cc, at the ISA picked at run time.
void forward_f32(const Conv2dParams& p, const float* x, const float* w, const float* bias, float* y);
void backward_input_f32(const Conv2dParams& p, const float* dy, const float* w, float* dx);

// The weight gradient sums chunks of output rows [k * grain, (k + 1) * grain), each into its own
// [KH, KW, C] partial; the chunks depend only on the shape.
struct WChunks {
  int64_t rows, grain, count;
};
WChunks weight_chunks(const Conv2dParams& p);
// One chunk's partial for output rows [lo, hi) of p's batch.
using WChunkF32 = void (*)(const Conv2dParams&, const float*, const float*, int64_t, int64_t, float*);
WChunkF32 wchunk_f32();
// dw (bf16 or f16) = the partials summed from chunk 0 in order in f32, each sum rounded once.
void combine_chunks_half(const Conv2dParams& p, const float* part, int64_t nchunks, Tensor& dw);

// The bf16/f16 kernels (depthwise_half.cc): every operand in the one 16-bit type.
void forward_half(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
void backward_input_half(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx);
void backward_weight_half(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw);

}  // namespace depthwise_detail
}  // namespace cpu
}  // namespace advprop
