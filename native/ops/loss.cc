// Front-ends of the softmax cross-entropy and row argmax (advprop/loss.h), and the argument
// checks the kernels of every backend share.
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/loss.h"
#include "advprop/ops.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {

void check_loss_tensor(const char* op, const char* name, const Tensor& t, const Shape& want, DType dt,
                       const Device& dev) {
  if (t.dtype() != dt)
    fail(ErrorCode::DType, std::string(op) + ": " + name + " is " + dtype_name(t.dtype()) + ", expected " + dtype_name(dt));
  if (t.shape() != want)
    fail(ErrorCode::Shape, std::string(op) + ": " + name + " has shape " + shape_str(t.shape()) + ", expected " +
                               shape_str(want));
  if (t.device() != dev)
    fail(ErrorCode::Device, std::string(op) + ": " + name + " is on " + device_str(t.device()) + ", expected " +
                                device_str(dev));
  if (!t.is_contiguous()) fail(ErrorCode::Arg, std::string(op) + ": " + name + " must be contiguous");
}

void check_loss_args(const char* op, const Tensor& logits, const Tensor* labels, DeviceType type) {
  if (!is_float(logits.dtype()))
    fail(ErrorCode::DType, std::string(op) + ": logits must be f32 or f64, got " + dtype_name(logits.dtype()));
  if (logits.ndim() != 2 || logits.dim(1) < 1)
    fail(ErrorCode::Shape, std::string(op) + ": logits must be [N, K] with K >= 1, got " + shape_str(logits.shape()));
  if (logits.device().type != type)
    fail(ErrorCode::Device, std::string(op) + ": logits are on " + device_str(logits.device()) + ", expected a " +
                                device_type_name(type) + " device");
  if (!logits.is_contiguous()) fail(ErrorCode::Arg, std::string(op) + ": logits must be contiguous");
  if (labels) check_loss_tensor(op, "labels", *labels, {logits.dim(0)}, DType::i32, logits.device());
}

bool check_loss_dy(const char* op, const Tensor& dy, int64_t n, DType dt, const Device& dev) {
  const bool scalar = dy.ndim() == 0;
  check_loss_tensor(op, "dy", dy, scalar ? Shape{} : Shape{n}, dt, dev);
  return scalar;
}

void check_smoothing(const char* op, double smoothing) {
  if (!(smoothing >= 0.0 && smoothing <= 1.0))
    fail(ErrorCode::Arg, std::string(op) + ": labelSmoothing must be in [0, 1], got " + std::to_string(smoothing));
}

namespace ops {
namespace {

void check_logits_labels(const char* op, const Tensor& logits, const Tensor& labels) {
  check_float_input(logits, op, "logits");
  if (logits.ndim() != 2 || logits.dim(1) < 1)
    fail(ErrorCode::Shape, std::string(op) + ": 'logits' must be [N, K] with K >= 1, got " + shape_str(logits.shape()));
  check_defined(labels, op, "labels");
  check_contiguous(labels, op, "labels");
  if (labels.dtype() != DType::i32)
    fail(ErrorCode::DType, std::string(op) + ": 'labels' must be i32, got " + dtype_name(labels.dtype()) + " " +
                               shape_str(labels.shape()));
  check_same_device(logits, labels, op, "logits", "labels");
  if (labels.shape() != Shape{logits.dim(0)})
    fail(ErrorCode::Shape, std::string(op) + ": 'labels' " + shape_str(labels.shape()) + " must be [N] = [" +
                               std::to_string(logits.dim(0)) + "] for 'logits' " + shape_str(logits.shape()));
}

void validate_label_values(const char* op, const Tensor& labels, int64_t K) {
  const int64_t n = labels.numel();
  std::vector<int32_t> host;
  const int32_t* v = labels.data_as<int32_t>();
  if (labels.device().type != DeviceType::cpu) {
    host.resize(static_cast<size_t>(n));
    to_host(labels, host.data(), host.size() * sizeof(int32_t));
    v = host.data();
  }
  for (int64_t i = 0; i < n; ++i)
    if (v[i] < 0 || v[i] >= K)
      fail(ErrorCode::Arg, std::string(op) + ": labels[" + std::to_string(i) + "] = " + std::to_string(v[i]) +
                               " is outside [0, " + std::to_string(K) + ") (logits [" + std::to_string(n) + ", " +
                               std::to_string(K) + "])");
}

}  // namespace

void cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing, bool validate_labels,
                   Tensor* loss, Tensor* lse) {
  const char* op = "crossEntropy";
  check_logits_labels(op, logits, labels);
  check_smoothing(op, smoothing);
  if (validate_labels) validate_label_values(op, labels, logits.dim(1));
  const int64_t N = logits.dim(0);
  Tensor l = Tensor::empty({N}, logits.dtype(), logits.device());
  Tensor s = Tensor::empty({N}, logits.dtype(), logits.device());
  if (N) ADVPROP_DISPATCH(logits.device(), softmax_xent_forward, logits, labels, smoothing, l, s);
  *loss = l;
  *lse = s;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels, const Tensor& lse, const Tensor& dy,
                              double scale, double smoothing) {
  const char* op = "crossEntropyBackward";
  check_logits_labels(op, logits, labels);
  check_smoothing(op, smoothing);
  const int64_t N = logits.dim(0);
  for (auto [t, name] : {std::pair<const Tensor*, const char*>{&lse, "lse"}, {&dy, "dy"}}) {
    check_float_input(*t, op, name);
    check_same_device(logits, *t, op, "logits", name);
    check_same_dtype(logits, *t, op, "logits", name);
  }
  if (lse.shape() != Shape{N})
    fail(ErrorCode::Shape, std::string(op) + ": 'lse' " + shape_str(lse.shape()) + " must be [" + std::to_string(N) + "]");
  if (!(dy.ndim() == 0 || dy.shape() == Shape{N}))
    fail(ErrorCode::Shape, std::string(op) + ": 'dy' " + shape_str(dy.shape()) + " must be [] or [" +
                               std::to_string(N) + "] for 'logits' " + shape_str(logits.shape()));
  Tensor dz = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  if (N) ADVPROP_DISPATCH(logits.device(), softmax_xent_backward, logits, labels, lse, dy, scale, smoothing, dz);
  return dz;
}

Tensor argmax_rows(const Tensor& logits) {
  const char* op = "argmax";
  check_float_input(logits, op, "logits");
  if (logits.ndim() != 2 || logits.dim(1) < 1)
    fail(ErrorCode::Shape, std::string(op) + ": 'logits' must be [N, K] with K >= 1, got " + shape_str(logits.shape()));
  Tensor pred = Tensor::empty({logits.dim(0)}, DType::i32, logits.device());
  if (pred.numel()) ADVPROP_DISPATCH(logits.device(), argmax_rows, logits, pred);
  return pred;
}

}  // namespace ops
}  // namespace advprop
