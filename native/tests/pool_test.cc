// Pool, channel-scale (with its scale-add) and softmax cross-entropy kernels (advprop/pool.h,
// advprop/loss.h) on cpu and cuda-sim against f64 references written here, at shapes that take
// every path: several spatial chunks on both backends (C = 3 with H*W = 9000), C below/above the
// CUDA channel tile and C % 4 == 0 (the float4 path); K above the CUDA row block. Under ASan this
// also checks that the simulated kernels stay inside their buffers. Plus the argument checks.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/loss.h"
#include "advprop/pool.h"
#include "advprop/random.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};
using test::get;
using test::set;

Tensor random_cpu(const Shape& shape, DType dt, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::empty(shape, dt, kCpu);
  if (t.numel() > 0) cpu::uniform(t, seed, 0, lo, hi);
  return t;
}

// max_i |got_i - want_i| <= tol * max(max_i |want_i|, floor).
void expect_close(const std::string& what, const Tensor& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.numel() == static_cast<int64_t>(want.size()));
  double scale = 1e-30, worst = 0;
  int64_t at = -1;
  for (double v : want) scale = std::fmax(scale, std::fabs(v));
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double d = std::fabs(get(got, i) - want[static_cast<size_t>(i)]);
    if (!(d <= worst)) worst = d, at = i;
  }
  EXPECT_MSG(worst <= tol * scale, what + ": worst element [" + std::to_string(at) + "] off by " +
                                       test::describe_double(worst) + " (scale " + test::describe_double(scale) + ")");
}

struct Backend {
  const char* name;
  Device device;
  Tensor (*up)(const Tensor&);
  Tensor (*down)(const Tensor&);
  void (*pool_fwd)(const Tensor&, Tensor&);
  void (*pool_bwd)(const Tensor&, Tensor&);
  void (*scale_fwd)(const Tensor&, const Tensor&, Tensor&);
  void (*scale_bwd)(const Tensor&, const Tensor&, const Tensor&, Tensor*, Tensor*);
  void (*scale_add)(const Tensor&, const Tensor&, const Tensor&, Tensor&);
  void (*xent_fwd)(const Tensor&, const Tensor&, double, Tensor&, Tensor&);
  void (*xent_bwd)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, double, Tensor&);
  void (*argmax)(const Tensor&, Tensor&);
};

Tensor identity(const Tensor& t) { return t; }
const Backend kCpuBackend{"cpu", kCpu, identity, identity, cpu::global_avg_pool_forward, cpu::global_avg_pool_backward,
                          cpu::channel_scale_forward, cpu::channel_scale_backward, cpu::channel_scale_add,
                          cpu::softmax_xent_forward, cpu::softmax_xent_backward, cpu::argmax_rows};
#if ADVPROP_WITH_SIM
const Backend kSimBackend{"cuda-sim", Device{DeviceType::cuda_sim, 0}, test::to_sim, test::to_cpu,
                          cudasim::global_avg_pool_forward, cudasim::global_avg_pool_backward,
                          cudasim::channel_scale_forward, cudasim::channel_scale_backward, cudasim::channel_scale_add,
                          cudasim::softmax_xent_forward, cudasim::softmax_xent_backward, cudasim::argmax_rows};
#endif

