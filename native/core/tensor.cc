#include "advprop/tensor.h"

#include <limits>
#include <string>

#include "advprop/error.h"

namespace advprop {

Storage::Storage(Device device, size_t bytes) : device_(device), bytes_(bytes) {
  data_ = backend(device.type).allocate(bytes, device.index);
}

uint64_t Storage::next_stamp() {
  static std::atomic<uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

std::atomic<Storage::DerivedRelease>& Storage::derived_release() {
  static std::atomic<DerivedRelease> hook{nullptr};
  return hook;
}

Storage::~Storage() {
  if (derived_.load(std::memory_order_acquire))
    if (const DerivedRelease release = derived_release().load(std::memory_order_acquire)) release(this);
  if (owned_) backend(device_.type).deallocate(data_, bytes_, device_.index);
}

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

int64_t checked_numel(const Shape& shape, const char* op) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    fail(ErrorCode::Shape, std::string(op) + ": shape " + shape_str(shape) + " has more than " +
                               std::to_string(kMaxDims) + " dimensions");
  // Tensors are addressed with int64 byte offsets, so cap the element count well below that.
  const int64_t limit = int64_t(1) << 48;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(ErrorCode::Shape, std::string(op) + ": negative size in shape " + shape_str(shape));
    if (d != 0 && n > limit / d)
      fail(ErrorCode::Shape, std::string(op) + ": shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  return n;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  int64_t n = checked_numel(shape, "empty");
  if (dtype_size(dtype) == 0) fail(ErrorCode::DType, "empty: invalid dtype");
  require_device(device, "empty");
  Tensor t;
  t.storage_ = std::make_shared<Storage>(device, static_cast<size_t>(n) * dtype_size(dtype));
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.numel_ = n;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::from_blob(void* data, const Shape& shape, const Shape& strides, DType dtype, Device device) {
  const int64_t n = checked_numel(shape, "from_blob");
  if (dtype_size(dtype) == 0) fail(ErrorCode::DType, "from_blob: invalid dtype");
  if (strides.size() != shape.size())
    fail(ErrorCode::Arg, "from_blob: strides " + shape_str(strides) + " do not match shape " + shape_str(shape));
  require_device(device, "from_blob");
  // Bytes spanned by the view (the largest element's offset + 1), for Storage::bytes().
  int64_t extent = n ? 1 : 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (strides[i] < 0)
      fail(ErrorCode::Arg, "from_blob: negative stride in " + shape_str(strides) + " for shape " + shape_str(shape));
    int64_t span = 0;
    if (n && (__builtin_mul_overflow(shape[i] - 1, strides[i], &span) || __builtin_add_overflow(extent, span, &extent) ||
              extent > (int64_t(1) << 48)))
      fail(ErrorCode::Shape, "from_blob: strides " + shape_str(strides) + " for shape " + shape_str(shape) + " span too much memory");
  }
  if (n && !data) fail(ErrorCode::Arg, "from_blob: null data for shape " + shape_str(shape));
  Tensor t;
  t.storage_ = std::make_shared<Storage>(device, data, static_cast<size_t>(extent) * dtype_size(dtype),
                                         Storage::Borrowed{});
  t.shape_ = shape;
  t.strides_ = strides;
  t.numel_ = n;
  t.dtype_ = dtype;
  return t;
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != acc) return false;
    acc *= shape_[i];
  }
  return true;
}

Tensor Tensor::reshape(const Shape& shape) const {
  int64_t n = checked_numel(shape, "reshape");
  if (n != numel_)
    fail(ErrorCode::Shape, "reshape: cannot view " + shape_str(shape_) + " (" + std::to_string(numel_) +
                               " elements) as " + shape_str(shape) + " (" + std::to_string(n) + ")");
  if (!is_contiguous()) fail(ErrorCode::Arg, "reshape: tensor " + shape_str(shape_) + " is not contiguous");
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  return t;
}

Tensor Tensor::slice0(int64_t start, int64_t len) const {
  if (ndim() == 0) fail(ErrorCode::Shape, "slice: cannot slice a 0-d tensor");
  if (start < 0 || len < 0 || start > shape_[0] || len > shape_[0] - start)
    fail(ErrorCode::Shape, "slice: rows [" + std::to_string(start) + ", " + std::to_string(start + len) +
                               ") out of range for shape " + shape_str(shape_));
  Tensor t = *this;
  t.shape_[0] = len;
  t.offset_ = offset_ + start * strides_[0];
  t.numel_ = numel_ / (shape_[0] ? shape_[0] : 1) * len;
  if (shape_[0] == 0) t.numel_ = 0;
  return t;
}

}  // namespace advprop
