// One budget for the host memory that tensors take from the system: the cpu device's pool and
// the cuda-sim device (whose "device memory" is host memory) draw from it. Without it a loop
// that forgets its tensors runs until the kernel's OOM killer ends the process with no message;
// with it the allocation that passes the limit fails with ERR_OOM, which says how to fix the loop.
#pragma once
#include <cstddef>
#include <cstdint>

namespace advprop {
namespace host_memory {

// The limit in bytes: ADVPROP_HOST_MEMORY_LIMIT (bytes with an optional K, M, G or T suffix,
// powers of 1024; 0 for none), else 80% of the smaller of physical memory and the cgroup limit.
int64_t limit();
// Takes n bytes from the budget; false (and nothing taken) when that would pass the limit.
bool reserve(size_t n);
void release(size_t n);
// Bytes taken now.
int64_t reserved();
// " (limit L MiB of host memory for tensors, ADVPROP_HOST_MEMORY_LIMIT)": for OOM messages.
const char* limit_note();

}  // namespace host_memory
}  // namespace advprop
