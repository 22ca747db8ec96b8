// The input pipeline's per-image kernels (advprop/augment.h), scalar loops the compiler
// vectorises where it can at the default target. Every float step is the JavaScript reference's
// double operation in its order; fp-contract=off keeps a·b + c two roundings, as V8 computes it.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "advprop/augment.h"

namespace advprop {
namespace cpu {
namespace {

// Math.round on [0, 256): the nearest integer, halves up. The truncating cast is floor there, and
// v − floor(v) is exact; std::floor would be a libm call per byte at the default x86-64 target.
inline int round_unit_range(double v) {
  const int r = static_cast<int>(v);
  return v - r >= 0.5 ? r + 1 : r;
}

// Math.round of v, for a v in [−0.5, limit − 0.5) (callers test that first, NaN failing it).
inline int64_t round_in_range(double v) {
  int64_t r = static_cast<int64_t>(v);
  r -= static_cast<double>(r) > v;  // truncation to floor below 0
  return v - static_cast<double>(r) >= 0.5 ? r + 1 : r;
}

inline double js_round(double v) {
  const double r = std::floor(v);
  return v - r >= 0.5 ? r + 1 : r;
}

// The reference's clamp255: clamp, then round.
inline uint8_t clamp255(double v) { return v < 0 ? 0 : v > 255 ? 255 : static_cast<uint8_t>(round_unit_range(v)); }

inline uint8_t blend(double other, double factor, uint8_t v) { return clamp255(other + factor * (v - other)); }

template <int C>
void flip_rows(const HostImage& im, uint8_t* out) {
  const int64_t w = im.width, row = w * C;
  for (int64_t y = 0; y < im.height; ++y) {
    const uint8_t* s = im.data + y * row;
    uint8_t* o = out + y * row;
    for (int64_t x = 0; x < w; ++x)
      for (int k = 0; k < C; ++k) o[x * C + k] = s[(w - 1 - x) * C + k];
  }
}

void flip(const HostImage& im, uint8_t* out) {
  switch (im.channels) {
    case 1: return flip_rows<1>(im, out);
    case 2: return flip_rows<2>(im, out);
    case 3: return flip_rows<3>(im, out);
    default: return flip_rows<4>(im, out);
  }
}

void lut(const HostImage& im, const double* table, uint8_t* out) {
  uint8_t t[256];
  for (int v = 0; v < 256; ++v) t[v] = static_cast<uint8_t>(table[v]);
  const int64_t n = im.height * im.width * im.channels;
  for (int64_t i = 0; i < n; ++i) out[i] = t[im.data[i]];
}

void affine(const HostImage& im, const double* p, uint8_t* out) {
  const double a = p[0], b = p[1], c = p[2], d = p[3], tx = p[4], ty = p[5];
  const int64_t h = im.height, w = im.width, ch = im.channels;
  const double cx = static_cast<double>(w - 1) / 2, cy = static_cast<double>(h - 1) / 2;
  const double wlim = static_cast<double>(w) - 0.5, hlim = static_cast<double>(h) - 0.5;
  std::memset(out, 0, static_cast<size_t>(h * w * ch));
  std::vector<double> ax(static_cast<size_t>(w)), cxs(static_cast<size_t>(w));
  for (int64_t x = 0; x < w; ++x) {
    ax[x] = a * (static_cast<double>(x) - cx);
    cxs[x] = c * (static_cast<double>(x) - cx);
  }
  for (int64_t y = 0; y < h; ++y) {
    const double by = b * (static_cast<double>(y) - cy), dy = d * (static_cast<double>(y) - cy);
    for (int64_t x = 0; x < w; ++x) {
      // Math.round(v) lands in [0, n) exactly when v is in [−0.5, n − 0.5); a NaN (from
      // infinite products) is outside too, and the reference leaves such a pixel 0 as well.
      const double vx = ax[x] + by + cx + tx, vy = cxs[x] + dy + cy + ty;
      if (!(vx >= -0.5 && vx < wlim && vy >= -0.5 && vy < hlim)) continue;
      const uint8_t* s = im.data + (round_in_range(vy) * w + round_in_range(vx)) * ch;
      uint8_t* o = out + (y * w + x) * ch;
      for (int64_t k = 0; k < ch; ++k) o[k] = s[k];
    }
  }
}

inline double grey_at(const uint8_t* px) { return 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]; }

void color(const HostImage& im, double factor, uint8_t* out) {
  const int64_t n = im.height * im.width, c = im.channels;
  for (int64_t p = 0; p < n; ++p) {
    const uint8_t* s = im.data + p * c;
    const double g = c == 1 ? s[0] : grey_at(s);
    for (int64_t k = 0; k < c; ++k) out[p * c + k] = blend(g, factor, s[k]);
  }
}

void contrast(const HostImage& im, double factor, uint8_t* out) {
  const int64_t n = im.height * im.width, c = im.channels;
  double sum = 0;  // in pixel order from 0, as Array.reduce
  for (int64_t p = 0; p < n; ++p) sum += c == 1 ? im.data[p] : grey_at(im.data + p * c);
  const double mean = js_round(sum / static_cast<double>(n));
  double table[256];
  for (int v = 0; v < 256; ++v) table[v] = blend(mean, factor, static_cast<uint8_t>(v));
  lut(im, table, out);
}

void sharpness(const HostImage& im, double factor, uint8_t* out) {
  const int64_t h = im.height, c = im.channels, row = im.width * c, n = h * row;
  const uint8_t* src = im.data;
  // The smoothed value per byte, borders the original; blended into out as each is made.
  for (int64_t i = 0; i < n; ++i) out[i] = src[i];
  for (int64_t y = 1; y < h - 1; ++y)
    for (int64_t i = y * row + c, end = (y + 1) * row - c; i < end; ++i) {
      const int64_t up = i - row, down = i + row;
      const int s = 5 * src[i] + src[i - c] + src[i + c] + src[up] + src[up - c] + src[up + c] + src[down] +
                    src[down - c] + src[down + c];
      out[i] = clamp255(static_cast<double>(s) / 13);
    }
  for (int64_t i = 0; i < n; ++i) out[i] = blend(out[i], factor, src[i]);
}

// PIL ImageOps.equalize's table; false when the channel stays as it is.
bool equalize_table(const int64_t* hist, double* table) {
  int last = 255;
  while (last > 0 && hist[last] == 0) --last;
  int64_t total = 0;
  for (int i = 0; i < 256; ++i) total += hist[i];
  const int64_t step = (total - hist[last]) / 255;
  if (step == 0) return false;
  int64_t acc = step / 2;
  for (int i = 0; i < 256; ++i) {
    table[i] = static_cast<double>(std::min<int64_t>(255, acc / step));
    acc += hist[i];
  }
  return true;
}

bool autocontrast_table(const int64_t* hist, double* table) {
  int lo = 0, hi = 255;
  while (lo < 255 && hist[lo] == 0) ++lo;
  while (hi > 0 && hist[hi] == 0) --hi;
  if (hi <= lo) return false;
  for (int i = 0; i < 256; ++i) table[i] = clamp255(static_cast<double>((i - lo) * 255) / (hi - lo));
  return true;
}

void per_channel(const HostImage& im, bool (*make)(const int64_t*, double*), uint8_t* out) {
  const int64_t c = im.channels, n = im.height * im.width * c;
  std::memcpy(out, im.data, static_cast<size_t>(n));
  for (int64_t k = 0; k < c; ++k) {
    int64_t hist[256] = {};
    for (int64_t i = k; i < n; i += c) ++hist[im.data[i]];
    double table[256];
    if (!make(hist, table)) continue;
    uint8_t t[256];
    for (int v = 0; v < 256; ++v) t[v] = static_cast<uint8_t>(table[v]);
    for (int64_t i = k; i < n; i += c) out[i] = t[im.data[i]];
  }
}

}  // namespace

void augment(AugmentOp op, const HostImage& img, const double* params, uint8_t* out) {
  switch (op) {
    case AugmentOp::flip: return flip(img, out);
    case AugmentOp::lut: return lut(img, params, out);
    case AugmentOp::affine: return affine(img, params, out);
    case AugmentOp::color: return color(img, params[0], out);
    case AugmentOp::contrast: return contrast(img, params[0], out);
    case AugmentOp::sharpness: return sharpness(img, params[0], out);
    case AugmentOp::equalize: return per_channel(img, equalize_table, out);
    case AugmentOp::autocontrast: return per_channel(img, autocontrast_table, out);
  }
}

void bytes_to_unit(const uint8_t* src, size_t n, float* dst) {
  static const auto table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = static_cast<float>(v / 255.0);
    return t;
  }();
  for (size_t i = 0; i < n; ++i) dst[i] = table[src[i]];
}

}  // namespace cpu
}  // namespace advprop
