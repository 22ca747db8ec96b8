// Depthwise convolution kernels (advprop/conv.h) on cpu and cuda-sim against a naive f64
// reference written here: k 3 and 5, stride 1 and 2, dilation 1 and 2, odd spatial sizes, channel
// counts around the CUDA tile width, TF "same" and "valid" padding; the adjoint identities
// <y, dy> == <x, dx> == <w, dw>; determinism; and the argument checks.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/conv.h"
#include "advprop/random.h"
#include "depthwise_ref.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace cpu {
bool set_depthwise_isa(int level);  // test hook in native/cpu/depthwise.cc
}  // namespace cpu
namespace {

const Device kCpu{};
using test::get;
using test::set;
using test::depthwise_ref::for_terms;

struct Case {
  int64_t n, h, w, c, k, s, d;
  bool same;
};

Conv2dParams make_params(const Case& t) {
  Conv2dParams p;
  p.n = t.n;
  p.h = t.h;
  p.w = t.w;
  p.c_in = p.c_out = p.groups = t.c;
  p.kh = p.kw = t.k;
  p.stride_h = p.stride_w = t.s;
  p.dil_h = p.dil_w = t.d;
  const int64_t eff = (t.k - 1) * t.d + 1;
  auto out_of = [&](int64_t in) {
    if (t.same) return (in + t.s - 1) / t.s;
    return in >= eff ? (in - eff) / t.s + 1 : int64_t(0);
  };
  auto pad_of = [&](int64_t in, int64_t out) {
    if (!t.same) return int64_t(0);
    const int64_t total = (out - 1) * t.s + eff - in;
    return total > 0 ? total / 2 : int64_t(0);
  };
  p.out_h = out_of(t.h);
  p.out_w = out_of(t.w);
  p.pad_top = pad_of(t.h, p.out_h);
  p.pad_left = pad_of(t.w, p.out_w);
  return p;
}

std::string case_str(const Case& t, DType dt) {
  return std::string(dtype_name(dt)) + " n=" + std::to_string(t.n) + " h=" + std::to_string(t.h) +
         " w=" + std::to_string(t.w) + " c=" + std::to_string(t.c) + " k=" + std::to_string(t.k) +
         " s=" + std::to_string(t.s) + " d=" + std::to_string(t.d) + (t.same ? " same" : " valid");
}

// ---- naive f64 references (also return the sum of |terms| per element, for tolerances) ----------

int64_t xi(const Conv2dParams& p, int64_t n, int64_t h, int64_t w, int64_t c) { return ((n * p.h + h) * p.w + w) * p.c_in + c; }
int64_t yi(const Conv2dParams& p, int64_t n, int64_t h, int64_t w, int64_t c) {
  return ((n * p.out_h + h) * p.out_w + w) * p.c_in + c;
}
int64_t wi(const Conv2dParams& p, int64_t c, int64_t ky, int64_t kx) { return (c * p.kh + ky) * p.kw + kx; }

struct Ref {
  std::vector<double> y, y_abs, dx, dx_abs, dw, dw_abs;
};

Ref reference(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy) {
  Ref r;
  const size_t ny = static_cast<size_t>(p.n * p.out_h * p.out_w * p.c_in), nx = static_cast<size_t>(x.numel()),
               nw = static_cast<size_t>(w.numel());
  r.y.assign(ny, 0);
  r.y_abs.assign(ny, 0);
  r.dx.assign(nx, 0);
  r.dx_abs.assign(nx, 0);
  r.dw.assign(nw, 0);
  r.dw_abs.assign(nw, 0);
  for_terms(p, [&](int64_t n, int64_t oh, int64_t ow, int64_t ih, int64_t iw, int64_t ky, int64_t kx, int64_t c) {
    const int64_t a = yi(p, n, oh, ow, c), i = xi(p, n, ih, iw, c), k = wi(p, c, ky, kx);
    const double xv = get(x, i), wv = get(w, k), g = get(dy, a);
    r.y[a] += xv * wv;
    r.y_abs[a] += std::fabs(xv * wv);
    r.dx[i] += g * wv;
    r.dx_abs[i] += std::fabs(g * wv);
    r.dw[k] += g * xv;
    r.dw_abs[k] += std::fabs(g * xv);
  });
  for (int64_t a = 0; a < static_cast<int64_t>(ny); ++a) {
    const double bv = get(b, a % p.c_in);
    r.y[a] += bv;
    r.y_abs[a] += std::fabs(bv);
  }
  return r;
}

// |got - want| <= tol * (abs-sum of the terms + tiny) for every element.
void expect_matches(const std::string& what, const Tensor& got, const std::vector<double>& want,
                    const std::vector<double>& absum, double tol) {
  REQUIRE(got.numel() == static_cast<int64_t>(want.size()));
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = get(got, i);
    const double allowed = tol * (absum[i] + 1e-300);
    if (!(std::fabs(g - want[i]) <= allowed) && bad++ < 4)
      first += " [" + std::to_string(i) + "] got " + test::describe_double(g) + " want " + test::describe_double(want[i]) + ";";
  }
  if (bad)
    test::record_failure(__FILE__, __LINE__,
                         what + ": " + std::to_string(bad) + " of " + std::to_string(got.numel()) + " elements off:" + first);
}

