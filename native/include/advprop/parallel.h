// The CPU backend's fixed thread pool. Size: ADVPROP_NUM_THREADS, else the number of cores.
#pragma once
#include <cstdint>
#include <functional>

namespace advprop {

int num_threads();
// Calls fn(lo, hi) on the chunks [begin + k*grain, min(end, begin + (k+1)*grain)), in parallel
// when there is more than one. Chunk boundaries depend only on (begin, end, grain), never on the
// thread count, so a reduction that combines per-chunk partials in chunk order is deterministic.
// The first exception thrown by fn is rethrown on the calling thread. Nested calls run serially.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn);

}  // namespace advprop
