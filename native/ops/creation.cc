// Creation, transfer between devices, casts and random fills.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/dtype_dispatch.h"
#include "advprop/ops.h"
#include "advprop/random.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {

Tensor full(const Shape& shape, DType dtype, Device device, double value) {
  require_dtype<NumericTypes>(dtype, "full");
  require_device(device, "full");
  Tensor out = Tensor::empty(shape, dtype, device);
  if (out.numel()) ADVPROP_DISPATCH(device, fill, out, value);
  return out;
}

Tensor from_host(const void* data, size_t bytes, const Shape& shape, DType dtype, Device device) {
  int64_t n = checked_numel(shape, "tensor");
  if (static_cast<size_t>(n) * dtype_size(dtype) != bytes)
    fail(ErrorCode::Shape, "tensor: " + std::to_string(bytes / (dtype_size(dtype) ? dtype_size(dtype) : 1)) +
                               " values do not fill shape " + shape_str(shape) + " (" + std::to_string(n) +
                               " elements)");
  require_device(device, "tensor");
  Tensor out = Tensor::empty(shape, dtype, device);
  if (bytes) backend(device.type).copy_from_host(out.data(), data, bytes, device.index);
  return out;
}

void to_host(const Tensor& t, void* dst, size_t bytes) {
  check_defined(t, "data", "tensor");
  check_contiguous(t, "data", "tensor");
  if (bytes != t.nbytes())
    fail(ErrorCode::Internal, "data: host buffer of " + std::to_string(bytes) + " bytes for " +
                                  std::to_string(t.nbytes()));
  require_device(t.device(), "data");
  if (bytes) backend(t.device().type).copy_to_host(dst, t.data(), bytes, t.device().index);
}

Tensor to_device(const Tensor& t, Device device) {
  check_defined(t, "to", "tensor");
  check_contiguous(t, "to", "tensor");
  require_device(t.device(), "to");
  require_device(device, "to");
  Tensor out = Tensor::empty(t.shape(), t.dtype(), device);
  size_t bytes = t.nbytes();
  if (!bytes) return out;
  const Device& src = t.device();
  if (src == device) {
    backend(src.type).copy_on_device(out.data(), t.data(), bytes, src.index);
  } else if (device.type == DeviceType::cpu) {
    backend(src.type).copy_to_host(out.data(), t.data(), bytes, src.index);
  } else if (src.type == DeviceType::cpu) {
    backend(device.type).copy_from_host(out.data(), t.data(), bytes, device.index);
  } else {
    std::vector<char> staging(bytes);
    backend(src.type).copy_to_host(staging.data(), t.data(), bytes, src.index);
    backend(device.type).copy_from_host(out.data(), staging.data(), bytes, device.index);
  }
  return out;
}

Tensor clone(const Tensor& t) {
  check_defined(t, "clone", "tensor");
  return to_device(t, t.device());
}

Tensor cast(const Tensor& t, DType dtype) {
  check_defined(t, "cast", "tensor");
  check_contiguous(t, "cast", "tensor");
  require_device(t.device(), "cast");
  if (!dtype_in<NumericTypes>(t.dtype()) || !dtype_in<NumericTypes>(dtype))
    fail(ErrorCode::DType, std::string("cast: unsupported cast from ") + dtype_name(t.dtype()) + " to " +
                               dtype_name(dtype));
  if (t.dtype() == dtype) return clone(t);
  Tensor out = Tensor::empty(t.shape(), dtype, t.device());
  if (out.numel()) ADVPROP_DISPATCH(t.device(), cast, t, out);
  return out;
}

static void check_random(DType dtype, const char* op) {
  if (!is_float(dtype)) fail(ErrorCode::DType, std::string(op) + ": dtype must be f32 or f64, got " + dtype_name(dtype));
}

Tensor uniform(const Shape& shape, DType dtype, Device device, uint64_t seed, uint64_t offset,
               double lo, double hi) {
  check_random(dtype, "rand");
  require_device(device, "rand");
  if (!std::isfinite(lo) || !std::isfinite(hi))
    fail(ErrorCode::Arg, "rand: lo and hi must be finite, got lo " + std::to_string(lo) + ", hi " + std::to_string(hi));
  if (!(lo <= hi)) fail(ErrorCode::Arg, "rand: need lo <= hi, got lo " + std::to_string(lo) + ", hi " + std::to_string(hi));
  Tensor out = Tensor::empty(shape, dtype, device);
  if (out.numel()) ADVPROP_DISPATCH(device, uniform, out, seed, offset, lo, hi);
  return out;
}

Tensor normal(const Shape& shape, DType dtype, Device device, uint64_t seed, uint64_t offset,
              double mean, double std) {
  check_random(dtype, "randn");
  require_device(device, "randn");
  if (!std::isfinite(mean) || !std::isfinite(std))
    fail(ErrorCode::Arg, "randn: mean and std must be finite, got mean " + std::to_string(mean) + ", std " + std::to_string(std));
  if (!(std >= 0)) fail(ErrorCode::Arg, "randn: std must be >= 0, got " + std::to_string(std));
  Tensor out = Tensor::empty(shape, dtype, device);
  if (out.numel()) ADVPROP_DISPATCH(device, normal, out, seed, offset, mean, std);
  return out;
}

}  // namespace ops
}  // namespace advprop
