// im2col / col2im (conv.h) on cpu and cuda-sim against naive references written here: every
// combination of kernel 1/3/5, stride 1/2, dilation 1/2, TF "same" and "valid" padding, odd and
// tiny images, 1/3/6/17 channels in 1/2/3 groups, f32 and f64. Inputs are small multiples of 1/8,
// so every sum is exact and results must match bit for bit. Also: the adjoint identity
// <im2col(x), C> == <x, col2im(C)>, col2im leaving other groups' channels alone, a dense/grouped
// convolution as im2col + gemm against a naive one, and the argument checks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/conv.h"
#include "advprop/gemm.h"
#include "advprop/tensor.h"
#include "elements.h"
#include "harness.h"
#if ADVPROP_WITH_SIM
#include "advprop/backends.h"
#endif

namespace advprop {
namespace {

using test::get;
using test::set;

const Device kCpu{};

struct Case {
  Conv2dParams p;
  std::string name;
};

int64_t same_out(int64_t in, int64_t s) { return (in + s - 1) / s; }
int64_t same_pad(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d) {
  return std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in) / 2;
}
int64_t valid_out(int64_t in, int64_t k, int64_t s, int64_t d) {
  const int64_t eff = (k - 1) * d + 1;
  return in < eff ? 0 : (in - eff) / s + 1;
}

Conv2dParams make_params(int64_t n, int64_t h, int64_t w, int64_t c_in, int64_t c_out, int64_t k, int64_t s,
                         int64_t d, int64_t groups, bool same) {
  Conv2dParams p;
  p.n = n, p.h = h, p.w = w, p.c_in = c_in, p.c_out = c_out;
  p.kh = p.kw = k;
  p.stride_h = p.stride_w = s;
  p.dil_h = p.dil_w = d;
  p.groups = groups;
  if (same) {
    p.out_h = same_out(h, s), p.out_w = same_out(w, s);
    p.pad_top = same_pad(h, p.out_h, k, s, d), p.pad_left = same_pad(w, p.out_w, k, s, d);
  } else {
    p.out_h = valid_out(h, k, s, d), p.out_w = valid_out(w, k, s, d);
  }
  return p;
}

std::string describe_params(const Conv2dParams& p, bool same) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return std::string(same ? "same" : "valid") + " n=" + s(p.n) + " " + s(p.h) + "x" + s(p.w) + "x" + s(p.c_in) +
         " k=" + s(p.kh) + " s=" + s(p.stride_h) + " d=" + s(p.dil_h) + " g=" + s(p.groups) + " out=" + s(p.out_h) +
         "x" + s(p.out_w);
}

// The full grid of cases; `every` > 1 keeps every `every`-th one (for the slow simulator); with
// `every` prime to the 30 size/channel combinations the subset still visits all of them.
std::vector<Case> cases(int every) {
  const int64_t hw[][2] = {{1, 1}, {5, 7}, {9, 5}, {7, 9}, {1, 5}};
  const int64_t cgs[][2] = {{1, 1}, {3, 1}, {3, 3}, {6, 2}, {6, 3}, {17, 1}};
  std::vector<Case> out;
  int idx = 0;
  for (int64_t k : {1, 3, 5})
    for (int64_t s : {1, 2})
      for (int64_t d : {1, 2})
        for (bool same : {true, false})
          for (const auto& sz : hw)
            for (const auto& cg : cgs) {
              if (idx++ % every != 0) continue;
              const Conv2dParams p = make_params(2, sz[0], sz[1], cg[0], 2 * cg[1], k, s, d, cg[1], same);
              out.push_back({p, describe_params(p, same)});
            }
  return out;
}

