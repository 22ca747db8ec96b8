// Shared by the depthwise kernel tests (depthwise_half_test.cc, depthwise_tiled_test.cc): a case
// (sizes, kernel, stride, dilation, "same" or "valid" padding as TensorFlow computes it), its
// Conv2dParams, the f64 reference of the three passes with the sums of |terms| that bound the f32
// error, and the random operands in a dtype with their f32 widening.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/conv.h"
#include "elements.h"
#include "half_compare.h"

namespace advprop {
namespace test {
namespace depthwise_ref {

struct Case {
  int64_t n, h, w, c, k, s, d;
  bool same;
};

inline Conv2dParams make_params(const Case& t) {
  Conv2dParams p;
  p.n = t.n, p.h = t.h, p.w = t.w;
  p.c_in = p.c_out = p.groups = t.c;
  p.kh = p.kw = t.k;
  p.stride_h = p.stride_w = t.s;
  p.dil_h = p.dil_w = t.d;
  const int64_t eff = (t.k - 1) * t.d + 1;
  auto out_of = [&](int64_t in) { return t.same ? (in + t.s - 1) / t.s : (in >= eff ? (in - eff) / t.s + 1 : 0); };
  auto pad_of = [&](int64_t in, int64_t out) {
    const int64_t total = (out - 1) * t.s + eff - in;
    return t.same && total > 0 ? total / 2 : int64_t(0);
  };
  p.out_h = out_of(t.h), p.out_w = out_of(t.w);
  p.pad_top = pad_of(t.h, p.out_h), p.pad_left = pad_of(t.w, p.out_w);
  return p;
}

inline std::string case_str(const Case& t, DType dt) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return std::string(dtype_name(dt)) + " n=" + s(t.n) + " " + s(t.h) + "x" + s(t.w) + "x" + s(t.c) + " k=" + s(t.k) +
         " s=" + s(t.s) + " d=" + s(t.d) + (t.same ? " same" : " valid");
}

// f64 sums over the in-range taps, and the sums of |terms| for the tolerances.
struct Ref {
  std::vector<double> y, y_abs, dx, dx_abs, dw, dw_abs;
};

// Calls f(n, oh, ow, ih, iw, ky, kx, c) for every in-range term of the depthwise convolution.
template <typename F>
void for_terms(const Conv2dParams& p, F&& f) {
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t ky = 0; ky < p.kh; ++ky)
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
            const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
            if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
            for (int64_t c = 0; c < p.c_in; ++c) f(n, oh, ow, ih, iw, ky, kx, c);
          }
}

inline Ref reference(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy) {
  Ref r;
  const size_t ny = static_cast<size_t>(p.n * p.out_h * p.out_w * p.c_in);
  r.y.assign(ny, 0), r.y_abs.assign(ny, 0);
  r.dx.assign(x.numel(), 0), r.dx_abs.assign(x.numel(), 0);
  r.dw.assign(w.numel(), 0), r.dw_abs.assign(w.numel(), 0);
  for_terms(p, [&](int64_t n, int64_t oh, int64_t ow, int64_t ih, int64_t iw, int64_t ky, int64_t kx, int64_t c) {
    const int64_t a = ((n * p.out_h + oh) * p.out_w + ow) * p.c_in + c;
    const int64_t i = ((n * p.h + ih) * p.w + iw) * p.c_in + c, k = (c * p.kh + ky) * p.kw + kx;
    const double xv = get(x, i), wv = get(w, k), g = get(dy, a);
    r.y[a] += xv * wv, r.y_abs[a] += std::fabs(xv * wv);
    r.dx[i] += g * wv, r.dx_abs[i] += std::fabs(g * wv);
    r.dw[k] += g * xv, r.dw_abs[k] += std::fabs(g * xv);
  });
  for (size_t a = 0; a < ny; ++a) {
    const double bv = get(b, static_cast<int64_t>(a) % p.c_in);
    r.y[a] += bv, r.y_abs[a] += std::fabs(bv);
  }
  return r;
}


struct Data {
  Tensor x, w, b, dy;
};
inline Data make_data(const Conv2dParams& p, DType dt, uint64_t seed) {
  using test::half_compare::random_as;
  return {random_as({p.n, p.h, p.w, p.c_in}, dt, seed), random_as({p.c_in, p.kh, p.kw, 1}, dt, seed + 1),
          random_as({p.c_in}, dt, seed + 2), random_as({p.n, p.out_h, p.out_w, p.c_in}, dt, seed + 3)};
}
inline Data widened(const Data& d) {
  using test::half_compare::rounded_to;
  return {rounded_to(d.x, DType::f32), rounded_to(d.w, DType::f32), rounded_to(d.b, DType::f32),
          rounded_to(d.dy, DType::f32)};
}

}  // namespace depthwise_ref
}  // namespace test
}  // namespace advprop
