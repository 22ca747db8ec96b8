// ADVPROP_HD marks functions that CUDA kernels and host code both call.
#pragma once
#if defined(__CUDACC__)
#define ADVPROP_HD __host__ __device__ __forceinline__
#else
#define ADVPROP_HD inline
#endif