// Deterministic values in multiples of 1/8 within [-4, 4]: sums of a few dozen stay exact in f32.
void fill_eighths(Tensor& t, uint64_t seed) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    z = z * 6364136223846793005ull + 1442695040888963407ull;
    set(t, i, static_cast<double>(static_cast<int64_t>((z >> 33) % 65) - 32) / 8.0);
  }
}
void fill_real(Tensor& t, uint64_t seed) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + 7;
  for (int64_t i = 0; i < t.numel(); ++i) {
    z = z * 6364136223846793005ull + 1442695040888963407ull;
    set(t, i, static_cast<double>(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
}

int64_t group_cols(const Conv2dParams& p) { return p.kh * p.kw * (p.c_in / p.groups); }

// Naive im2col straight from the formula in conv.h.
Tensor ref_im2col(const Conv2dParams& p, const Tensor& x, int64_t g) {
  const int64_t cg = p.c_in / p.groups;
  Tensor cols = Tensor::empty({p.n * p.out_h * p.out_w, group_cols(p)}, x.dtype(), kCpu);
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t ky = 0; ky < p.kh; ++ky)
          for (int64_t kx = 0; kx < p.kw; ++kx)
            for (int64_t c = 0; c < cg; ++c) {
              const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
              const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
              const int64_t r = (n * p.out_h + oh) * p.out_w + ow, col = (ky * p.kw + kx) * cg + c;
              double v = 0;
              if (ih >= 0 && ih < p.h && iw >= 0 && iw < p.w) v = get(x, ((n * p.h + ih) * p.w + iw) * p.c_in + g * cg + c);
              set(cols, r * group_cols(p) + col, v);
            }
  return cols;
}

// Naive col2im: scatter-add every cols entry onto `dx`'s group channels (zeroed first), in f64.
void ref_col2im(const Conv2dParams& p, const Tensor& cols, int64_t g, Tensor& dx) {
  const int64_t cg = p.c_in / p.groups;
  std::vector<double> acc(static_cast<size_t>(dx.numel()), 0.0);
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t ky = 0; ky < p.kh; ++ky)
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
            const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
            if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
            for (int64_t c = 0; c < cg; ++c)
              acc[((n * p.h + ih) * p.w + iw) * p.c_in + g * cg + c] +=
                  get(cols, ((n * p.out_h + oh) * p.out_w + ow) * group_cols(p) + (ky * p.kw + kx) * cg + c);
          }
  for (int64_t px = 0; px < p.n * p.h * p.w; ++px)
    for (int64_t c = 0; c < cg; ++c) set(dx, px * p.c_in + g * cg + c, acc[px * p.c_in + g * cg + c]);
}

// Naive convolution y[n, oh, ow, co] (f64 accumulation), weights [c_out, kh, kw, Cg].
Tensor ref_conv(const Conv2dParams& p, const Tensor& x, const Tensor& wt) {
  const int64_t cg = p.c_in / p.groups, cog = p.c_out / p.groups;
  Tensor y = Tensor::empty({p.n, p.out_h, p.out_w, p.c_out}, x.dtype(), kCpu);
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t co = 0; co < p.c_out; ++co) {
          const int64_t g = co / cog;
          double s = 0;
          for (int64_t ky = 0; ky < p.kh; ++ky)
            for (int64_t kx = 0; kx < p.kw; ++kx) {
              const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
              const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
              if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
              for (int64_t c = 0; c < cg; ++c)
                s += get(x, ((n * p.h + ih) * p.w + iw) * p.c_in + g * cg + c) *
                     get(wt, ((co * p.kh + ky) * p.kw + kx) * cg + c);
            }
          set(y, ((n * p.out_h + oh) * p.out_w + ow) * p.c_out + co, s);
        }
  return y;
}

// The backend under test: its device and how data moves to and from it.
struct Backend {
  const char* name;
  Device dev;
  void (*im2col)(const Conv2dParams&, const Tensor&, int64_t, Tensor&);
  void (*col2im)(const Conv2dParams&, const Tensor&, int64_t, Tensor&);
  void (*gemm)(const GemmArgs&, const Tensor&, const Tensor&, Tensor&);
  Tensor (*up)(const Tensor&);
  Tensor (*down)(const Tensor&);
};

// A fresh copy, so that a result never aliases the reference it is compared with.
Tensor copy_cpu(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape(), t.dtype(), kCpu);
  if (t.nbytes()) std::memcpy(c.data(), t.data(), t.nbytes());
  return c;
}