void check_pool(const Backend& be, const Shape& s, DType dt, uint64_t seed) {
  const int64_t N = s[0], P = s[1] * s[2], C = s[3];
  const std::string what = std::string(be.name) + " " + dtype_name(dt) + " " + shape_str(s);
  const Tensor x = random_cpu(s, dt, seed), dy = random_cpu(s, dt, seed + 1);
  const Tensor sc = random_cpu({N, C}, dt, seed + 2), dp = random_cpu({N, C}, dt, seed + 3);
  std::vector<double> pool(N * C, 0.0), ds(N * C, 0.0), dxp(x.numel()), y(x.numel()), dx(x.numel()), ya(x.numel());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t e = (n * P + p) * C + c, nc = n * C + c;
        pool[nc] += get(x, e) / static_cast<double>(P);
        ds[nc] += get(dy, e) * get(x, e);
        dxp[e] = get(dp, nc) / static_cast<double>(P);
        y[e] = get(x, e) * get(sc, nc);
        dx[e] = get(dy, e) * get(sc, nc);
        ya[e] = get(dy, e) * get(sc, nc) + get(dp, nc);
      }
  const Tensor ux = be.up(x), udy = be.up(dy), us = be.up(sc), udp = be.up(dp);
  Tensor gp = Tensor::empty({N, C}, dt, be.device), gdxp = Tensor::empty(s, dt, be.device);
  Tensor gy = Tensor::empty(s, dt, be.device), gdx = Tensor::empty(s, dt, be.device), gds = Tensor::empty({N, C}, dt, be.device);
  Tensor gdx_only = Tensor::empty(s, dt, be.device), gds_only = Tensor::empty({N, C}, dt, be.device);
  Tensor gya = Tensor::empty(s, dt, be.device);
  be.pool_fwd(ux, gp);
  be.pool_bwd(udp, gdxp);
  be.scale_fwd(ux, us, gy);
  be.scale_bwd(ux, us, udy, &gdx, &gds);
  be.scale_bwd(ux, us, udy, &gdx_only, nullptr);
  be.scale_bwd(ux, us, udy, nullptr, &gds_only);
  be.scale_add(udy, us, udp, gya);
  // Sums of up to 9000 f32 terms: relative to the largest result, rounding stays under 1e-5.
  const double sum_tol = dt == DType::f32 ? 1e-5 : 1e-12, ew_tol = dt == DType::f32 ? 2e-7 : 1e-15;
  expect_close(what + " pool", be.down(gp), pool, sum_tol);
  expect_close(what + " ds (with dx)", be.down(gds), ds, sum_tol);
  expect_close(what + " ds (alone)", be.down(gds_only), ds, sum_tol);
  expect_close(what + " pool backward", be.down(gdxp), dxp, ew_tol);
  expect_close(what + " scale", be.down(gy), y, ew_tol);
  expect_close(what + " dx (with ds)", be.down(gdx), dx, ew_tol);
  expect_close(what + " dx (alone)", be.down(gdx_only), dx, ew_tol);
  expect_close(what + " scale-add", be.down(gya), ya, ew_tol);
}

void check_xent(const Backend& be, int64_t N, int64_t K, double eps, DType dt, uint64_t seed) {
  const std::string what = std::string(be.name) + " " + dtype_name(dt) + " N=" + std::to_string(N) + " K=" + std::to_string(K);
  const Tensor z = random_cpu({N, K}, dt, seed, -5.0, 5.0), g = random_cpu({N}, dt, seed + 1);
  Tensor labels = Tensor::empty({N}, DType::i32, kCpu);
  for (int64_t n = 0; n < N; ++n) set(labels, n, static_cast<double>((n * 7919 + 13) % K));
  std::vector<double> loss(N), lse(N), dz(N * K);
  std::vector<int32_t> arg(N);
  for (int64_t n = 0; n < N; ++n) {
    double m = -INFINITY, se = 0;
    int64_t best = 0;
    for (int64_t k = 0; k < K; ++k) {
      m = std::fmax(m, get(z, n * K + k));
      if (get(z, n * K + k) > get(z, n * K + best)) best = k;
    }
    arg[n] = static_cast<int32_t>(best);
    for (int64_t k = 0; k < K; ++k) se += std::exp(get(z, n * K + k) - m);
    lse[n] = m + std::log(se);
    const int64_t y = static_cast<int64_t>(get(labels, n));
    for (int64_t k = 0; k < K; ++k) {
      const double t = (k == y ? 1.0 - eps : 0.0) + eps / static_cast<double>(K);
      loss[n] -= t * (get(z, n * K + k) - lse[n]);
      dz[n * K + k] = (std::exp(get(z, n * K + k) - lse[n]) - t) * 0.5 * get(g, n);
    }
  }
  const Tensor uz = be.up(z), ul = be.up(labels), ug = be.up(g);
  Tensor gl = Tensor::empty({N}, dt, be.device), gs = Tensor::empty({N}, dt, be.device);
  Tensor gz = Tensor::empty({N, K}, dt, be.device), ga = Tensor::empty({N}, DType::i32, be.device);
  be.xent_fwd(uz, ul, eps, gl, gs);
  be.xent_bwd(uz, ul, gs, ug, 0.5, eps, gz);
  be.argmax(uz, ga);
  const double tol = dt == DType::f32 ? 2e-6 : 1e-13;
  expect_close(what + " loss", be.down(gl), loss, tol);
  expect_close(what + " lse", be.down(gs), lse, tol);
  expect_close(what + " dlogits", be.down(gz), dz, 4 * tol);
  const Tensor pa = be.down(ga);
  for (int64_t n = 0; n < N; ++n) EXPECT_EQ(static_cast<int32_t>(get(pa, n)), arg[n]);
}

