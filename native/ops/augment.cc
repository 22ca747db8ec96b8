// Front-end of the input pipeline's per-image kernels (advprop/augment.h): the checks, then the
// host kernel on the calling thread.
#include <cmath>
#include <string>

#include "advprop/augment.h"
#include "advprop/error.h"

namespace advprop {
namespace ops {

void image_augment(AugmentOp op, const uint8_t* data, size_t bytes, int64_t height, int64_t width, int64_t channels,
                   const std::vector<double>& params, uint8_t* out) {
  check_enum(op, "imageAugment");
  const std::string at = std::string("imageAugment(") + enum_name(op) + ")";
  // The JS side's own bounds (LIMITS.imageSide) are far below these; these keep h·w·c in range.
  constexpr int64_t kMaxSide = int64_t{1} << 20;
  if (height < 1 || width < 1 || height > kMaxSide || width > kMaxSide)
    fail(ErrorCode::Arg, at + ": height and width must be 1 to " + std::to_string(kMaxSide) + ", got " +
                             std::to_string(height) + " × " + std::to_string(width));
  const bool grey_or_rgb = op == AugmentOp::color || op == AugmentOp::contrast;
  if (grey_or_rgb ? channels != 1 && channels != 3 : channels < 1 || channels > 4)
    fail(ErrorCode::Arg, at + ": channels must be " + (grey_or_rgb ? "1 or 3" : "1 to 4") + ", got " +
                             std::to_string(channels));
  if (static_cast<size_t>(height * width * channels) != bytes)
    fail(ErrorCode::Shape, at + ": the image has " + std::to_string(bytes) + " bytes, expected " + shape_str({height, width, channels}) +
                               " = " + std::to_string(height * width * channels));
  const int count = augment_param_count(op);
  if (static_cast<int>(params.size()) != count)
    fail(ErrorCode::Arg, at + ": 'params' must hold " + std::to_string(count) + " values, got " + std::to_string(params.size()));
  for (size_t i = 0; i < params.size(); ++i) {
    const double v = params[i];
    const bool ok = op == AugmentOp::lut ? v >= 0 && v <= 255 && v == std::floor(v) : std::isfinite(v);
    if (!ok)
      fail(ErrorCode::Arg, at + ": 'params'[" + std::to_string(i) + "] must be " +
                               (op == AugmentOp::lut ? "an integer 0..255" : "finite") + ", got " + std::to_string(v));
  }
  cpu::augment(op, HostImage{data, height, width, channels}, params.data(), out);
}

}  // namespace ops
}  // namespace advprop
