// Argument checks of the op front-ends, the one gate between the caller and the kernels. Each
// names the op and the argument, and what was found against what was expected.
#pragma once
#include <string>
#include <type_traits>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"
#include "advprop/tensor.h"

namespace advprop {
namespace ops {

// One tensor argument, checked step by step; each step throws when it fails and returns the
// checker, so a spec reads as one chain:
//   TensorArg(op, "s", s).float_input().like(x, "x").shape({N, C}, "[N, C]", "x", &x.shape());
// The constructor checks that the tensor is defined (ERR_DISPOSED). Nothing is formatted unless
// a step fails.
class TensorArg {
 public:
  TensorArg(const char* op, const char* name, const Tensor& t) : op_(op), name_(name), t_(t) {
    if (!t.defined()) fail(ErrorCode::Disposed, head() + " is disposed");
  }

  // ERR_ARG: "op: argument 'x' [2, 3] must be contiguous".
  const TensorArg& contiguous() const {
    if (!t_.is_contiguous()) fail(ErrorCode::Arg, head() + " " + shape_str(t_.shape()) + " must be contiguous");
    return *this;
  }
  // ERR_DTYPE: "op: argument 'x' must be f32 or f64, got i32 [2, 3]". A family that reads the
  // 16-bit types too passes MixedFloatTypes ("must be f32, f64, bf16 or f16").
  template <typename Types = FloatTypes>
  const TensorArg& floating() const {
    if (!dtype_in<Types>(t_.dtype())) fail_dtype(dtype_alternatives(Types{}));
    return *this;
  }
  // ERR_DTYPE: "op: argument 'labels' must be i32, got f32 [4]".
  const TensorArg& dtype(DType want) const {
    if (t_.dtype() != want) fail_dtype(dtype_name(want));
    return *this;
  }
  // A device this build has and that exists (require_device: ERR_DEVICE).
  const TensorArg& usable_device() const {
    require_device(t_.device(), op_);
    return *this;
  }
  // ERR_DEVICE: "op: argument 'x' [2, 3] is on cpu, expected cuda-sim:0".
  const TensorArg& on(const Device& want) const {
    if (t_.device() != want)
      fail(ErrorCode::Device, head() + " " + shape_str(t_.shape()) + " is on " + device_str(t_.device()) +
                                  ", expected " + device_str(want));
    return *this;
  }
  // The usual prologue of a float input: contiguous, of one of `Types`, on a usable device.
  template <typename Types = FloatTypes>
  const TensorArg& float_input() const {
    return contiguous().floating<Types>().usable_device();
  }
  // On ref's device (ERR_DEVICE) and of its dtype (ERR_DTYPE), naming both arguments.
  const TensorArg& same_device_as(const Tensor& ref, const char* ref_name) const {
    if (t_.device() != ref.device())
      fail(ErrorCode::Device, std::string(op_) + ": '" + ref_name + "' is on " + device_str(ref.device()) + " but '" +
                                  name_ + "' is on " + device_str(t_.device()));
    return *this;
  }
  const TensorArg& same_dtype_as(const Tensor& ref, const char* ref_name) const {
    if (t_.dtype() != ref.dtype())
      fail(ErrorCode::DType, std::string(op_) + ": '" + ref_name + "' is " + dtype_name(ref.dtype()) + " " +
                                 shape_str(ref.shape()) + " but '" + name_ + "' is " + dtype_name(t_.dtype()) + " " +
                                 shape_str(t_.shape()));
    return *this;
  }
  const TensorArg& like(const Tensor& ref, const char* ref_name) const {
    return same_device_as(ref, ref_name).same_dtype_as(ref, ref_name);
  }
  // ERR_SHAPE: "op: 'x' must be NHWC [N, H, W, C], got [2, 3, 4]".
  const TensorArg& rank(int ndim, const char* layout) const {
    if (t_.ndim() != ndim)
      fail(ErrorCode::Shape, std::string(op_) + ": '" + name_ + "' must be " + layout + ", got " + shape_str(t_.shape()));
    return *this;
  }
  // ERR_SHAPE: "op: 's' [2, 5] must be [N, C] = [2, 4] for 'x' [2, 3, 3, 4]"; the rule and the
  // argument the expected shape comes from are optional.
  const TensorArg& shape(const Shape& want, const char* rule = nullptr, const char* ref_name = nullptr,
                         const Shape* ref_shape = nullptr) const {
    if (t_.shape() != want)
      fail(ErrorCode::Shape, std::string(op_) + ": '" + name_ + "' " + shape_str(t_.shape()) + " must be " +
                                 (rule ? std::string(rule) + " = " : std::string()) + shape_str(want) +
                                 (ref_name ? std::string(" for '") + ref_name + "'" : std::string()) +
                                 (ref_shape ? " " + shape_str(*ref_shape) : std::string()));
    return *this;
  }

 private:
  std::string head() const { return std::string(op_) + ": argument '" + name_ + "'"; }
  [[noreturn]] void fail_dtype(const std::string& want) const {
    fail(ErrorCode::DType, head() + " must be " + want + ", got " + dtype_name(t_.dtype()) + " " + shape_str(t_.shape()));
  }

  const char* op_;
  const char* name_;
  const Tensor& t_;
};

// The single steps as functions, for the front-ends that check one property at a time.
inline void check_defined(const Tensor& t, const char* op, const char* arg) { TensorArg(op, arg, t); }
inline void check_contiguous(const Tensor& t, const char* op, const char* arg) { TensorArg(op, arg, t).contiguous(); }
inline void check_float(const Tensor& t, const char* op, const char* arg) { TensorArg(op, arg, t).floating(); }
inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* an, const char* bn) {
  TensorArg(op, bn, b).same_dtype_as(a, an);
}
inline void check_same_device(const Tensor& a, const Tensor& b, const char* op, const char* an, const char* bn) {
  TensorArg(op, bn, b).same_device_as(a, an);
}
// The usual prologue: defined, contiguous, float (of `Types`), and usable device.
template <typename Types = FloatTypes>
void check_float_input(const Tensor& t, const char* op, const char* arg) {
  TensorArg(op, arg, t).float_input<Types>();
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

}  // namespace ops
}  // namespace advprop
