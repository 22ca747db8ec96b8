// The GEMM-shaped convolutions and linear layers in bf16 and f16 (native/ops/conv.cc, linear.cc):
// - im2col copies 16-bit values exactly and col2im equals the f32 col2im of the widened columns
//   rounded once, on cpu and cuda-sim, bit for bit;
// - conv2d (1x1, dense, strided, grouped) and linear, forward and both gradients, against an f64
//   reference from the rounded inputs: the GEMM's f32 accumulation (2e-5 of the sum of |terms|)
//   and one 16-bit rounding (the input gradient of an im2col convolution two: the GEMM rounds its
//   column matrix, col2im its sums), on cpu, and cuda-sim against the cpu within one 16-bit ulp.
// Those need a GEMM that multiplies 16-bit operands; where this build's refuses them (ERR_DTYPE,
// asked of the GEMM itself, not assumed) they print why they skip, and the front-ends are checked
// to answer ERR_DTYPE naming the op.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "advprop/conv.h"
#include "advprop/ops.h"
#include "elements.h"
#include "half_compare.h"
#include "harness.h"

namespace advprop {
namespace {

namespace hc = test::half_compare;

const Device kCpu{};
using test::get;
using hc::rounded_to;

// Why dev's GEMM refuses dt ("" when it multiplies it): a 1x1 linear layer, which answers
// ERR_DTYPE for a dtype the GEMM lacks (native/ops/gemm_call.h).
std::string gemm_refusal(DType dt, const Device& dev) {
  const Tensor one = ops::to_device(hc::random_as({1, 1}, dt, 1), dev);
  try {
    ops::linear(one, one, nullptr);
    return "";
  } catch (const Error& e) {
    if (e.code() != ErrorCode::DType) throw;
    return e.what();
  }
}

// Whether dev's GEMM multiplies dt; prints why `test` skips it when not.
bool gemm_takes(DType dt, const Device& dev, const char* test) {
  const std::string why = gemm_refusal(dt, dev);
  if (!why.empty())
    std::printf("     skip %s, %s on %s: the GEMM refuses it (%s)\n", test, dtype_name(dt), device_str(dev).c_str(),
                why.c_str());
  return why.empty();
}

struct Case {
  int64_t n, h, w, cin, cout, k, s, groups;
  bool same;
};

struct Geom {
  int64_t oh, ow, pt, pl;
};
Geom geom(const Case& t) {
  auto axis = [&](int64_t in, int64_t* out, int64_t* pad) {
    if (t.same) {
      *out = (in + t.s - 1) / t.s;
      const int64_t total = (*out - 1) * t.s + t.k - in;
      *pad = total > 0 ? total / 2 : 0;
    } else {
      *out = (in - t.k) / t.s + 1, *pad = 0;
    }
  };
  Geom g;
  axis(t.h, &g.oh, &g.pt);
  axis(t.w, &g.ow, &g.pl);
  return g;
}

ops::Conv2dOptions options(const Case& t) {
  ops::Conv2dOptions o;
  o.padding = t.same ? ConvPadding::same : ConvPadding::valid;
  o.stride_h = o.stride_w = t.s;
  o.groups = t.groups;
  return o;
}

std::string case_str(const Case& t, DType dt) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return std::string(dtype_name(dt)) + " n=" + s(t.n) + " " + s(t.h) + "x" + s(t.w) + " " + s(t.cin) + "->" +
         s(t.cout) + " k=" + s(t.k) + " s=" + s(t.s) + " g=" + s(t.groups) + (t.same ? " same" : " valid");
}

struct Ref {
  std::vector<double> y, y_abs, dx, dx_abs, dw, dw_abs;
};

// y = conv(x, w), dx and dw for dy, in f64 with the sums of |terms|. w is OHWI [cout, k, k, cg].
Ref reference(const Case& t, const Tensor& x, const Tensor& w, const Tensor& dy) {
  const Geom g = geom(t);
  const int64_t cg = t.cin / t.groups, og = t.cout / t.groups;
  Ref r;
  r.y.assign(dy.numel(), 0), r.y_abs.assign(dy.numel(), 0);
  r.dx.assign(x.numel(), 0), r.dx_abs.assign(x.numel(), 0);
  r.dw.assign(w.numel(), 0), r.dw_abs.assign(w.numel(), 0);
  for (int64_t n = 0; n < t.n; ++n)
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow)
        for (int64_t co = 0; co < t.cout; ++co)
          for (int64_t ky = 0; ky < t.k; ++ky)
            for (int64_t kx = 0; kx < t.k; ++kx) {
              const int64_t ih = oh * t.s - g.pt + ky, iw = ow * t.s - g.pl + kx;
              if (ih < 0 || ih >= t.h || iw < 0 || iw >= t.w) continue;
              for (int64_t c = 0; c < cg; ++c) {
                const int64_t a = ((n * g.oh + oh) * g.ow + ow) * t.cout + co;
                const int64_t i = ((n * t.h + ih) * t.w + iw) * t.cin + (co / og) * cg + c;
                const int64_t k = ((co * t.k + ky) * t.k + kx) * cg + c;
                const double xv = get(x, i), wv = get(w, k), gv = get(dy, a);
                r.y[a] += xv * wv, r.y_abs[a] += std::fabs(xv * wv);
                r.dx[i] += gv * wv, r.dx_abs[i] += std::fabs(gv * wv);
                r.dw[k] += gv * xv, r.dw_abs[k] += std::fabs(gv * xv);
              }
            }
  return r;
}

