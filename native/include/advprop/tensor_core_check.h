// Kernels that run each PTX wrapper of native/cuda/ptx.cuh (mma.sync, ldmatrix, cp.async) once on
// operands given here and return the raw results, on the GPU (namespace cuda) or on the simulator
// (namespace cudasim), and their cpu twins (namespace cpu, native/cpu/tensor_core_check.cc), which
// compute the same outputs from the PTX ISA's definitions on the host. The native tests
// (native/tests/tensor_core_test.cc) and test/tensor_core_check.test.ts (through the addon's
// tensorCoreCheck) compare the devices with the twins, so the same tests prove the wrappers on a
// GPU and the simulator's model of the instructions. Not an op: nothing outside the tests calls
// these. Matrices are row-major.
#pragma once
#include <cstdint>
#include <cstddef>
#include <vector>

#include "advprop/enum_table.h"

namespace advprop {

// The mma shapes: m16n8k16_bf16 (A 16x16, B 16x8: bf16 patterns in the low 16 bits of each word),
// m16n8k16_f16 (the same with f16 patterns), m16n8k8_tf32 (A 16x8, B 8x8: f32 patterns, whose low
// 13 mantissa bits the mma ignores). The names are the addon's.
#define ADVPROP_TC_MMA_SHAPES(X) \
  X(m16n8k16_bf16, "m16n8k16_bf16") X(m16n8k16_f16, "m16n8k16_f16") X(m16n8k8_tf32, "m16n8k8_tf32")
ADVPROP_ENUM(TcMma, "mma shape", ADVPROP_TC_MMA_SHAPES);

// The k of an mma shape: A is 16 x k, B k x 8.
constexpr int tc_mma_k(TcMma shape) { return shape == TcMma::m16n8k8_tf32 ? 8 : 16; }

// The cp.async check: a block of kCpAsyncThreads threads; thread t copies, in group 0, 16 bytes
// (src words 4t..4t+3) with cp_async_16; in group 1, 8 bytes (the next section, words 2t, 2t+1)
// with cp_async_8; in group 2, 4 bytes (word t) with cp_async_4 and 16 bytes with
// cp_async_16_zfill reading only the first 4 * (t % 5) bytes; then commits an empty group 3. It
// waits with wait_group 3, 2 and 1 in turn and after each records the group it made complete,
// first its own words, then (after __syncthreads) those of thread (t + 1) % kCpAsyncThreads. The
// result: for each group g in 0..2 (group 2's two copies as one 5-word chunk per thread), own
// words then neighbour's words, each kCpAsyncThreads chunks of 4, 2 and 5 words.
constexpr int kCpAsyncThreads = 64;
constexpr int kCpAsyncSrcWords = kCpAsyncThreads * (4 + 2 + 1 + 4);

#define ADVPROP_TENSOR_CORE_CHECKS                                                                              \
  /* Whether the device can run the wrappers (compute capability 8.0 or newer; device 0 of cuda-sim and    \
     of cpu). */                                                                                             \
  bool tensor_cores_usable(int device);                                                                      \
  /* D (16x8) = A * B + C for one warp: the kernel builds the fragments from a, b, c by the PTX layouts,     \
     runs the mma and scatters D back. a: m x k words, b: k x n words (see TcMma), c: 16 x 8. */              \
  std::vector<float> check_mma(int device, TcMma shape, const std::vector<uint32_t>& a,                     \
                               const std::vector<uint32_t>& b, const std::vector<float>& c);                 \
  /* ldmatrix .x{num}, with .trans if trans, on `image` (16-bit elements) copied to shared memory: lane l    \
     points at element row_offsets[l] (a multiple of 8). Returns lane l's registers at [l * num, +num). */   \
  std::vector<uint32_t> check_ldmatrix(int device, int num, bool trans, const std::vector<uint16_t>& image,  \
                                       const std::vector<int>& row_offsets);                                 \
  /* As a GEMM feeds the tensor cores: A (16x16 bf16 patterns) and B (16x8, [k][n]) in shared memory,       \
     loaded with ldmatrix.x4 and ldmatrix.x2.trans, D = A * B + C by the bf16 mma. */                         \
  std::vector<float> check_ldmatrix_mma(int device, const std::vector<uint16_t>& a, const std::vector<uint16_t>& b, \
                                        const std::vector<float>& c);                                         \
  /* The cp.async check above; src has kCpAsyncSrcWords words. */                                             \
  std::vector<uint32_t> check_cp_async(int device, const std::vector<uint32_t>& src);                        \
  /* For each pair (x[2i], x[2i+1]), an even count: f32_to_tf32 of both, pack_bf16x2 and pack_f16x2 of the   \
     pair (4 words per pair), by the device's own conversions. */                                            \
  std::vector<uint32_t> check_conversions(int device, const std::vector<float>& x);

namespace cpu { ADVPROP_TENSOR_CORE_CHECKS }
namespace cuda { ADVPROP_TENSOR_CORE_CHECKS }
namespace cudasim { ADVPROP_TENSOR_CORE_CHECKS }

// One backend's checks as a table, for the callers that pick a backend at run time (the addon's
// tensorCoreCheck, the native tests): ADVPROP_TENSOR_CORE_CHECKS_OF(advprop::cpu) and so on.
struct TensorCoreChecks {
  bool (*usable)(int);
  std::vector<float> (*mma)(int, TcMma, const std::vector<uint32_t>&, const std::vector<uint32_t>&,
                            const std::vector<float>&);
  std::vector<uint32_t> (*ldmatrix)(int, int, bool, const std::vector<uint16_t>&, const std::vector<int>&);
  std::vector<float> (*ldmatrix_mma)(int, const std::vector<uint16_t>&, const std::vector<uint16_t>&,
                                     const std::vector<float>&);
  std::vector<uint32_t> (*cp_async)(int, const std::vector<uint32_t>&);
  std::vector<uint32_t> (*conversions)(int, const std::vector<float>&);
};
#define ADVPROP_TENSOR_CORE_CHECKS_OF(ns)                                                             \
  ::advprop::TensorCoreChecks {                                                                       \
    ns::tensor_cores_usable, ns::check_mma, ns::check_ldmatrix, ns::check_ldmatrix_mma, ns::check_cp_async, \
        ns::check_conversions                                                                         \
  }

// The argument checks every backend's entries run first, so that cpu, cuda and cuda-sim refuse
// the same input with the same error (native/ops/tensor_core_args.cc): ERR_DEVICE when the device
// cannot run the wrappers, ERR_SHAPE for a wrong element count, ERR_ARG for a bad ldmatrix
// variant or row offset.
void require_tc_usable(bool usable, int device, const char* what);
void check_tc_mma_args(TcMma shape, size_t a, size_t b, size_t c);
void check_tc_ldmatrix_args(int num, size_t image, const std::vector<int>& row_offsets);
void check_tc_ldmatrix_mma_args(size_t a, size_t b, size_t c);
void check_tc_cp_async_args(size_t src);
void check_tc_conversions_args(size_t x);
// Words check_cp_async returns: own and neighbour's chunks of 4, 2 and 5 words per thread.
constexpr int kCpAsyncOutWords = kCpAsyncThreads * 2 * (4 + 2 + 5);

}  // namespace advprop
