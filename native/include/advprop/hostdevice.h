// ADVPROP_HD marks functions that CUDA kernels and host code both call.
#pragma once
#if defined(__CUDACC__)
#define ADVPROP_HD __host__ __device__ __forceinline__
#else
#define ADVPROP_HD inline
#endif

// After a switch generated from an enum's X-macro list: every value has its case, and values
// from outside the list were refused where they entered (check_enum), so this is never reached.
#define ADVPROP_UNREACHABLE() __builtin_unreachable()
