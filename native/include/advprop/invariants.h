// What a backend entry asserts (ADVPROP_ASSERT, advprop/error.h) about the arguments it indexes.
// The front-ends (native/ops) check the caller's input and allocate the outputs, so a backend
// takes checked arguments: a failure here is a bug in advprop (ERR_INTERNAL), caught before a
// kernel reads past a buffer. Every test is O(number of tensors).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "advprop/error.h"
#include "advprop/tensor.h"

namespace advprop {

// One tensor a kernel indexes and the number of elements it reads or writes; a null t is skipped.
struct Holds {
  const Tensor* t;
  int64_t numel;
};

// Every tensor is defined, contiguous, of dtype dt on device dev, with exactly its numel.
inline bool tensors_hold(DType dt, const Device& dev, std::initializer_list<Holds> ts) {
  for (const Holds& h : ts)
    if (h.t && !(h.t->defined() && h.t->is_contiguous() && h.t->dtype() == dt && h.t->device() == dev &&
                 h.t->numel() == h.numel))
      return false;
  return true;
}

// Whether a validator (one that throws advprop::Error) accepts the arguments: a backend-internal
// routine (gemm, im2col, the depthwise kernels) asserts the same validator a test or a caller
// runs, so its invariant is written once.
template <typename Check, typename... Args>
bool passes(Check&& check, Args&&... args) {
  try {
    std::forward<Check>(check)(std::forward<Args>(args)...);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace advprop