Backend cpu_backend() { return {"cpu", kCpu, &cpu::im2col, &cpu::col2im, &cpu::gemm, &copy_cpu, &copy_cpu}; }

#if ADVPROP_WITH_SIM
const Device kSim{DeviceType::cuda_sim, 0};
using test::to_cpu;
using test::to_sim;
Backend sim_backend() {
  return {"cuda-sim", kSim, &cudasim::im2col, &cudasim::col2im, &cudasim::gemm, &to_sim, &to_cpu};
}
#endif

void expect_identical(const std::string& what, const Tensor& got, const Tensor& want) {
  REQUIRE(got.numel() == want.numel() && got.dtype() == want.dtype());
  if (want.nbytes() == 0 || std::memcmp(got.data(), want.data(), want.nbytes()) == 0) return;
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < want.numel(); ++i)
    if (!(get(got, i) == get(want, i)) && bad++ < 4)
      first += " [" + std::to_string(i) + "] got " + test::describe_double(get(got, i)) + " want " +
               test::describe_double(get(want, i)) + ";";
  test::record_failure(__FILE__, __LINE__,
                       what + ": " + std::to_string(bad) + " of " + std::to_string(want.numel()) + " differ:" + first);
}

// im2col and col2im of every group against the references, bit for bit; col2im must leave the
// other groups' channels (pre-filled with a sentinel) alone and overwrite its own.
void check_im2col_col2im(const Backend& be, int every) {
  const double kSentinel = 1234.5;
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& cs : cases(every)) {
      const Conv2dParams& p = cs.p;
      const std::string ctx = std::string(be.name) + " " + dtype_name(dt) + " " + cs.name;
      Tensor x = Tensor::empty({p.n, p.h, p.w, p.c_in}, dt, kCpu);
      fill_eighths(x, 11);
      const Tensor xd = be.up(x);
      Tensor dx_ref = Tensor::empty(x.shape(), dt, kCpu);
      for (int64_t i = 0; i < dx_ref.numel(); ++i) set(dx_ref, i, kSentinel);
      Tensor dx = be.up(dx_ref);
      for (int64_t g = 0; g < p.groups; ++g) {
        Tensor cols = Tensor::empty({p.n * p.out_h * p.out_w, group_cols(p)}, dt, be.dev);
        be.im2col(p, xd, g, cols);
        expect_identical("im2col " + ctx + " group " + std::to_string(g), be.down(cols), ref_im2col(p, x, g));

        Tensor c = Tensor::empty(cols.shape(), dt, kCpu);
        fill_eighths(c, 100 + g);
        be.col2im(p, be.up(c), g, dx);
        ref_col2im(p, c, g, dx_ref);
        // After group g, channels of later groups still hold the sentinel on both sides.
        expect_identical("col2im " + ctx + " after group " + std::to_string(g), be.down(dx), dx_ref);
      }
    }
}

ADVPROP_NATIVE_TEST(im2col_col2im_cpu_match_reference) { check_im2col_col2im(cpu_backend(), 1); }

// <im2col(x), C> == <x, col2im(C)> in f64 with real-valued data, per group.
void check_adjoint(const Backend& be, int every) {
  for (const Case& cs : cases(every)) {
    const Conv2dParams& p = cs.p;
    Tensor x = Tensor::empty({p.n, p.h, p.w, p.c_in}, DType::f64, kCpu);
    fill_real(x, 3);
    for (int64_t g = 0; g < p.groups; ++g) {
      Tensor c = Tensor::empty({p.n * p.out_h * p.out_w, group_cols(p)}, DType::f64, kCpu);
      fill_real(c, 50 + g);
      Tensor cols = Tensor::empty(c.shape(), DType::f64, be.dev);
      be.im2col(p, be.up(x), g, cols);
      Tensor dx = be.up(x);  // its other groups' contents must not matter
      be.col2im(p, be.up(c), g, dx);
      const Tensor a = be.down(cols), b = be.down(dx);
      double lhs = 0, rhs = 0, scale = 0;
      for (int64_t i = 0; i < c.numel(); ++i) {
        lhs += get(a, i) * get(c, i);
        scale += std::fabs(get(a, i) * get(c, i));
      }
      const int64_t cg = p.c_in / p.groups;
      for (int64_t px = 0; px < p.n * p.h * p.w; ++px)
        for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) rhs += get(x, px * p.c_in + ch) * get(b, px * p.c_in + ch);
      EXPECT_MSG(std::fabs(lhs - rhs) <= 1e-12 * (scale + 1e-300),
                 std::string(be.name) + " " + cs.name + " group " + std::to_string(g) + ": " +
                     test::describe_double(lhs) + " vs " + test::describe_double(rhs));
    }
  }
}