struct Outputs {
  Tensor y, dx, dw;
};

Outputs run_conv(const Case& t, const Device& dev, const Tensor& x, const Tensor& w, const Tensor& dy) {
  const ops::Conv2dOptions o = options(t);
  const Tensor xd = ops::to_device(x, dev), wd = ops::to_device(w, dev), dyd = ops::to_device(dy, dev);
  return {ops::to_device(ops::conv2d(xd, wd, nullptr, o), kCpu),
          ops::to_device(ops::conv2d_backward_input(dyd, wd, x.shape(), o), kCpu),
          ops::to_device(ops::conv2d_backward_weight(dyd, xd, w.shape(), o), kCpu)};
}

constexpr double kGemmErr = 2e-5;  // of the sum of |terms|: the GEMM's f32 accumulation

void check_conv(const Case& t, DType dt, const Device& dev, uint64_t seed) {
  const Geom g = geom(t);
  const Tensor x = hc::random_as({t.n, t.h, t.w, t.cin}, dt, seed);
  const Tensor w = hc::random_as({t.cout, t.k, t.k, t.cin / t.groups}, dt, seed + 1);
  const Tensor dy = hc::random_as({t.n, g.oh, g.ow, t.cout}, dt, seed + 2);
  const Ref r = reference(t, x, w, dy);
  const Outputs o = run_conv(t, dev, x, w, dy);
  const std::string what = std::string("conv2d ") + device_str(dev) + " " + case_str(t, dt);
  const bool pointwise = t.k == 1 && t.s == 1 && t.groups == 1;
  // The column matrix of the input gradient is rounded before col2im sums it.
  const double dcols = pointwise ? 0.0 : hc::unit_roundoff(dt);
  const std::vector<double> ey = hc::scaled(r.y_abs, kGemmErr), edx = hc::scaled(r.dx_abs, kGemmErr + dcols),
                            edw = hc::scaled(r.dw_abs, kGemmErr);
  REQUIRE(o.y.dtype() == dt && o.dx.dtype() == dt && o.dw.dtype() == dt);
  if (dev == kCpu) {
    hc::expect_within(what + " forward", o.y, r.y, ey);
    hc::expect_within(what + " backward_input", o.dx, r.dx, edx);
    hc::expect_within(what + " backward_weight", o.dw, r.dw, edw);
    return;
  }
  const Outputs c = run_conv(t, kCpu, x, w, dy);
  hc::expect_backends_agree(what + " forward vs cpu", o.y, c.y, ey);
  hc::expect_backends_agree(what + " backward_input vs cpu", o.dx, c.dx, hc::scaled(edx, 2));
  hc::expect_backends_agree(what + " backward_weight vs cpu", o.dw, c.dw, edw);
}

