#include "common.h"

#include <cstring>
#include <string>

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"

namespace advprop {
namespace capi {
namespace {

thread_local std::string g_last_error;

std::string dims_str(const int64_t* v, int32_t n) { return shape_str(Shape(v, v + n)); }

}  // namespace

advprop_status record(advprop_status status, const char* a, const char* b, const char* c) noexcept {
  try {
    g_last_error.assign(a).append(b).append(c);
  } catch (...) {
    g_last_error.clear();
  }
  return status;
}

const char* last_error() noexcept { return g_last_error.c_str(); }

// The C statuses are the C++ codes: the header promises it, so the compiler checks it.
static_assert(ADVPROP_ERR_SHAPE == static_cast<int>(ErrorCode::Shape) && ADVPROP_ERR_DTYPE == static_cast<int>(ErrorCode::DType) &&
                  ADVPROP_ERR_DEVICE == static_cast<int>(ErrorCode::Device) &&
                  ADVPROP_ERR_DISPOSED == static_cast<int>(ErrorCode::Disposed) &&
                  ADVPROP_ERR_OOM == static_cast<int>(ErrorCode::OOM) && ADVPROP_ERR_CUDA == static_cast<int>(ErrorCode::Cuda) &&
                  ADVPROP_ERR_IO == static_cast<int>(ErrorCode::IO) && ADVPROP_ERR_FORMAT == static_cast<int>(ErrorCode::Format) &&
                  ADVPROP_ERR_ARG == static_cast<int>(ErrorCode::Arg) &&
                  ADVPROP_ERR_INTERNAL == static_cast<int>(ErrorCode::Internal) &&
                  ADVPROP_ERR_DIST == static_cast<int>(ErrorCode::Dist),
              "advprop_status must match advprop::ErrorCode");
static_assert(ADVPROP_MAX_DIMS == kMaxDims && ADVPROP_F32 == static_cast<int>(DType::f32) &&
                  ADVPROP_F64 == static_cast<int>(DType::f64) && ADVPROP_I32 == static_cast<int>(DType::i32) &&
                  ADVPROP_F16 == static_cast<int>(DType::f16) && ADVPROP_BF16 == static_cast<int>(DType::bf16) &&
                  ADVPROP_DEVICE_CPU == static_cast<int>(DeviceType::cpu) &&
                  ADVPROP_DEVICE_CUDA == static_cast<int>(DeviceType::cuda) &&
                  ADVPROP_DEVICE_CUDA_SIM == static_cast<int>(DeviceType::cuda_sim),
              "the C descriptor's codes must match the C++ enums");

advprop_status status_of(ErrorCode code) {
  const int v = static_cast<int>(code);
  return v >= ADVPROP_ERR_SHAPE && v <= ADVPROP_ERR_DIST ? static_cast<advprop_status>(v) : ADVPROP_ERR_INTERNAL;
}

Tensor wrap(const char* op, const char* name, const advprop_tensor* d) {
  const std::string where = std::string(op) + ": '" + name + "'";
  if (!d) fail(ErrorCode::Arg, where + " is NULL");
  if (d->ndim < 0 || d->ndim > ADVPROP_MAX_DIMS)
    fail(ErrorCode::Shape, where + " has ndim " + std::to_string(d->ndim) + ", expected 0.." +
                               std::to_string(ADVPROP_MAX_DIMS));
  // Every dtype with data (StorageTypes); which of them an entry computes with is its front-end's
  // check (ERR_DTYPE).
  if (d->dtype < ADVPROP_F32 || d->dtype > ADVPROP_BF16 || !dtype_in<StorageTypes>(static_cast<DType>(d->dtype)))
    fail(ErrorCode::DType, where + " has dtype " + std::to_string(d->dtype) +
                               ", expected ADVPROP_F32, ADVPROP_F64, ADVPROP_I32, ADVPROP_F16 or ADVPROP_BF16");
  if (d->device_type < ADVPROP_DEVICE_CPU || d->device_type > ADVPROP_DEVICE_CUDA_SIM || d->device_index < 0 ||
      (d->device_type == ADVPROP_DEVICE_CPU && d->device_index != 0))
    fail(ErrorCode::Device, where + " has device type " + std::to_string(d->device_type) + " index " +
                                std::to_string(d->device_index) + ", not a valid device");
  const Shape shape(d->shape, d->shape + d->ndim), strides(d->strides, d->strides + d->ndim);
  checked_numel(shape, op);
  // The kernels address memory densely: refuse any other layout rather than copy behind the
  // caller's back.
  const Shape want = contiguous_strides(shape);
  for (int i = 0; i < d->ndim; ++i)
    if (shape[i] != 1 && strides[i] != want[i])
      fail(ErrorCode::Arg, where + " " + shape_str(shape) + " has strides " + dims_str(d->strides, d->ndim) +
                               " (elements); it must be contiguous, " + shape_str(want));
  const Device dev{static_cast<DeviceType>(d->device_type), d->device_index};
  require_device(dev, op);
  if (dev.index >= backend(dev.type).device_count())
    fail(ErrorCode::Device, where + " is on " + device_str(dev) + " but there are " +
                                std::to_string(backend(dev.type).device_count()) + " such devices");
  if (!d->data && checked_numel(shape, op) > 0) fail(ErrorCode::Arg, where + " " + shape_str(shape) + " has NULL data");
  return Tensor::from_blob(d->data, shape, strides, static_cast<DType>(d->dtype), dev);
}

Tensor wrap_optional(const char* op, const char* name, const advprop_tensor* d) {
  return d ? wrap(op, name, d) : Tensor();
}

void check_out(const char* op, const char* name, const Tensor& out, const Shape& shape, DType dtype, const Device& dev) {
  const std::string where = std::string(op) + ": output '" + name + "'";
  if (out.shape() != shape)
    fail(ErrorCode::Shape, where + " is " + shape_str(out.shape()) + ", expected " + shape_str(shape));
  if (out.dtype() != dtype)
    fail(ErrorCode::DType, where + " is " + dtype_name(out.dtype()) + ", expected " + dtype_name(dtype));
  if (out.device() != dev)
    fail(ErrorCode::Device, where + " is on " + device_str(out.device()) + ", expected " + device_str(dev));
}

void copy_out(const char* op, const char* name, const Tensor& result, const Tensor& out) {
  check_out(op, name, out, result.shape(), result.dtype(), result.device());
  if (result.nbytes() == 0 || out.data() == result.data()) return;
  backend(out.device().type).copy_on_device(out.data(), result.data(), result.nbytes(), out.device().index);
}

}  // namespace capi
}  // namespace advprop
