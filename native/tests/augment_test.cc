// The input pipeline's per-image kernels (advprop/augment.h) against plain per-pixel references
// written here with std::floor rounding (the byte-for-byte comparison with the JavaScript ones is
// test/data/augment_native.test.ts), and the front-end's refusals.
#pragma GCC optimize("fp-contract=off")

#include <cmath>
#include <cstdint>
#include <vector>

#include "advprop/augment.h"
#include "harness.h"

namespace advprop {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> b(n);
  uint32_t x = seed * 2654435761u + 7u;
  for (auto& v : b) x ^= x << 13, x ^= x >> 17, x ^= x << 5, v = static_cast<uint8_t>(x);
  return b;
}

double js_round(double v) {
  const double r = std::floor(v);
  return v - r >= 0.5 ? r + 1 : r;
}
uint8_t clamp255(double v) { return v < 0 ? 0 : v > 255 ? 255 : static_cast<uint8_t>(js_round(v)); }

std::vector<uint8_t> run(AugmentOp op, const std::vector<uint8_t>& in, int64_t h, int64_t w, int64_t c, std::vector<double> p) {
  std::vector<uint8_t> out(in.size());
  ops::image_augment(op, in.data(), in.size(), h, w, c, p, out.data());
  return out;
}

ADVPROP_NATIVE_TEST(augment_kernels_match_per_pixel_references) {
  for (int64_t c : {1, 3})
    for (auto [h, w] : {std::pair<int64_t, int64_t>{1, 1}, {5, 7}, {16, 9}}) {
      const auto in = random_bytes(static_cast<size_t>(h * w * c), static_cast<uint32_t>(h * 31 + w + c));
      auto at = [&](int64_t y, int64_t x, int64_t k) { return in[static_cast<size_t>((y * w + x) * c + k)]; };
      const auto flipped = run(AugmentOp::flip, in, h, w, c, {});
      const auto shifted = run(AugmentOp::affine, in, h, w, c, {1, 0, 0, 1, 2, -1});
      const double f = 1.7;
      const auto bright = run(AugmentOp::lut, in, h, w, c, [&] {
        std::vector<double> t(256);
        for (int v = 0; v < 256; ++v) t[v] = clamp255(f * v);
        return t;
      }());
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          for (int64_t k = 0; k < c; ++k) {
            const size_t i = static_cast<size_t>((y * w + x) * c + k);
            EXPECT_EQ(int(flipped[i]), int(at(y, w - 1 - x, k)));
            const int64_t sx = x + 2, sy = y - 1;
            EXPECT_EQ(int(shifted[i]), sx < w && sy >= 0 ? int(at(sy, sx, k)) : 0);
            EXPECT_EQ(int(bright[i]), int(clamp255(f * at(y, x, k))));
          }
      if (c == 3) {
        const auto col = run(AugmentOp::color, in, h, w, c, {f});
        for (int64_t p = 0; p < h * w; ++p) {
          const double g = 0.299 * in[p * 3] + 0.587 * in[p * 3 + 1] + 0.114 * in[p * 3 + 2];
          for (int k = 0; k < 3; ++k) EXPECT_EQ(int(col[p * 3 + k]), int(clamp255(g + f * (in[p * 3 + k] - g))));
        }
      }
    }
}

ADVPROP_NATIVE_TEST(augment_equalize_and_autocontrast_leave_flat_channels_alone) {
  const std::vector<uint8_t> flat(4 * 5 * 3, 77);
  EXPECT(run(AugmentOp::equalize, flat, 4, 5, 3, {}) == flat);
  EXPECT(run(AugmentOp::autocontrast, flat, 4, 5, 3, {}) == flat);
  // Two levels stretch to 0 and 255.
  std::vector<uint8_t> two(10);
  for (size_t i = 0; i < two.size(); ++i) two[i] = i % 2 ? 100 : 120;
  const auto ac = run(AugmentOp::autocontrast, two, 2, 5, 1, {});
  for (size_t i = 0; i < two.size(); ++i) EXPECT_EQ(int(ac[i]), i % 2 ? 0 : 255);
}

ADVPROP_NATIVE_TEST(augment_front_end_refuses_bad_sizes_and_params) {
  const std::vector<uint8_t> img(2 * 3 * 3);
  std::vector<uint8_t> out(img.size());
  auto call = [&](AugmentOp op, int64_t h, int64_t w, int64_t c, std::vector<double> p) {
    ops::image_augment(op, img.data(), img.size(), h, w, c, p, out.data());
  };
  EXPECT_THROWS(call(AugmentOp::flip, 2, 3, 2, {}), ErrorCode::Shape);
  EXPECT_THROWS(call(AugmentOp::flip, 0, 3, 3, {}), ErrorCode::Arg);
  EXPECT_THROWS(call(AugmentOp::flip, 1, 2, 9, {}), ErrorCode::Arg);
  EXPECT_THROWS(call(AugmentOp::color, 3, 3, 2, {1}), ErrorCode::Arg);
  EXPECT_THROWS(call(AugmentOp::affine, 2, 3, 3, {1, 0, 0, 1}), ErrorCode::Arg);
  EXPECT_THROWS(call(AugmentOp::affine, 2, 3, 3, {1, 0, 0, 1, INFINITY, 0}), ErrorCode::Arg);
  EXPECT_THROWS(call(AugmentOp::lut, 2, 3, 3, std::vector<double>(256, 0.5)), ErrorCode::Arg);
  EXPECT_THROWS(call(static_cast<AugmentOp>(99), 2, 3, 3, {}), ErrorCode::Arg);
}

}  // namespace
}  // namespace advprop
