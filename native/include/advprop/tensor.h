// Storage and tensor views. A Tensor is a view (shape, strides, element offset, dtype) onto a
// reference-counted Storage; several views may share one storage (reshape, batch slices, the
// autograd tape's saved copies). Kernels take `const Tensor&` inputs and `Tensor&` outputs that
// the op front-ends (native/ops) have already allocated and checked.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "advprop/device.h"
#include "advprop/dtype.h"

namespace advprop {

using Shape = std::vector<int64_t>;

// Memory on one device, returned to that device's allocator when the last view is gone.
class Storage {
 public:
  Storage(Device device, size_t bytes);
  // Memory owned by someone else (the C API's caller): wrapped, never freed by advprop.
  struct Borrowed {};
  Storage(Device device, void* data, size_t bytes, Borrowed) : device_(device), bytes_(bytes), data_(data), owned_(false) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  const Device& device() const { return device_; }

 private:
  Device device_;
  size_t bytes_;
  void* data_ = nullptr;
  bool owned_ = true;
};

constexpr int kMaxDims = 8;

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised contiguous tensor. Throws ERR_SHAPE for negative or overflowing sizes,
  // ERR_DEVICE when the device is unavailable, ERR_OOM when memory runs out.
  static Tensor empty(const Shape& shape, DType dtype, Device device);
  // A view of caller-owned memory (see Storage::Borrowed) with the given element strides, which
  // must be >= 0. Throws ERR_SHAPE / ERR_DTYPE / ERR_DEVICE like empty, ERR_ARG for a null
  // pointer to a non-empty tensor or negative strides.
  static Tensor from_blob(void* data, const Shape& shape, const Shape& strides, DType dtype, Device device);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + ndim() : i]; }
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  const Device& device() const { return storage_->device(); }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  int64_t offset() const { return offset_; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  void* data() const {
    return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
  }
  template <typename T>
  T* data_as() const { return static_cast<T*>(data()); }

  // Views sharing this tensor's storage. reshape requires a contiguous tensor and the same
  // element count; slice0 takes rows [start, start+len) of axis 0.
  Tensor reshape(const Shape& shape) const;
  Tensor slice0(int64_t start, int64_t len) const;

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  int64_t numel_ = 0;
  DType dtype_ = DType::f32;
};

Shape contiguous_strides(const Shape& shape);
// Product of sizes; throws ERR_SHAPE on negative sizes, more than kMaxDims dims or overflow.
int64_t checked_numel(const Shape& shape, const char* op);

}  // namespace advprop