Tensor random_cpu(const Shape& shape, DType dt, uint64_t seed) {
  Tensor t = Tensor::empty(shape, dt, kCpu);
  if (t.numel() > 0) cpu::uniform(t, seed, 0, -1.0, 1.0);
  return t;
}

// The kernels of one backend, with host tensors in and out.
struct Backend {
  const char* name;
  Tensor (*upload)(const Tensor&);
  Tensor (*download)(const Tensor&);
  Device device;
  void (*forward)(const Conv2dParams&, const Tensor&, const Tensor&, const Tensor*, Tensor&);
  void (*backward_input)(const Conv2dParams&, const Tensor&, const Tensor&, Tensor&);
  void (*backward_weight)(const Conv2dParams&, const Tensor&, const Tensor&, Tensor&);
};

Tensor identity(const Tensor& t) { return t; }

const Backend kCpuBackend{"cpu", identity, identity, kCpu, cpu::depthwise_forward, cpu::depthwise_backward_input,
                          cpu::depthwise_backward_weight};

#if ADVPROP_WITH_SIM
const Device kSim{DeviceType::cuda_sim, 0};
using test::to_cpu;
using test::to_sim;
const Backend kSimBackend{"cuda-sim", to_sim, to_cpu, kSim, cudasim::depthwise_forward,
                          cudasim::depthwise_backward_input, cudasim::depthwise_backward_weight};
#endif

struct Outputs {
  Tensor y, y_nobias, dx, dw;
};

Outputs run_backend(const Backend& be, const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& b,
                    const Tensor& dy) {
  const DType dt = x.dtype();
  const Tensor dx_ = be.upload(x), dw_ = be.upload(w), db_ = be.upload(b), ddy = be.upload(dy);
  Tensor y = Tensor::empty({p.n, p.out_h, p.out_w, p.c_in}, dt, be.device);
  Tensor y0 = Tensor::empty({p.n, p.out_h, p.out_w, p.c_in}, dt, be.device);
  Tensor gx = Tensor::empty({p.n, p.h, p.w, p.c_in}, dt, be.device);
  Tensor gw = Tensor::empty({p.c_in, p.kh, p.kw, 1}, dt, be.device);
  be.forward(p, dx_, dw_, &db_, y);
  be.forward(p, dx_, dw_, nullptr, y0);
  be.backward_input(p, ddy, dw_, gx);
  be.backward_weight(p, dx_, ddy, gw);
  return Outputs{be.download(y), be.download(y0), be.download(gx), be.download(gw)};
}

double dot(const Tensor& a, const Tensor& b, double* absum) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    s += get(a, i) * get(b, i);
    *absum += std::fabs(get(a, i) * get(b, i));
  }
  return s;
}

void check_case(const Backend& be, const Case& t, DType dt, uint64_t seed) {
  const Conv2dParams p = make_params(t);
  const std::string what = std::string(be.name) + " " + case_str(t, dt);
  const Tensor x = random_cpu({p.n, p.h, p.w, p.c_in}, dt, seed);
  const Tensor w = random_cpu({p.c_in, p.kh, p.kw, 1}, dt, seed + 1);
  const Tensor b = random_cpu({p.c_in}, dt, seed + 2);
  const Tensor dy = random_cpu({p.n, p.out_h, p.out_w, p.c_in}, dt, seed + 3);
  const Ref r = reference(p, x, w, b, dy);
  const Outputs o = run_backend(be, p, x, w, b, dy);
  const double tol = dt == DType::f32 ? 4e-6 : 1e-14;
  expect_matches(what + " forward", o.y, r.y, r.y_abs, tol);
  expect_matches(what + " backward_input", o.dx, r.dx, r.dx_abs, tol);
  expect_matches(what + " backward_weight", o.dw, r.dw, r.dw_abs, tol);
  // Adjoint identities, in f64 only (f32 rounding would swamp them): <y, dy> = <x, dx> = <w, dw>
  // where y has no bias.
  if (dt == DType::f64) {
    double a1 = 0, a2 = 0, a3 = 0;
    const double ydy = dot(o.y_nobias, dy, &a1), xdx = dot(x, o.dx, &a2), wdw = dot(w, o.dw, &a3);
    const double scale = a1 + a2 + a3 + 1e-300;
    EXPECT_MSG(std::fabs(ydy - xdx) <= 1e-12 * scale, what + " <y,dy> " + test::describe_double(ydy) + " vs <x,dx> " +
                                                          test::describe_double(xdx));
    EXPECT_MSG(std::fabs(ydy - wdw) <= 1e-12 * scale, what + " <y,dy> " + test::describe_double(ydy) + " vs <w,dw> " +
                                                          test::describe_double(wdw));
  }
}

