// Storage and tensor views. A Tensor is a view (shape, strides, element offset, dtype) onto a
// reference-counted Storage; several views may share one storage (reshape, batch slices, the
// autograd tape's saved copies). Kernels take `const Tensor&` inputs and `Tensor&` outputs that
// the op front-ends (native/ops) have already allocated and checked.
#pragma once
#include <atomic>
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
  bool owned() const { return owned_; }
  // A number no other storage or write has had: given at construction and again by touch(),
  // which every op that writes into memory it did not allocate calls (copy_into, the optimizer
  // updates, the EMA, batch norm's running statistics, uploads, broadcasts). What is kept
  // derived from the contents (gemm.cc's packed weights) is keyed on it, and so never outlives
  // a write. Borrowed memory can change behind advprop's back: nothing is kept for it.
  uint64_t stamp() const { return stamp_.load(std::memory_order_acquire); }
  void touch() { stamp_.store(next_stamp(), std::memory_order_release); }
  // Called by a cache of values derived from the contents when it keeps one: the destructor then
  // calls the hook (set once by that cache), which drops them, so they go with the storage.
  using DerivedRelease = void (*)(const Storage*);
  void set_derived(DerivedRelease release) {
    derived_release().store(release, std::memory_order_release);
    derived_.store(true, std::memory_order_release);
  }

 private:
  static uint64_t next_stamp();
  static std::atomic<DerivedRelease>& derived_release();
  std::atomic<bool> derived_{false};
  Device device_;
  size_t bytes_;
  void* data_ = nullptr;
  bool owned_ = true;
  std::atomic<uint64_t> stamp_{next_stamp()};
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

// Storage::touch for the storages of ops' in-place targets (undefined tensors skipped).
inline void mark_written(const Tensor& t) {
  if (t.defined()) t.storage()->touch();
}
inline void mark_written(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) mark_written(t);
}

Shape contiguous_strides(const Shape& shape);
// Product of sizes; throws ERR_SHAPE on negative sizes, more than kMaxDims dims or overflow.
int64_t checked_numel(const Shape& shape, const char* op);

}  // namespace advprop
