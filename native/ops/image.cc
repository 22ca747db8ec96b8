// Front-end of normalize_image (advprop/image.h): checks, the per-channel constants, dispatch.
#include <cmath>
#include <string>

#include "advprop/image.h"
#include "checks.h"
#include "dispatch.h"

namespace advprop {
namespace ops {
namespace {

constexpr const char* kOp = "normalizeImage";
using ImageOutTypes = TypeList<float, bf16, f16>;

void check_channel_values(const std::vector<double>& v, const char* arg, const Tensor& x, bool divisor) {
  const int64_t c = x.dim(3);
  if (static_cast<int64_t>(v.size()) != c)
    fail(ErrorCode::Shape, std::string(kOp) + ": '" + arg + "' has " + std::to_string(v.size()) + " values but 'x' " +
                               shape_str(x.shape()) + " has C = " + std::to_string(c) + " channels");
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]) || (divisor && v[i] == 0))
      fail(ErrorCode::Arg, std::string(kOp) + ": '" + arg + "'[" + std::to_string(i) + "] must be finite" +
                               (divisor ? " and non-zero" : "") + ", got " + std::to_string(v[i]));
}

}  // namespace

Tensor normalize_image(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std, DType dtype) {
  TensorArg(kOp, "x", x).contiguous().dtype(DType::u8).usable_device().rank(4, "NHWC [N, H, W, C]");
  if (!dtype_in<ImageOutTypes>(dtype))
    fail(ErrorCode::DType, std::string(kOp) + ": argument 'dtype' must be " + dtype_alternatives(ImageOutTypes{}) +
                               ", got " + dtype_name(dtype) + " (for 'x' " + shape_str(x.shape()) + ")");
  if (x.dim(3) < 1 || x.dim(3) > kMaxImageChannels)
    fail(ErrorCode::Shape, std::string(kOp) + ": 'x' " + shape_str(x.shape()) + " must have 1 to " +
                               std::to_string(kMaxImageChannels) + " channels (the last axis)");
  check_channel_values(mean, "mean", x, false);
  check_channel_values(std, "std", x, true);
  ImageNorm p;
  p.channels = static_cast<int>(x.dim(3));
  for (int c = 0; c < p.channels; ++c) {
    // As lib/models/efficientnet.ts forms them: in double, each rounded once to f32.
    p.scale[c] = static_cast<float>(1.0 / std[c]);
    p.shift[c] = static_cast<float>(-mean[c] / std[c]);
  }
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  if (out.numel()) ADVPROP_DISPATCH(x.device(), normalize_image, x, p, out);
  return out;
}

}  // namespace ops
}  // namespace advprop
