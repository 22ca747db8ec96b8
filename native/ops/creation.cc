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
  require_dtype<StorageTypes>(dtype, "full");
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
  if (!dtype_in<StorageTypes>(t.dtype()) || !dtype_in<StorageTypes>(dtype))
    fail(ErrorCode::DType, std::string("cast: unsupported cast from ") + dtype_name(t.dtype()) + " to " +
                               dtype_name(dtype));
  if (t.dtype() == dtype) return clone(t);
  Tensor out = Tensor::empty(t.shape(), dtype, t.device());
  if (out.numel()) ADVPROP_DISPATCH(t.device(), cast, t, out);
  return out;
}

namespace {

// rand and randn check the same of their two parameters (lo and hi, mean and std): both finite,
// and the one relation between them that `valid` tests and `rule` states.
struct Distribution {
  const char* op;
  const char *a_name, *b_name;
  bool (*valid)(double a, double b);
  const char* rule;
};
const Distribution kUniform{"rand", "lo", "hi", [](double lo, double hi) { return lo <= hi; }, "need lo <= hi"};
const Distribution kNormal{"randn", "mean", "std", [](double, double std) { return std >= 0; }, "std must be >= 0"};

Tensor random_output(const Distribution& d, const Shape& shape, DType dtype, Device device, double a, double b) {
  if (!dtype_in<MixedFloatTypes>(dtype))
    fail(ErrorCode::DType, std::string(d.op) + ": dtype must be one of " + dtype_names(MixedFloatTypes{}) + ", got " +
                               dtype_name(dtype) + " for shape " + shape_str(shape));
  require_device(device, d.op);
  const std::string got = std::string(", got ") + d.a_name + " " + std::to_string(a) + ", " + d.b_name + " " +
                          std::to_string(b);
  if (!std::isfinite(a) || !std::isfinite(b))
    fail(ErrorCode::Arg, std::string(d.op) + ": " + d.a_name + " and " + d.b_name + " must be finite" + got);
  if (!d.valid(a, b)) fail(ErrorCode::Arg, std::string(d.op) + ": " + d.rule + got);
  return Tensor::empty(shape, dtype, device);
}

}  // namespace

Tensor uniform(const Shape& shape, DType dtype, Device device, uint64_t seed, uint64_t offset,
               double lo, double hi) {
  Tensor out = random_output(kUniform, shape, dtype, device, lo, hi);
  if (out.numel()) ADVPROP_DISPATCH(device, uniform, out, seed, offset, lo, hi);
  return out;
}

Tensor normal(const Shape& shape, DType dtype, Device device, uint64_t seed, uint64_t offset,
              double mean, double std) {
  Tensor out = random_output(kNormal, shape, dtype, device, mean, std);
  if (out.numel()) ADVPROP_DISPATCH(device, normal, out, seed, offset, mean, std);
  return out;
}

}  // namespace ops
}  // namespace advprop