ADVPROP_NATIVE_TEST(im2col_col2im_cpu_adjoint) { check_adjoint(cpu_backend(), 1); }

// y = conv(x, W) as, per group, cols_g · W_g^T written into y's group columns (ldc = c_out).
void check_conv_gemm(const Backend& be, int every) {
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& cs : cases(every)) {
      const Conv2dParams& p = cs.p;
      const int64_t cg = p.c_in / p.groups, cog = p.c_out / p.groups, m = p.n * p.out_h * p.out_w;
      Tensor x = Tensor::empty({p.n, p.h, p.w, p.c_in}, dt, kCpu);
      Tensor wt = Tensor::empty({p.c_out, p.kh, p.kw, cg}, dt, kCpu);
      fill_eighths(x, 5);
      fill_eighths(wt, 6);
      const Tensor xd = be.up(x);
      const Tensor wd = be.up(wt).reshape({p.c_out * group_cols(p)});
      Tensor y = Tensor::empty({p.n, p.out_h, p.out_w, p.c_out}, dt, be.dev);
      if (m == 0) continue;
      const Tensor yflat = y.reshape({y.numel()});
      for (int64_t g = 0; g < p.groups; ++g) {
        Tensor cols = Tensor::empty({m, group_cols(p)}, dt, be.dev);
        be.im2col(p, xd, g, cols);
        GemmArgs ga;
        ga.trans_b = true;
        ga.m = m, ga.n = cog, ga.k = group_cols(p);
        ga.lda = group_cols(p), ga.ldb = group_cols(p), ga.ldc = p.c_out;
        const Tensor wg = wd.slice0(g * cog * group_cols(p), cog * group_cols(p));
        Tensor yg = yflat.slice0(g * cog, y.numel() - g * cog);
        be.gemm(ga, cols, wg, yg);
      }
      expect_identical(std::string("conv via im2col+gemm ") + be.name + " " + dtype_name(dt) + " " + cs.name,
                       be.down(y), ref_conv(p, x, wt));
    }
}

ADVPROP_NATIVE_TEST(im2col_gemm_conv_cpu_matches_naive) { check_conv_gemm(cpu_backend(), 1); }

