// cuda-sim's launch checks: the limits of compute capability 9.0 that a real launch enforces,
// so that a configuration the GPU would refuse fails on the simulator too.
#define ADVPROP_SIM 1
#include "cuda_sim.h"

#include <string>

namespace advprop {
namespace sim {

size_t max_dynamic_smem(const void* kernel);  // runtime.cc

namespace detail {

std::string dims_str(const rt::dim3& d) {
  return "[" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + "]";
}

std::string reject_reason(const LaunchSpec& s) {
  const rt::dim3 g = s.grid, b = s.block;
  if (!g.x || !g.y || !g.z || !b.x || !b.y || !b.z) return "empty grid or block";
  const uint64_t threads = static_cast<uint64_t>(b.x) * b.y * b.z;
  if (threads > static_cast<uint64_t>(rt::kMaxThreadsPerBlock))
    return std::to_string(threads) + " threads per block exceed the limit of " +
           std::to_string(rt::kMaxThreadsPerBlock);
  if (b.x > 1024 || b.y > 1024 || b.z > 64) return "block dimensions exceed [1024, 1024, 64]";
  if (g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535)
    return "grid dimensions exceed [2147483647, 65535, 65535]";
  if (s.smem > rt::kSharedMemPerBlock) {
    const size_t limit = max_dynamic_smem(s.kernel);
    if (s.smem > limit)
      return std::to_string(s.smem) + " bytes of dynamic shared memory exceed the kernel's limit of " +
             std::to_string(limit) + (limit < rt::kSharedMemPerBlockOptin
                                          ? " (cudaFuncSetAttribute raises it up to " +
                                                std::to_string(rt::kSharedMemPerBlockOptin) + ")"
                                          : std::string());
  }
  return std::string();
}

}  // namespace detail
}  // namespace sim
}  // namespace advprop