const int64_t kSpatial[][2] = {{1, 1}, {7, 9}, {9, 7}};
const int64_t kChannels[] = {1, 3, 17, 33};

// Every combination (every = 1), or every combination whose index lands on the stride `every`,
// which still covers every value of every parameter.
void run_grid(const Backend& be, int every) {
  uint64_t seed = 100;
  int index = 0;
  for (DType dt : {DType::f32, DType::f64})
    for (const auto& hw : kSpatial)
      for (int64_t c : kChannels)
        for (int64_t k : {3, 5})
          for (int64_t s : {1, 2})
            for (int64_t d : {1, 2})
              for (bool same : {true, false}) {
                seed += 4;
                if (index++ % every != 0) continue;
                check_case(be, Case{2, hw[0], hw[1], c, k, s, d, same}, dt, seed);
              }
}

ADVPROP_NATIVE_TEST(depthwise_cpu_matches_reference) {
  run_grid(kCpuBackend, 1);
  // Larger cases: asymmetric stride/dilation and padding; weight reductions of several chunks
  // (the count follows the work: 4 here, 7 for the 1x1 image with 25 x 1152 taps, 62 for the
  // 56x56 one), combined in chunk order.
  check_case(kCpuBackend, Case{3, 33, 31, 40, 3, 1, 1, true}, DType::f32, 7);
  check_case(kCpuBackend, Case{64, 1, 1, 1152, 5, 1, 1, true}, DType::f32, 14);
  check_case(kCpuBackend, Case{4, 56, 56, 144, 3, 1, 1, true}, DType::f32, 15);
  check_case(kCpuBackend, Case{2, 20, 17, 8, 5, 2, 1, true}, DType::f64, 8);
  check_case(kCpuBackend, Case{0, 5, 5, 3, 3, 1, 1, true}, DType::f32, 9);  // empty batch: dw = 0
  // Rows wide enough for the 8-pixel interior blocks, channel counts with and without a tail
  // past the vector width, strides 1 and 2 (the input gradient's residue classes), dilation.
  check_case(kCpuBackend, Case{2, 12, 37, 48, 5, 2, 1, true}, DType::f32, 10);
  check_case(kCpuBackend, Case{2, 11, 29, 20, 3, 2, 2, false}, DType::f64, 11);
  check_case(kCpuBackend, Case{1, 9, 40, 32, 3, 1, 1, true}, DType::f64, 12);
  check_case(kCpuBackend, Case{1, 8, 27, 19, 5, 1, 2, true}, DType::f32, 13);
}

// The baseline, AVX2 and AVX-512 kernels (those this CPU has) give the same bits, for the 3x3 and
// 5x5 register-blocked weight gradients and the generic one (7x7), long and short (< 32) rows.
ADVPROP_NATIVE_TEST(depthwise_cpu_same_bits_on_every_isa) {
  const Case cases[] = {{2, 10, 30, 40, 3, 2, 1, true}, {2, 9, 21, 20, 5, 1, 1, true}, {1, 7, 9, 17, 7, 1, 1, true},
                        {2, 7, 9, 20, 5, 1, 1, true}, {1, 14, 14, 36, 3, 1, 1, true}, {1, 6, 31, 16, 5, 1, 1, true}};
  for (DType dt : {DType::f32, DType::f64})
    for (const Case& cs : cases) {
      const Conv2dParams p = make_params(cs);
      const Tensor x = random_cpu({p.n, p.h, p.w, p.c_in}, dt, 41);
      const Tensor w = random_cpu({p.c_in, p.kh, p.kw, 1}, dt, 42);
      const Tensor b = random_cpu({p.c_in}, dt, 43);
      const Tensor dy = random_cpu({p.n, p.out_h, p.out_w, p.c_in}, dt, 44);
      std::vector<unsigned char> want;
      for (int level = 1; level <= 3; ++level) {
        if (!cpu::set_depthwise_isa(level)) continue;
        const Outputs o = run_backend(kCpuBackend, p, x, w, b, dy);
        std::vector<unsigned char> got;
        for (const Tensor* t : {&o.y, &o.dx, &o.dw}) {
          const unsigned char* bytes = static_cast<const unsigned char*>(t->data());
          got.insert(got.end(), bytes, bytes + t->nbytes());
        }
        if (want.empty()) want = got;
        else EXPECT_MSG(got == want, std::string(dtype_name(dt)) + " " + case_str(cs, dt) + ": ISA level " +
                                         std::to_string(level) + " differs");
      }
      cpu::set_depthwise_isa(0);
    }
}