void run_all(const Backend& be) {
  uint64_t seed = 500;
  for (DType dt : {DType::f32, DType::f64}) {
    for (const Shape& s : {Shape{2, 5, 7, 6}, Shape{1, 90, 100, 3}, Shape{3, 4, 3, 40}, Shape{2, 7, 7, 33}, Shape{1, 1, 1, 1}})
      check_pool(be, s, dt, seed += 4);
    check_xent(be, 5, 7, 0.1, dt, seed += 2);
    check_xent(be, 3, 1000, 0.0, dt, seed += 2);
    check_xent(be, 2, 1, 0.1, dt, seed += 2);
  }
}

ADVPROP_NATIVE_TEST(pool_loss_cpu_matches_reference) { run_all(kCpuBackend); }

#if ADVPROP_WITH_SIM
ADVPROP_NATIVE_TEST(pool_loss_cudasim_matches_reference) { run_all(kSimBackend); }
#endif

ADVPROP_NATIVE_TEST(pool_loss_argument_checks) {
  Tensor x = random_cpu({2, 3, 3, 4}, DType::f32, 1), s = random_cpu({2, 4}, DType::f32, 2);
  Tensor bad_s = random_cpu({2, 5}, DType::f32, 3), y = Tensor::empty({2, 3, 3, 4}, DType::f32, kCpu);
  EXPECT_THROWS(ops::channel_scale(x, bad_s), ErrorCode::Shape);
  EXPECT_THROWS(ops::channel_scale(x, random_cpu({2, 4}, DType::f64, 4)), ErrorCode::DType);
  EXPECT_THROWS(ops::global_avg_pool(random_cpu({2, 3, 4}, DType::f32, 5)), ErrorCode::Shape);
  Tensor gx, gs;
  EXPECT_THROWS(ops::channel_scale_backward(x, bad_s, y, true, true, &gx, &gs), ErrorCode::Shape);
  EXPECT_THROWS(ops::channel_scale_add(x, s, bad_s), ErrorCode::Shape);
  EXPECT_THROWS(ops::channel_scale_add(x, s, random_cpu({2, 4}, DType::f64, 4)), ErrorCode::DType);
  EXPECT_THROWS(ops::channel_scale_add(x, bad_s, s), ErrorCode::Shape);
  // An output of the wrong shape cannot come from the caller (the front-end allocates it): the
  // kernel's assertion catches it as a bug in advprop.
  EXPECT_THROWS(cpu::channel_scale_add(x, s, s, bad_s), ErrorCode::Internal);
#if ADVPROP_WITH_SIM
  EXPECT_THROWS(ops::channel_scale(x, test::to_sim(s)), ErrorCode::Device);
  Tensor ys = Tensor::empty({2, 3, 3, 4}, DType::f32, Device{DeviceType::cuda_sim, 0});
  EXPECT_THROWS(cudasim::channel_scale_forward(x, s, ys), ErrorCode::Internal);  // an output elsewhere, as above
  EXPECT_THROWS(ops::channel_scale_add(x, s, test::to_sim(s)), ErrorCode::Device);
  EXPECT_THROWS(ops::channel_scale_add(test::to_sim(x), test::to_sim(s), s), ErrorCode::Device);
#endif
  Tensor z = random_cpu({3, 4}, DType::f32, 6), labels = Tensor::empty({3}, DType::i32, kCpu);
  for (int i = 0; i < 3; ++i) set(labels, i, i);
  Tensor loss, lse;
  EXPECT_THROWS(ops::cross_entropy(z, labels, 1.5, true, &loss, &lse), ErrorCode::Arg);
  set(labels, 1, 4);
  EXPECT_THROWS(ops::cross_entropy(z, labels, 0.1, true, &loss, &lse), ErrorCode::Arg);
  EXPECT_THROWS(ops::cross_entropy(z, random_cpu({3}, DType::f32, 7), 0.1, true, &loss, &lse), ErrorCode::DType);
  EXPECT_THROWS(ops::cross_entropy_backward(z, labels, random_cpu({3}, DType::f32, 8), random_cpu({2}, DType::f32, 9), 1.0, 0.0),
                ErrorCode::Shape);
}

}  // namespace
}  // namespace advprop
