// PIL's bilinear resample of a box (see advprop/jpeg.h), the decoder's crop-and-resize. Columns of
// the box first (contiguous rows, which the compiler vectorises), then rows; in float between the
// passes (PIL rounds to bytes there, so a pixel may differ from PIL's by one level). The passes are
// cloned per ISA; without contraction every clone computes the same products and sums in order.
#pragma GCC optimize("fp-contract=off")
#include <algorithm>
#include <cmath>
#include <vector>

#include "advprop/jpeg.h"
#include "simd.h"

namespace advprop {
namespace cpu {
namespace {

struct Taps {
  std::vector<int64_t> first;  // first source index per output
  std::vector<int> count;      // taps per output
  std::vector<float> weights;  // count[i] weights per output, at i · stride
  int stride = 0;
};

double support_of(double scale) { return std::max(scale, 1.0); }

// PIL's precompute_coeffs with the triangle filter: the tap window is truncated toward zero as
// PIL's (int) casts do, clamped to the image, and the weights renormalised.
Taps taps(double b0, double b1, int64_t in, int64_t out) {
  const double scale = (b1 - b0) / static_cast<double>(out), filterscale = support_of(scale);
  const double support = filterscale, ss = 1.0 / filterscale;
  Taps t;
  t.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.weights.assign(static_cast<size_t>(out) * t.stride, 0.0f);
  for (int64_t i = 0; i < out; ++i) {
    const double centre = b0 + (static_cast<double>(i) + 0.5) * scale;
    int64_t lo = static_cast<int64_t>(centre - support + 0.5), hi = static_cast<int64_t>(centre + support + 0.5);
    lo = std::max<int64_t>(lo, 0);
    hi = std::min(hi, in);
    const int n = static_cast<int>(std::min<int64_t>(std::max<int64_t>(hi - lo, 0), t.stride));
    float* w = t.weights.data() + static_cast<size_t>(i) * t.stride;
    double sum = 0.0;
    for (int k = 0; k < n; ++k) sum += std::max(0.0, 1.0 - std::fabs((static_cast<double>(k + lo) - centre + 0.5) * ss));
    for (int k = 0; k < n; ++k) {
      const double v = std::max(0.0, 1.0 - std::fabs((static_cast<double>(k + lo) - centre + 0.5) * ss));
      w[k] = static_cast<float>(sum != 0.0 ? v / sum : 0.0);
    }
    t.first[i] = lo;
    t.count[i] = n;
  }
  return t;
}

inline uint8_t to_byte(float v) {
  // Half up, as JavaScript's Math.round and PIL's final rounding.
  const float r = std::floor(v + 0.5f);
  return static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, r)));
}

ADVPROP_CPU_CLONES void vertical_pass(const uint8_t* src, int64_t stride, int64_t top, const Taps& ty, int64_t out_h, int64_t cols,
                                      float* mid) {
  for (int64_t y = 0; y < out_h; ++y) {
    float* m = mid + y * cols;
    std::fill(m, m + cols, 0.0f);
    const float* w = ty.weights.data() + static_cast<size_t>(y) * ty.stride;
    for (int k = 0; k < ty.count[y]; ++k) {
      const uint8_t* row = src + (ty.first[y] + k - top) * stride;
      const float wk = w[k];
      for (int64_t j = 0; j < cols; ++j) m[j] += wk * static_cast<float>(row[j]);
    }
  }
}

ADVPROP_CPU_CLONES void horizontal_pass3(const float* mid, int64_t cols, int64_t xa, const Taps& tx, int64_t out_h, int64_t out_w,
                                         uint8_t* out) {
  for (int64_t y = 0; y < out_h; ++y) {
    const float* m = mid + y * cols;
    uint8_t* o = out + y * out_w * 3;
    for (int64_t x = 0; x < out_w; ++x) {
      const float* w = tx.weights.data() + static_cast<size_t>(x) * tx.stride;
      const float* p = m + (tx.first[x] - xa) * 3;
      float r = 0, g = 0, b = 0;
      for (int k = 0; k < tx.count[x]; ++k) {
        r += w[k] * p[3 * k];
        g += w[k] * p[3 * k + 1];
        b += w[k] * p[3 * k + 2];
      }
      o[3 * x] = to_byte(r);
      o[3 * x + 1] = to_byte(g);
      o[3 * x + 2] = to_byte(b);
    }
  }
}

void horizontal_pass(const float* mid, int64_t cols, int64_t xa, int64_t c, const Taps& tx, int64_t out_h, int64_t out_w, uint8_t* out) {
  for (int64_t y = 0; y < out_h; ++y)
    for (int64_t x = 0; x < out_w; ++x) {
      const float* w = tx.weights.data() + static_cast<size_t>(x) * tx.stride;
      const float* p = mid + y * cols + (tx.first[x] - xa) * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        float v = 0;
        for (int k = 0; k < tx.count[x]; ++k) v += w[k] * p[k * c + ch];
        out[(y * out_w + x) * c + ch] = to_byte(v);
      }
    }
}

}  // namespace

void resample_span(double b0, double b1, int64_t in, int64_t out, int64_t* first, int64_t* last) {
  const double scale = (b1 - b0) / static_cast<double>(out), support = support_of(scale);
  const double c0 = b0 + 0.5 * scale, c1 = b0 + (static_cast<double>(out) - 0.5) * scale;
  *first = std::max<int64_t>(static_cast<int64_t>(c0 - support + 0.5), 0);
  *last = std::min<int64_t>(static_cast<int64_t>(c1 + support + 0.5), in);
  if (*last <= *first) *last = std::min<int64_t>(*first + 1, in);
}

void resample_bilinear(const uint8_t* src, int64_t src_stride, int64_t region_top, int64_t region_left, int64_t image_h,
                       int64_t image_w, int channels, const ResampleBox& box, int64_t out_h, int64_t out_w, uint8_t* out) {
  const int64_t c = channels;
  if (box.x1 - box.x0 == static_cast<double>(out_w) && box.y1 - box.y0 == static_cast<double>(out_h) && box.x0 == std::floor(box.x0) &&
      box.y0 == std::floor(box.y0)) {
    // Pixel for pixel: every tap's weight is 1 and 0, so the resample is a copy.
    for (int64_t y = 0; y < out_h; ++y)
      std::copy_n(src + (static_cast<int64_t>(box.y0) + y - region_top) * src_stride + (static_cast<int64_t>(box.x0) - region_left) * c,
                  out_w * c, out + y * out_w * c);
    return;
  }
  const Taps ty = taps(box.y0, box.y1, image_h, out_h), tx = taps(box.x0, box.x1, image_w, out_w);
  int64_t xa, xb;
  resample_span(box.x0, box.x1, image_w, out_w, &xa, &xb);
  const int64_t cols = (xb - xa) * c;
  // The vertical pass over the columns the horizontal one reads: out_h rows of `cols` floats.
  std::vector<float> mid(static_cast<size_t>(out_h * cols));
  vertical_pass(src + (xa - region_left) * c, src_stride, region_top, ty, out_h, cols, mid.data());
  if (c == 3)
    horizontal_pass3(mid.data(), cols, xa, tx, out_h, out_w, out);
  else
    horizontal_pass(mid.data(), cols, xa, c, tx, out_h, out_w, out);
}

}  // namespace cpu
}  // namespace advprop