ADVPROP_NATIVE_TEST(depthwise_cpu_asymmetric_params) {
  Conv2dParams p = make_params(Case{2, 9, 11, 5, 3, 1, 1, true});
  p.kw = 5;
  p.stride_w = 2;
  p.dil_h = 2;
  p.pad_top = 1;
  p.pad_left = 3;
  p.out_h = 7;
  p.out_w = 6;
  const Tensor x = random_cpu({p.n, p.h, p.w, p.c_in}, DType::f64, 1);
  const Tensor w = random_cpu({p.c_in, p.kh, p.kw, 1}, DType::f64, 2);
  const Tensor b = random_cpu({p.c_in}, DType::f64, 3);
  const Tensor dy = random_cpu({p.n, p.out_h, p.out_w, p.c_in}, DType::f64, 4);
  const Ref r = reference(p, x, w, b, dy);
  const Outputs o = run_backend(kCpuBackend, p, x, w, b, dy);
  expect_matches("cpu asym forward", o.y, r.y, r.y_abs, 1e-14);
  expect_matches("cpu asym backward_input", o.dx, r.dx, r.dx_abs, 1e-14);
  expect_matches("cpu asym backward_weight", o.dw, r.dw, r.dw_abs, 1e-14);
#if ADVPROP_WITH_SIM
  const Outputs s = run_backend(kSimBackend, p, x, w, b, dy);
  expect_matches("sim asym forward", s.y, r.y, r.y_abs, 1e-14);
  expect_matches("sim asym backward_input", s.dx, r.dx, r.dx_abs, 1e-14);
  expect_matches("sim asym backward_weight", s.dw, r.dw, r.dw_abs, 1e-14);
#endif
}