const Case kCases[] = {
    {2, 5, 7, 16, 24, 1, 1, 1, true},    // 1x1: one GEMM
    {2, 7, 9, 8, 12, 3, 1, 1, true},     // dense 3x3
    {2, 9, 7, 8, 6, 3, 2, 2, true},      // strided, two groups
    {2, 11, 10, 3, 8, 5, 2, 1, false},   // a stem-like 5x5, valid
    {2, 6, 6, 16, 8, 1, 2, 1, true},     // 1x1 with stride 2: im2col
};

void run_cases(const Device& dev, const char* test, bool big) {
  uint64_t seed = 900;
  for (DType dt : {DType::bf16, DType::f16}) {
    if (!gemm_takes(dt, dev, test)) continue;
    for (const Case& t : kCases) check_conv(t, dt, dev, seed += 3);
    // Columns of 2 x 1.2 MB: the cpu would take them one image at a time for f32; a 16-bit
    // weight gradient takes the batch in one GEMM so that it rounds once.
    if (big) check_conv(Case{3, 32, 32, 64, 8, 3, 1, 1, true}, dt, dev, seed += 3);
  }
}

// linear y = x w^T, dx = dy w, dw = dy^T x against f64, one rounding each.
void check_linear(const Device& dev, const char* test) {
  for (DType dt : {DType::bf16, DType::f16}) {
    if (!gemm_takes(dt, dev, test)) continue;
    const int64_t m = 5, n = 7, k = 19;
    const Tensor x = hc::random_as({m, k}, dt, 31), w = hc::random_as({n, k}, dt, 32), dy = hc::random_as({m, n}, dt, 33);
    const Tensor xd = ops::to_device(x, dev), wd = ops::to_device(w, dev), dyd = ops::to_device(dy, dev);
    const Tensor y = ops::to_device(ops::linear(xd, wd, nullptr), kCpu);
    const Tensor dx = ops::to_device(ops::linear_backward_input(dyd, wd), kCpu);
    const Tensor dw = ops::to_device(ops::linear_backward_weight(dyd, xd), kCpu);
    std::vector<double> ry(m * n, 0), ay(m * n, 0), rdx(m * k, 0), adx(m * k, 0), rdw(n * k, 0), adw(n * k, 0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t q = 0; q < k; ++q) {
          const double xv = get(x, i * k + q), wv = get(w, j * k + q), g = get(dy, i * n + j);
          ry[i * n + j] += xv * wv, ay[i * n + j] += std::fabs(xv * wv);
          rdx[i * k + q] += g * wv, adx[i * k + q] += std::fabs(g * wv);
          rdw[j * k + q] += g * xv, adw[j * k + q] += std::fabs(g * xv);
        }
    const std::string what = std::string("linear ") + device_str(dev) + " " + dtype_name(dt);
    REQUIRE(y.dtype() == dt && dx.dtype() == dt && dw.dtype() == dt);
    hc::expect_within(what + " forward", y, ry, hc::scaled(ay, kGemmErr));
    hc::expect_within(what + " backward_input", dx, rdx, hc::scaled(adx, kGemmErr));
    hc::expect_within(what + " backward_weight", dw, rdw, hc::scaled(adw, kGemmErr));
  }
}

// Without a 16-bit GEMM the front-ends refuse 16-bit operands with ERR_DTYPE naming the op.
void check_refusals(const Device& dev) {
  for (DType dt : {DType::bf16, DType::f16}) {
    if (gemm_refusal(dt, dev).empty()) {
      std::printf("     skip the refusal checks, %s on %s: the GEMM takes it\n", dtype_name(dt), device_str(dev).c_str());
      continue;
    }
    const Tensor x = ops::to_device(hc::random_as({1, 3, 3, 4}, dt, 1), dev);
    const Tensor w = ops::to_device(hc::random_as({2, 1, 1, 4}, dt, 2), dev);
    for (const char* op : {"conv2d", "linear"}) {
      bool named = false;
      try {
        if (std::string(op) == "conv2d") ops::conv2d(x, w, nullptr, ops::Conv2dOptions{});
        else ops::linear(x.reshape({9, 4}), w.reshape({2, 4}), nullptr);
      } catch (const Error& e) {
        EXPECT_MSG(e.code() == ErrorCode::DType, e.what());
        named = std::string(e.what()).rfind(std::string(op) + ":", 0) == 0;
      }
      EXPECT_MSG(named, std::string(op) + " " + dtype_name(dt) + " on " + device_str(dev));
    }
  }
}

