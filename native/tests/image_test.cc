// normalize_image (advprop/image.h): the per-element formula against the JavaScript arithmetic it
// replaces for every byte, the cpu kernel against a scalar loop, cuda-sim against the cpu bit for
// bit in f32, bf16 and f16, and the front-end's refusals.
#pragma GCC optimize("fp-contract=off")  // the reference's u * scale + shift must round twice, as the kernels do

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/half.h"
#include "advprop/image.h"
#include "advprop/ops.h"
#include "half_check.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};

Tensor bytes_of(const Shape& s, uint32_t seed, Device dev) {
  const int64_t n = checked_numel(s, "test");
  std::vector<uint8_t> b(static_cast<size_t>(n));
  uint32_t x = seed * 2654435761u + 7u;
  for (int64_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    b[static_cast<size_t>(i)] = i < 256 ? static_cast<uint8_t>(i * 97 + seed) : static_cast<uint8_t>(x);
  }
  return ops::from_host(b.data(), b.size(), s, DType::u8, dev);
}

ADVPROP_NATIVE_TEST(normalize_pixel_is_the_loaders_byte_over_255_for_every_byte) {
  for (int v = 0; v < 256; ++v) {
    // JavaScript: Float32Array.from(v / 255), the double quotient rounded to f32; mean 0, std 1.
    const float js = static_cast<float>(v / 255.0);
    const float got = normalize_pixel<float>(static_cast<uint8_t>(v), 1.0f, static_cast<float>(-0.0 / 1.0));
    EXPECT_MSG(std::memcmp(&js, &got, sizeof(float)) == 0, "byte " + std::to_string(v));
  }
}

ADVPROP_NATIVE_TEST(normalize_image_cpu_is_the_scalar_formula) {
  const Shape s{3, 5, 7, 3};
  const Tensor x = bytes_of(s, 5, kCpu);
  const std::vector<double> mean{0.485, 0.456, 0.406}, sd{0.229, 0.224, 0.225};
  const Tensor out = ops::normalize_image(x, mean, sd, DType::f32);
  REQUIRE(out.dtype() == DType::f32 && out.shape() == s);
  const uint8_t* b = x.data_as<uint8_t>();
  const float* o = out.data_as<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int c = static_cast<int>(i % 3);
    const float u = static_cast<float>(b[i]) / 255.0f;
    const float prod = u * static_cast<float>(1.0 / sd[c]);
    const float want = prod + static_cast<float>(-mean[c] / sd[c]);
    EXPECT_MSG(std::memcmp(&want, &o[i], sizeof(float)) == 0, "element " + std::to_string(i));
  }
  for (DType dt : {DType::bf16, DType::f16}) {
    const Tensor h = ops::normalize_image(x, mean, sd, dt);
    const test::Values f = test::values_of(out);
    EXPECT_SAME_BITS(std::string(dtype_name(dt)) + " = f32 rounded once", h, test::tensor_of(f, s, dt, kCpu));
  }
}

ADVPROP_NATIVE_TEST(normalize_image_cuda_sim_matches_cpu) {
  if (!test::kWithSim) return;
  for (const Shape& s : {Shape{1, 1, 1, 1}, Shape{2, 13, 11, 3}, Shape{1, 17, 19, 4}, Shape{5, 31, 7, 1}}) {
    const int64_t c = s[3];
    std::vector<double> mean, sd;
    for (int64_t k = 0; k < c; ++k) mean.push_back(0.1 * double(k) + 0.3), sd.push_back(0.2 + 0.05 * double(k));
    const Tensor x = bytes_of(s, static_cast<uint32_t>(c + s[0]), kCpu);
    for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
      const Tensor want = ops::normalize_image(x, mean, sd, dt);
      const Tensor got = test::cpu_copy(ops::normalize_image(test::sim_copy(x), mean, sd, dt));
      EXPECT_SAME_BITS("normalize_image " + shape_str(s) + " " + dtype_name(dt), got, want);
    }
  }
}

ADVPROP_NATIVE_TEST(normalize_image_refuses_bad_arguments) {
  const Tensor x = bytes_of({2, 3, 3, 3}, 1, kCpu);
  const std::vector<double> m3{0, 0, 0}, s3{1, 1, 1};
  EXPECT_THROWS(ops::normalize_image(ops::full({2, 3, 3, 3}, DType::f32, kCpu, 0), m3, s3, DType::f32), ErrorCode::DType);
  EXPECT_THROWS(ops::normalize_image(bytes_of({3, 3, 3}, 1, kCpu), m3, s3, DType::f32), ErrorCode::Shape);
  EXPECT_THROWS(ops::normalize_image(x, {0, 0}, s3, DType::f32), ErrorCode::Shape);
  EXPECT_THROWS(ops::normalize_image(x, m3, {1, 1, 1, 1}, DType::f32), ErrorCode::Shape);
  EXPECT_THROWS(ops::normalize_image(x, m3, {1, 0, 1}, DType::f32), ErrorCode::Arg);
  EXPECT_THROWS(ops::normalize_image(x, {0, NAN, 0}, s3, DType::f32), ErrorCode::Arg);
  EXPECT_THROWS(ops::normalize_image(x, m3, s3, DType::f64), ErrorCode::DType);
  EXPECT_THROWS(ops::normalize_image(x, m3, s3, DType::u8), ErrorCode::DType);
  EXPECT_THROWS(ops::normalize_image(Tensor(), m3, s3, DType::f32), ErrorCode::Disposed);
  const Tensor wide = bytes_of({1, 1, 1, kMaxImageChannels + 1}, 1, kCpu);
  EXPECT_THROWS(ops::normalize_image(wide, std::vector<double>(kMaxImageChannels + 1, 0),
                                     std::vector<double>(kMaxImageChannels + 1, 1), DType::f32),
                ErrorCode::Shape);
  try {
    ops::normalize_image(x, {0, 0}, s3, DType::f32);
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), std::string("normalizeImage: 'mean' has 2 values but 'x' [2, 3, 3, 3] has C = 3 channels"));
  }
}

}  // namespace
}  // namespace advprop
