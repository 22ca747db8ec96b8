// The JPEG decoder's resample (advprop/jpeg.h) against PIL's formula evaluated here in double, two
// values worked by hand from PIL's bilinear filter, and the decoder's argument checks. The decode
// itself needs JPEG files: test/data/jpeg_decode.test.ts makes them with sharp.
#include <cmath>
#include <cstdint>
#include <vector>

#include "advprop/jpeg.h"
#include "harness.h"

namespace advprop {
namespace {

// PIL's precompute_coeffs (triangle filter) in double, evaluated as a direct 2-D sum.
std::vector<double> weights(double b0, double b1, int64_t in, int64_t out, int64_t i, int64_t* lo) {
  const double scale = (b1 - b0) / out, fs = std::max(scale, 1.0), centre = b0 + (i + 0.5) * scale;
  int64_t a = std::max<int64_t>(static_cast<int64_t>(centre - fs + 0.5), 0), b = std::min<int64_t>(static_cast<int64_t>(centre + fs + 0.5), in);
  std::vector<double> w;
  double sum = 0;
  for (int64_t j = a; j < b; ++j) w.push_back(std::max(0.0, 1.0 - std::fabs((j - centre + 0.5) / fs))), sum += w.back();
  for (double& v : w) v /= sum;
  *lo = a;
  return w;
}

std::vector<uint8_t> reference(const std::vector<uint8_t>& img, int64_t h, int64_t w, int c, const cpu::ResampleBox& b, int64_t oh, int64_t ow) {
  std::vector<uint8_t> out(static_cast<size_t>(oh * ow * c));
  for (int64_t y = 0; y < oh; ++y) {
    int64_t ylo;
    const auto wy = weights(b.y0, b.y1, h, oh, y, &ylo);
    for (int64_t x = 0; x < ow; ++x) {
      int64_t xlo;
      const auto wx = weights(b.x0, b.x1, w, ow, x, &xlo);
      for (int k = 0; k < c; ++k) {
        double v = 0;
        for (size_t i = 0; i < wy.size(); ++i)
          for (size_t j = 0; j < wx.size(); ++j) v += wy[i] * wx[j] * img[static_cast<size_t>(((ylo + i) * w + xlo + j) * c + k)];
        out[static_cast<size_t>((y * ow + x) * c + k)] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, std::floor(v + 0.5))));
      }
    }
  }
  return out;
}

std::vector<uint8_t> noise(size_t n, uint32_t seed) {
  std::vector<uint8_t> b(n);
  uint32_t x = seed * 2654435761u + 7u;
  for (auto& v : b) x ^= x << 13, x ^= x >> 17, x ^= x << 5, v = static_cast<uint8_t>(x);
  return b;
}

