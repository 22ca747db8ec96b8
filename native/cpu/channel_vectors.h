// Vectors over the channel dimension for the cpu depthwise kernels (depthwise.cc), whose loops
// run with the channel innermost at the width of the ISA picked at run time.
#pragma once
#include <cstdint>
#include <cstring>

namespace advprop {
namespace cpu {

// Calls f(static_cast<V*>(nullptr), c) over channels [0, C): full vectors of VB bytes, then one vector of VB/2
// and one of VB/4 bytes where they fit (down to 16 bytes), then single channels. The narrower
// vectors keep channel counts that are not a multiple of the widest one (8, 24, 40, 136: every
// width-scaled EfficientNet has them) off the scalar path, which ran C = 8 at a quarter of the
// speed of C = 16. Every lane does the same operations in the same order as a scalar would. (The
// vector type travels as a pointer type: g++ drops the vector attribute of a typedef passed
// through a class template's member type. The lambdas are always_inline: a lambda is a function
// of its own, and one not inlined would be compiled for the baseline ISA, not the caller's clone.)
template <typename T, int VB, typename F>
__attribute__((always_inline)) inline void channel_groups(int64_t C, F&& f) {
  typedef T v1 __attribute__((vector_size(VB)));
  constexpr int64_t L1 = VB / static_cast<int64_t>(sizeof(T));
  int64_t c = 0;
  for (; c + L1 <= C; c += L1) f(static_cast<v1*>(nullptr), c);
  if constexpr (VB / 2 >= 16) {
    typedef T v2 __attribute__((vector_size(VB / 2)));
    if (c + L1 / 2 <= C) f(static_cast<v2*>(nullptr), c), c += L1 / 2;
    if constexpr (VB / 4 >= 16) {
      typedef T v4 __attribute__((vector_size(VB / 4)));
      if (c + L1 / 4 <= C) f(static_cast<v4*>(nullptr), c), c += L1 / 4;
    }
  }
  for (; c < C; ++c) f(static_cast<T*>(nullptr), c);
}

// Always inlined into one ISA's code, so g++'s note that a vector return's ABI differs between
// ISAs does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
template <typename T, typename V>
__attribute__((always_inline)) inline V load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

}  // namespace cpu
}  // namespace advprop
