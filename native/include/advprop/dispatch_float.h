// Calls f(float{}) or f(double{}) for a tensor's element type, so a kernel family writes its
// typed body once; any other dtype is ERR_DTYPE naming the op.
#pragma once
#include <string>

#include "advprop/dtype.h"
#include "advprop/error.h"

namespace advprop {

template <typename F>
void with_float(DType t, const char* op, F&& f) {
  if (t == DType::f32) return f(float{});
  if (t == DType::f64) return f(double{});
  fail(ErrorCode::DType, std::string(op) + ": dtype " + dtype_name(t) + " is not supported (f32, f64)");
}

}  // namespace advprop