// im2col and col2im of one group: im2col's copy is exact; col2im is the f32 col2im of the
// widened columns rounded once (the same order on every backend, so the same bits).
void check_im2col(const Device& dev) {
  const Case cases[] = {{2, 7, 9, 6, 6, 3, 1, 2, true}, {2, 9, 7, 3, 3, 5, 2, 1, false}, {1, 6, 6, 17, 17, 3, 2, 1, true}};
  for (DType dt : {DType::bf16, DType::f16})
    for (const Case& t : cases) {
      const Geom g = geom(t);
      Conv2dParams p;
      p.n = t.n, p.h = t.h, p.w = t.w, p.c_in = t.cin, p.c_out = t.cout, p.kh = p.kw = t.k;
      p.stride_h = p.stride_w = t.s, p.groups = t.groups;
      p.out_h = g.oh, p.out_w = g.ow, p.pad_top = g.pt, p.pad_left = g.pl;
      const int64_t rows = p.n * p.out_h * p.out_w, cols_n = t.k * t.k * (t.cin / t.groups);
      const std::string what = std::string(device_str(dev)) + " " + case_str(t, dt);
      const Tensor x = hc::random_as({p.n, p.h, p.w, p.c_in}, dt, 41), c = hc::random_as({rows, cols_n}, dt, 42);
      const Tensor x32 = rounded_to(x, DType::f32), c32 = rounded_to(c, DType::f32);
      for (int64_t grp = 0; grp < p.groups; ++grp) {
        Tensor cols = Tensor::empty({rows, cols_n}, dt, dev), cols32 = Tensor::empty({rows, cols_n}, DType::f32, kCpu);
        Tensor dx = ops::to_device(x, dev), dx32 = rounded_to(x, DType::f32);  // other groups' channels stay
        if (dev == kCpu) {
          cpu::im2col(p, x, grp, cols), cpu::col2im(p, c, grp, dx);
        } else {
#if ADVPROP_WITH_SIM
          cudasim::im2col(p, ops::to_device(x, dev), grp, cols), cudasim::col2im(p, ops::to_device(c, dev), grp, dx);
#endif
        }
        cpu::im2col(p, x32, grp, cols32), cpu::col2im(p, c32, grp, dx32);
        hc::expect_same_bits("im2col " + what, ops::to_device(cols, kCpu), rounded_to(cols32, dt));
        hc::expect_same_bits("col2im " + what, ops::to_device(dx, kCpu), rounded_to(dx32, dt));
      }
    }
}

}  // namespace

ADVPROP_NATIVE_TEST(conv_half_im2col_col2im_cpu) { check_im2col(kCpu); }
ADVPROP_NATIVE_TEST(conv_half_cpu_matches_f64_reference) { run_cases(kCpu, "conv_half_cpu_matches_f64_reference", true); }
ADVPROP_NATIVE_TEST(conv_half_linear_cpu_matches_f64_reference) { check_linear(kCpu, "conv_half_linear_cpu"); }
ADVPROP_NATIVE_TEST(conv_half_cpu_refusal_without_gemm) { check_refusals(kCpu); }

#if ADVPROP_WITH_SIM
const Device kSim{DeviceType::cuda_sim, 0};
ADVPROP_NATIVE_TEST(conv_half_im2col_col2im_cudasim) { check_im2col(kSim); }
ADVPROP_NATIVE_TEST(conv_half_cudasim_matches_cpu) { run_cases(kSim, "conv_half_cudasim_matches_cpu", false); }
ADVPROP_NATIVE_TEST(conv_half_linear_cudasim_matches_f64_reference) { check_linear(kSim, "conv_half_linear_cudasim"); }
ADVPROP_NATIVE_TEST(conv_half_cudasim_refusal_without_gemm) { check_refusals(kSim); }
#endif

}  // namespace advprop