void check_errors(const Backend& be) {
  const Conv2dParams p = make_params(2, 5, 7, 6, 6, 3, 2, 1, 2, true);
  Tensor x = Tensor::empty({2, 5, 7, 6}, DType::f32, be.dev);
  Tensor cols = Tensor::empty({2 * 3 * 4, 27}, DType::f32, be.dev);
  be.im2col(p, x, 1, cols);  // the good call
  be.col2im(p, cols, 0, x);
  // im2col and col2im are backend-internal: conv2d builds their arguments, the kernels assert the
  // validator, which the checks below call with the bad arguments.
  EXPECT_THROWS(be.im2col(p, x, 2, cols), ErrorCode::Internal);
  Tensor cols64 = Tensor::empty({2 * 3 * 4, 27}, DType::f64, be.dev);
  EXPECT_THROWS(check_im2col_args("im2col", p, x, cols64, 0, be.dev.type), ErrorCode::DType);
  EXPECT_THROWS(check_im2col_args("col2im", p, x, cols64, 0, be.dev.type), ErrorCode::DType);
  Tensor xi = Tensor::empty({2, 5, 7, 6}, DType::i32, be.dev), ci = Tensor::empty({24, 27}, DType::i32, be.dev);
  EXPECT_THROWS(check_im2col_args("im2col", p, xi, ci, 0, be.dev.type), ErrorCode::DType);
  EXPECT_THROWS(check_im2col_args("col2im", p, xi, ci, 0, be.dev.type), ErrorCode::DType);
  EXPECT_THROWS(check_im2col_args("im2col", p, x, cols, 2, be.dev.type), ErrorCode::Shape);
  EXPECT_THROWS(check_im2col_args("im2col", p, x, cols, -1, be.dev.type), ErrorCode::Shape);
  EXPECT_THROWS(check_im2col_args("col2im", p, x, cols, 2, be.dev.type), ErrorCode::Shape);
  Tensor bad_cols = Tensor::empty({24, 28}, DType::f32, be.dev);
  EXPECT_THROWS(check_im2col_args("im2col", p, x, bad_cols, 0, be.dev.type), ErrorCode::Shape);
  EXPECT_THROWS(check_im2col_args("col2im", p, x, bad_cols, 0, be.dev.type), ErrorCode::Shape);
  Tensor bad_x = Tensor::empty({2, 5, 6, 6}, DType::f32, be.dev);
  EXPECT_THROWS(check_im2col_args("im2col", p, bad_x, cols, 0, be.dev.type), ErrorCode::Shape);
  EXPECT_THROWS(check_im2col_args("col2im", p, bad_x, cols, 0, be.dev.type), ErrorCode::Shape);
  try {
    check_im2col_args("im2col", p, x, bad_cols, 0, be.dev.type);
  } catch (const Error& e) {
    EXPECT_MSG(std::string(e.what()).find("[24, 28]") != std::string::npos, e.what());
    EXPECT_MSG(std::string(e.what()).find("[24, 27]") != std::string::npos, e.what());
  }
  Conv2dParams q = p;
  q.groups = 4;  // 6 % 4 != 0
  EXPECT_THROWS(check_im2col_args("im2col", q, x, cols, 0, be.dev.type), ErrorCode::Shape);
  q = p;
  q.stride_h = 0;
  EXPECT_THROWS(check_im2col_args("col2im", q, x, cols, 0, be.dev.type), ErrorCode::Shape);
  if (be.dev != kCpu) {
    Tensor xc = Tensor::empty({2, 5, 7, 6}, DType::f32, kCpu);
    EXPECT_THROWS(check_im2col_args("im2col", p, xc, cols, 0, be.dev.type), ErrorCode::Device);
    EXPECT_THROWS(check_im2col_args("col2im", p, xc, cols, 0, be.dev.type), ErrorCode::Device);
  }
#if ADVPROP_WITH_SIM
  if (be.dev == kCpu) {
    Tensor xs = Tensor::empty({2, 5, 7, 6}, DType::f32, kSim);
    EXPECT_THROWS(check_im2col_args("im2col", p, xs, cols, 0, be.dev.type), ErrorCode::Device);
    EXPECT_THROWS(check_im2col_args("col2im", p, xs, cols, 0, be.dev.type), ErrorCode::Device);
  }
#endif
}

ADVPROP_NATIVE_TEST(im2col_col2im_cpu_errors) { check_errors(cpu_backend()); }

#if ADVPROP_WITH_SIM
// The simulator runs every kernel thread as a fiber under ASan: the full grid for the kernels
// themselves, a spread-out subset for the (gemm-dominated) convolution.
ADVPROP_NATIVE_TEST(im2col_col2im_cudasim_match_reference) { check_im2col_col2im(sim_backend(), 1); }
ADVPROP_NATIVE_TEST(im2col_col2im_cudasim_adjoint) { check_adjoint(sim_backend(), 1); }
ADVPROP_NATIVE_TEST(im2col_gemm_conv_cudasim_matches_naive) { check_conv_gemm(sim_backend(), 7); }
ADVPROP_NATIVE_TEST(im2col_col2im_cudasim_errors) { check_errors(sim_backend()); }
#endif

}  // namespace
}  // namespace advprop
