// The global average pool's sums (pool.cc), for kernels that pool their own output while it is in
// cache (the depthwise forward, depthwise_forward.cc) with the bits global_avg_pool_forward gives:
// per image, positions in chunks of spatial_chunk(C), each chunk summed from 0 in position order
// in f32 (spatial_accumulate may be called on consecutive pieces of a chunk, in order), then the
// chunks' sums added in order in double and scaled (spatial_finish). Internal to native/cpu.
#pragma once
#include <cstdint>

namespace advprop {
namespace cpu {

// Positions per chunk for C channels.
int64_t spatial_chunk(int64_t C);
// 1 / P, and 0 for an empty mean (not NaN).
inline double pool_scale(int64_t P) { return P ? 1.0 / static_cast<double>(P) : 0.0; }
// acc[c] += a[r, c] for rows r = 0..rows-1 of a [rows, C], in row order.
void spatial_accumulate(const float* a, float* acc, int64_t rows, int64_t C);
// out [N, C] from partial [N, chunks, C] (the chunk sums of P positions).
void spatial_finish(const float* partial, int64_t N, int64_t P, int64_t C, float* out);

}  // namespace cpu
}  // namespace advprop
