// Argument checks shared by the op front-ends. Each names the op and the argument.
#pragma once
#include <string>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/tensor.h"

namespace advprop {
namespace ops {

inline void check_defined(const Tensor& t, const char* op, const char* arg) {
  if (!t.defined()) fail(ErrorCode::Disposed, std::string(op) + ": argument '" + arg + "' is disposed");
}

inline void check_contiguous(const Tensor& t, const char* op, const char* arg) {
  if (!t.is_contiguous())
    fail(ErrorCode::Arg, std::string(op) + ": argument '" + arg + "' " + shape_str(t.shape()) +
                             " must be contiguous");
}

inline void check_float(const Tensor& t, const char* op, const char* arg) {
  if (!is_float(t.dtype()))
    fail(ErrorCode::DType, std::string(op) + ": argument '" + arg + "' must be f32 or f64, got " +
                               dtype_name(t.dtype()) + " " + shape_str(t.shape()));
}

inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* an,
                             const char* bn) {
  if (a.dtype() != b.dtype())
    fail(ErrorCode::DType, std::string(op) + ": '" + an + "' is " + dtype_name(a.dtype()) + " " +
                               shape_str(a.shape()) + " but '" + bn + "' is " + dtype_name(b.dtype()) +
                               " " + shape_str(b.shape()));
}

inline void check_same_device(const Tensor& a, const Tensor& b, const char* op, const char* an,
                              const char* bn) {
  if (a.device() != b.device())
    fail(ErrorCode::Device, std::string(op) + ": '" + an + "' is on " + device_str(a.device()) +
                                " but '" + bn + "' is on " + device_str(b.device()));
}

inline void check_same_shape(const Tensor& a, const Tensor& b, const char* op, const char* an,
                             const char* bn) {
  if (a.shape() != b.shape())
    fail(ErrorCode::Shape, std::string(op) + ": '" + an + "' " + shape_str(a.shape()) + " and '" + bn +
                               "' " + shape_str(b.shape()) + " must have the same shape");
}

// Whether two views share any byte (contiguous views: [data, data + nbytes)).
inline bool overlaps(const Tensor& a, const Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0) return false;
  const char* a0 = static_cast<const char*>(a.data());
  const char* b0 = static_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

// A tensor the op writes in place must not share memory with another of its arguments: the
// kernels read and write them in an order that would mix their values.
inline void check_no_overlap(const Tensor& written, const Tensor& other, const char* op, const char* wn,
                             const char* on) {
  if (overlaps(written, other))
    fail(ErrorCode::Arg, std::string(op) + ": '" + wn + "' " + shape_str(written.shape()) + " shares memory with '" + on +
                             "' " + shape_str(other.shape()) + "; it is updated in place, so it must be a tensor of its own");
}

// The usual prologue: defined, contiguous, float, and usable device.
inline void check_float_input(const Tensor& t, const char* op, const char* arg) {
  check_defined(t, op, arg);
  check_contiguous(t, op, arg);
  check_float(t, op, arg);
  require_device(t.device(), op);
}

}  // namespace ops
}  // namespace advprop