ADVPROP_NATIVE_TEST(jpeg_resample_follows_pils_bilinear_with_a_box) {
  // Hand-worked from PIL's filter: [0, 100, 200, 255] to 2 pixels takes taps of weight 3/4, 3/4,
  // 1/4 (sum 7/4): 125 / 1.75 = 71.4 and 366.25 / 1.75 = 209.3.
  const std::vector<uint8_t> row{0, 100, 200, 255};
  std::vector<uint8_t> two(2);
  cpu::resample_bilinear(row.data(), 4, 0, 0, 1, 4, 1, {0, 0, 4, 1}, 1, 2, two.data());
  EXPECT_EQ(int(two[0]), 71);
  EXPECT_EQ(int(two[1]), 209);
  // Fractional boxes, shrinking and enlarging, 1 and 3 channels, read from a region of the image.
  struct Case { int64_t h, w; int c; cpu::ResampleBox box; int64_t oh, ow; };
  for (const Case& t : {Case{40, 50, 3, {3.5, 2.25, 47.0, 39.5}, 17, 13}, Case{40, 50, 1, {0, 0, 50, 40}, 40, 50},
                        Case{33, 21, 3, {5.0, 4.0, 9.5, 12.0}, 16, 9}, Case{64, 64, 3, {10.25, 0.5, 63.5, 57.0}, 7, 11}}) {
    const auto img = noise(static_cast<size_t>(t.h * t.w * t.c), static_cast<uint32_t>(t.h * t.w + t.c));
    const auto want = reference(img, t.h, t.w, t.c, t.box, t.oh, t.ow);
    int64_t xa, xb, ya, yb;
    cpu::resample_span(t.box.x0, t.box.x1, t.w, t.ow, &xa, &xb);
    cpu::resample_span(t.box.y0, t.box.y1, t.h, t.oh, &ya, &yb);
    // Only the span's pixels, as the decoder hands them over.
    std::vector<uint8_t> region(static_cast<size_t>((yb - ya) * (xb - xa) * t.c));
    for (int64_t y = ya; y < yb; ++y)
      for (int64_t x = xa; x < xb; ++x)
        for (int k = 0; k < t.c; ++k) region[((y - ya) * (xb - xa) + x - xa) * t.c + k] = img[(y * t.w + x) * t.c + k];
    std::vector<uint8_t> got(want.size());
    cpu::resample_bilinear(region.data(), (xb - xa) * t.c, ya, xa, t.h, t.w, t.c, t.box, t.oh, t.ow, got.data());
    // float against double: a value within float rounding of a half may round the other way.
    int off = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT(std::abs(int(got[i]) - int(want[i])) <= 1);
      off += got[i] != want[i];
    }
    EXPECT_MSG(off * 100 <= static_cast<int>(got.size()), std::to_string(off) + " of " + std::to_string(got.size()) + " differ");
  }
  // A constant image stays constant, whatever the box.
  const std::vector<uint8_t> flat(30 * 30 * 3, 173);
  std::vector<uint8_t> out(8 * 5 * 3);
  cpu::resample_bilinear(flat.data(), 90, 0, 0, 30, 30, 3, {1.3, 2.7, 29.9, 25.1}, 8, 5, out.data());
  for (uint8_t v : out) EXPECT_EQ(int(v), 173);
}

ADVPROP_NATIVE_TEST(jpeg_decode_refuses_bad_boxes_and_sends_non_jpegs_back) {
  std::vector<uint8_t> out(16 * 16 * 3);
  EXPECT_THROWS(decode_jpeg(out.data(), out.size(), JpegCrop{0, 0, 8, 8, 16, 16, 2}, out.data()), ErrorCode::Arg);
  EXPECT_THROWS(decode_jpeg(out.data(), out.size(), JpegCrop{-1, 0, 8, 8, 16, 16, 3}, out.data()), ErrorCode::Arg);
  EXPECT_THROWS(decode_jpeg(out.data(), out.size(), JpegCrop{0, 0, 0, 8, 16, 16, 3}, out.data()), ErrorCode::Arg);
  EXPECT_THROWS(decode_jpeg(out.data(), out.size(), JpegCrop{0, 0, 8, 8, 16, int64_t{1} << 20, 3}, out.data()), ErrorCode::Arg);
  // Not a JPEG (and no end-of-image marker): left to sharp, with the reason.
  std::string why;
  const std::vector<uint8_t> junk(100, 7);
  EXPECT(decode_jpeg(junk.data(), junk.size(), JpegCrop{0, 0, 8, 8, 16, 16, 3}, out.data(), &why) == JpegResult::fallback);
  EXPECT(!why.empty());
  // A JPEG's start and end with nothing valid between: libjpeg's error, sent back, not thrown.
  std::vector<uint8_t> hollow{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x02, 0xff, 0xd9};
  why.clear();
  EXPECT(decode_jpeg(hollow.data(), hollow.size(), JpegCrop{0, 0, 8, 8, 16, 16, 3}, out.data(), &why) == JpegResult::fallback);
  EXPECT(!why.empty());
  EXPECT_EQ(jpeg_scale_denom(JpegCrop{0, 0, 448, 449, 224, 224, 3}), 2);
  EXPECT_EQ(jpeg_scale_denom(JpegCrop{0, 0, 447, 900, 224, 224, 3}), 1);
  EXPECT_EQ(jpeg_scale_denom(JpegCrop{0, 0, 4000, 4000, 224, 224, 3}), 8);
}

}  // namespace
}  // namespace advprop
