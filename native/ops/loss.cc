// Front-ends of the softmax cross-entropy and row argmax (advprop/loss.h): the checks, output
// allocation, dispatch.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/loss.h"
#include "advprop/ops.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

void check_logits(const char* op, const Tensor& logits) {
  TensorArg(op, "logits", logits).float_input<MixedFloatTypes>();
  if (logits.ndim() != 2 || logits.dim(1) < 1)
    fail(ErrorCode::Shape, std::string(op) + ": 'logits' must be [N, K] with K >= 1, got " + shape_str(logits.shape()));
}

// logits [N, K] (f32, f64, bf16 or f16) with K >= 1, and i32 labels [N] on its device.
void check_logits_labels(const char* op, const Tensor& logits, const Tensor& labels) {
  check_logits(op, logits);
  TensorArg(op, "labels", labels)
      .contiguous()
      .dtype(DType::i32)
      .same_device_as(logits, "logits")
      .shape({logits.dim(0)}, "[N]", "logits", &logits.shape());
}

// A tensor of the loss's dtype (accum_dtype of the logits'), on the logits' device. For f32 and
// f64 logits that is their own dtype, and the message names both arguments as it always has.
TensorArg stat_arg(const char* op, const char* name, const Tensor& t, const Tensor& logits) {
  TensorArg arg(op, name, t);
  arg.float_input().same_device_as(logits, "logits");
  if (accum_dtype(logits.dtype()) == logits.dtype()) arg.same_dtype_as(logits, "logits");
  else arg.dtype(accum_dtype(logits.dtype()));
  return arg;
}

void check_smoothing(const char* op, double smoothing) {
  if (!(smoothing >= 0.0 && smoothing <= 1.0))
    fail(ErrorCode::Arg, std::string(op) + ": labelSmoothing must be in [0, 1], got " + std::to_string(smoothing));
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
  // The loss and the saved log-sum-exp are statistics: f32 for 16-bit logits.
  const DType stat = accum_dtype(logits.dtype());
  Tensor l = Tensor::empty({N}, stat, logits.device());
  Tensor s = Tensor::empty({N}, stat, logits.device());
  if (N) ADVPROP_DISPATCH(logits.device(), softmax_xent_forward, logits, labels, smoothing, l, s);
  *loss = l;
  *lse = s;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels, const Tensor& lse, const Tensor& dy,
                              double scale, double smoothing) {
  const char* op = "crossEntropyBackward";
  check_logits_labels(op, logits, labels);
  check_smoothing(op, smoothing);
  if (!std::isfinite(scale))
    fail(ErrorCode::Arg, std::string(op) + ": scale must be a finite number, got " + std::to_string(scale));
  const int64_t N = logits.dim(0);
  // lse and dy (the loss's gradient) are of the loss's dtype, f32 for 16-bit logits.
  stat_arg(op, "lse", lse, logits).shape({N}, "[N]", "logits", &logits.shape());
  stat_arg(op, "dy", dy, logits);
  if (!(dy.ndim() == 0 || dy.shape() == Shape{N}))
    fail(ErrorCode::Shape, std::string(op) + ": 'dy' " + shape_str(dy.shape()) + " must be [] or [" +
                               std::to_string(N) + "] for 'logits' " + shape_str(logits.shape()));
  Tensor dz = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  if (N) ADVPROP_DISPATCH(logits.device(), softmax_xent_backward, logits, labels, lse, dy, scale, smoothing, dz);
  return dz;
}

Tensor argmax_rows(const Tensor& logits) {
  check_logits("argmax", logits);
  Tensor pred = Tensor::empty({logits.dim(0)}, DType::i32, logits.device());
  if (pred.numel()) ADVPROP_DISPATCH(logits.device(), argmax_rows, logits, pred);
  return pred;
}

}  // namespace ops
}  // namespace advprop