ADVPROP_NATIVE_TEST(depthwise_cpu_deterministic) {
  const Conv2dParams p = make_params(Case{4, 17, 19, 24, 3, 1, 1, true});
  const Tensor x = random_cpu({p.n, p.h, p.w, p.c_in}, DType::f32, 11);
  const Tensor dy = random_cpu({p.n, p.out_h, p.out_w, p.c_in}, DType::f32, 12);
  Tensor a = Tensor::empty({p.c_in, p.kh, p.kw, 1}, DType::f32, kCpu), b = Tensor::empty(a.shape(), DType::f32, kCpu);
  cpu::depthwise_backward_weight(p, x, dy, a);
  cpu::depthwise_backward_weight(p, x, dy, b);
  EXPECT(std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

void check_errors(const Backend& be, const Device* other) {
  const Conv2dParams p = make_params(Case{1, 5, 5, 4, 3, 1, 1, true});
  auto mk = [&](const Shape& s, DType dt, const Device& dev) { return Tensor::empty(s, dt, dev); };
  const Device d = be.device;
  const Tensor x = mk({1, 5, 5, 4}, DType::f32, d), w = mk({4, 3, 3, 1}, DType::f32, d);
  Tensor y = mk({1, 5, 5, 4}, DType::f32, d);
  // The depthwise kernels are backend-internal: conv2d builds their arguments, the kernels assert
  // the validator, which the checks below call with the bad arguments.
  Conv2dParams g = p;
  g.groups = 2;
  EXPECT_THROWS(be.forward(g, x, w, nullptr, y), ErrorCode::Internal);
  // groups != c
  EXPECT_THROWS(check_depthwise_forward("depthwise_forward", g, d.type, x, w, nullptr, y), ErrorCode::Shape);
  Conv2dParams co = p;
  co.c_out = 8;
  EXPECT_THROWS(check_depthwise_backward_input("depthwise_backward_input", co, d.type, y, w, y), ErrorCode::Shape);
  // dtype mismatch and unsupported dtype
  const Tensor w64 = mk({4, 3, 3, 1}, DType::f64, d);
  EXPECT_THROWS(check_depthwise_forward("depthwise_forward", p, d.type, x, w64, nullptr, y), ErrorCode::DType);
  Tensor yi32 = mk({1, 5, 5, 4}, DType::i32, d);
  const Tensor xi32 = mk({1, 5, 5, 4}, DType::i32, d), wi32 = mk({4, 3, 3, 1}, DType::i32, d);
  EXPECT_THROWS(check_depthwise_forward("depthwise_forward", p, d.type, xi32, wi32, nullptr, yi32), ErrorCode::DType);
  // shapes, with the shape in the message
  const Tensor wbad = mk({4, 3, 3}, DType::f32, d);
  bool named = false;
  try {
    check_depthwise_forward("depthwise_forward", p, d.type, x, wbad, nullptr, y);
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(ErrorCode::Shape));
    named = std::string(e.what()).find("[4, 3, 3]") != std::string::npos;
  }
  EXPECT(named);
  Tensor ybad = mk({1, 4, 5, 4}, DType::f32, d);
  EXPECT_THROWS(check_depthwise_forward("depthwise_forward", p, d.type, x, w, nullptr, ybad), ErrorCode::Shape);
  const Tensor bbad = mk({5}, DType::f32, d);
  EXPECT_THROWS(check_depthwise_forward("depthwise_forward", p, d.type, x, w, &bbad, y), ErrorCode::Shape);
  Tensor dwbad = mk({4, 3, 1, 1}, DType::f32, d);
  EXPECT_THROWS(check_depthwise_backward_weight("depthwise_backward_weight", p, d.type, x, y, dwbad), ErrorCode::Shape);
  // devices
  if (!other) return;
  const Tensor xo = mk({1, 5, 5, 4}, DType::f32, *other);
  EXPECT_THROWS(check_depthwise_forward("depthwise_forward", p, d.type, xo, w, nullptr, y), ErrorCode::Device);
  Tensor dwo = mk({4, 3, 3, 1}, DType::f32, *other);
  EXPECT_THROWS(check_depthwise_backward_weight("depthwise_backward_weight", p, d.type, x, y, dwo), ErrorCode::Device);
  Tensor dxo = mk({1, 5, 5, 4}, DType::f32, *other);
  EXPECT_THROWS(check_depthwise_backward_input("depthwise_backward_input", p, d.type, y, w, dxo), ErrorCode::Device);
}

#if ADVPROP_WITH_SIM
ADVPROP_NATIVE_TEST(depthwise_cudasim_matches_reference) {
  run_grid(kSimBackend, 1);
  // Several chunks in the weight reduction and more than one channel tile.
  check_case(kSimBackend, Case{2, 23, 21, 40, 3, 1, 1, true}, DType::f32, 21);
  check_case(kSimBackend, Case{0, 5, 5, 3, 3, 1, 1, true}, DType::f64, 22);  // empty batch: dw = 0
}

ADVPROP_NATIVE_TEST(depthwise_cudasim_matches_cpu_weight_sums_deterministic) {
  const Conv2dParams p = make_params(Case{2, 23, 21, 40, 3, 2, 1, true});
  const Tensor x = random_cpu({p.n, p.h, p.w, p.c_in}, DType::f32, 31);
  const Tensor dy = random_cpu({p.n, p.out_h, p.out_w, p.c_in}, DType::f32, 32);
  const Tensor sx = to_sim(x), sdy = to_sim(dy);
  Tensor a = Tensor::empty({p.c_in, p.kh, p.kw, 1}, DType::f32, kSim), b = Tensor::empty(a.shape(), DType::f32, kSim);
  cudasim::depthwise_backward_weight(p, sx, sdy, a);
  cudasim::depthwise_backward_weight(p, sx, sdy, b);
  const Tensor ha = to_cpu(a), hb = to_cpu(b);
  EXPECT(std::memcmp(ha.data(), hb.data(), ha.nbytes()) == 0);
}

ADVPROP_NATIVE_TEST(depthwise_errors) {
  check_errors(kCpuBackend, &kSim);
  check_errors(kSimBackend, &kCpu);
}
#else
ADVPROP_NATIVE_TEST(depthwise_errors) { check_errors(kCpuBackend, nullptr); }
#endif

}  // namespace
}  // namespace advprop
