// Driver and runtime versions for `advprop info` (see advprop/cuda_info.h). Safe to call on a
// machine without a driver: the statically linked runtime then reports driver version 0.
#include "common.cuh"

#include "advprop/cuda_info.h"

namespace advprop {
namespace ADVPROP_CUDA_NS {

CudaVersions versions() {
  CudaVersions v;
  if (cudaDriverGetVersion(&v.driver) != cudaSuccess) v.driver = 0;
  if (cudaRuntimeGetVersion(&v.runtime) != cudaSuccess) v.runtime = 0;
#if defined(CUDART_VERSION)
  v.built = CUDART_VERSION;
#else
  v.built = v.runtime;
#endif
  cudaGetLastError();  // clear any sticky error from the queries
  return v;
}

}  // namespace ADVPROP_CUDA_NS
}  // namespace advprop
