// Fused optimizer kernels (advprop/optim.h) through the checked front-ends, on cpu and cuda-sim,
// against an f64 reference written here; lists mix an empty tensor, odd sizes, one element past
// a CUDA chunk and a view that is not 16-byte aligned, so the descriptor table, the float4 path
// and the scalar path all run under the sanitizers. Also a few argument checks.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/ops.h"
#include "advprop/optim.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};
const Device kSim{DeviceType::cuda_sim, 0};
using test::get;

const std::vector<Shape> kShapes = {{7}, {0}, {4097}, {3, 5}, {1}};

// One list on `dev`: random tensors (or `fill`), plus rows 1..4 of a [5, 3] tensor (offset 3
// elements, so not 16-byte aligned).
TensorList make_list(const Device& dev, DType dt, uint64_t seed, bool random, double fill) {
  TensorList out;
  for (size_t i = 0; i < kShapes.size() + 1; ++i) {
    const Shape s = i < kShapes.size() ? kShapes[i] : Shape{5, 3};
    Tensor t = random ? ops::uniform(s, dt, dev, seed, i * 100000, -1, 1) : ops::full(s, dt, dev, fill);
    out.push_back(i < kShapes.size() ? t : t.slice0(1, 4));
  }
  return out;
}

std::vector<std::vector<double>> host(const TensorList& l) {
  std::vector<std::vector<double>> out;
  for (const Tensor& t : l) {
    Tensor c = test::to_cpu(t);
    std::vector<double> v(c.numel());
    for (int64_t j = 0; j < c.numel(); ++j) v[j] = get(c, j);
    out.push_back(v);
  }
  return out;
}

void expect_close(const TensorList& got, const std::vector<std::vector<double>>& want, double tol, const std::string& what) {
  auto g = host(got);
  for (size_t i = 0; i < g.size(); ++i)
    for (size_t j = 0; j < g[i].size(); ++j)
      EXPECT_MSG(std::fabs(g[i][j] - want[i][j]) <= tol * (1 + std::fabs(want[i][j])),
                 what + "[" + std::to_string(i) + "][" + std::to_string(j) + "] = " + std::to_string(g[i][j]) +
                     ", want " + std::to_string(want[i][j]));
}

void run_all(const Device& dev, DType dt) {
  // f32: a few roundings of order-1 values per step; f64 at 2^-53.
  const double tol = dt == DType::f32 ? 2e-6 : 1e-13;
  const std::vector<uint8_t> decay = {1, 0, 1, 1, 0, 1};
  {
    TensorList p = make_list(dev, dt, 1, true, 0), ms = make_list(dev, dt, 0, false, 1), mom = make_list(dev, dt, 0, false, 0);
    auto hp = host(p), hms = host(ms), hmom = host(mom);
    RmspropHyper h;
    h.weight_decay = 0.05;
    for (int step = 0; step < 2; ++step) {
      h.lr = 0.05 * (step + 1);
      TensorList g = make_list(dev, dt, 10 + step, true, 0);
      auto hg = host(g);
      ops::rmsprop_update(p, g, ms, mom, decay, h);
      for (size_t i = 0; i < hp.size(); ++i)
        for (size_t j = 0; j < hp[i].size(); ++j) {
          const double gj = hg[i][j] + (decay[i] ? h.weight_decay * hp[i][j] : 0);
          hms[i][j] = h.rho * hms[i][j] + (1 - h.rho) * gj * gj;
          hmom[i][j] = h.momentum * hmom[i][j] + h.lr * gj / std::sqrt(hms[i][j] + h.eps);
          hp[i][j] -= hmom[i][j];
        }
    }
    expect_close(p, hp, tol, "rmsprop params");
    expect_close(ms, hms, tol, "rmsprop ms");
    expect_close(mom, hmom, tol, "rmsprop mom");
  }
  for (bool nesterov : {false, true}) {
    TensorList p = make_list(dev, dt, 2, true, 0), buf = make_list(dev, dt, 0, false, 0);
    auto hp = host(p), hb = host(buf);
    SgdHyper h;
    h.lr = 0.1, h.momentum = 0.9, h.weight_decay = 0.1, h.nesterov = nesterov;
    for (int step = 0; step < 2; ++step) {
      TensorList g = make_list(dev, dt, 20 + step, true, 0);
      auto hg = host(g);
      ops::sgd_update(p, g, buf, decay, h);
      for (size_t i = 0; i < hp.size(); ++i)
        for (size_t j = 0; j < hp[i].size(); ++j) {
          const double gj = hg[i][j] + (decay[i] ? h.weight_decay * hp[i][j] : 0);
          hb[i][j] = h.momentum * hb[i][j] + gj;
          hp[i][j] -= h.lr * (nesterov ? gj + h.momentum * hb[i][j] : hb[i][j]);
        }
    }
    expect_close(p, hp, tol, nesterov ? "nesterov params" : "sgd params");
    expect_close(buf, hb, tol, "sgd bufs");
  }
  {
    TensorList e = make_list(dev, dt, 3, true, 0), s = make_list(dev, dt, 4, true, 0);
    auto he = host(e), hs = host(s);
    ops::ema_update(e, s, 0.75);
    for (size_t i = 0; i < he.size(); ++i)
      for (size_t j = 0; j < he[i].size(); ++j) he[i][j] = 0.75 * he[i][j] + 0.25 * hs[i][j];
    expect_close(e, he, tol, "ema");
  }
}

ADVPROP_NATIVE_TEST(optim_cpu_matches_reference) {
  run_all(kCpu, DType::f32);
  run_all(kCpu, DType::f64);
}

ADVPROP_NATIVE_TEST(optim_cudasim_matches_reference) {
  run_all(kSim, DType::f32);
  run_all(kSim, DType::f64);
}

ADVPROP_NATIVE_TEST(optim_checks) {
  TensorList p = {ops::full({2, 3}, DType::f32, kCpu, 0)}, g = {ops::full({3, 2}, DType::f32, kCpu, 0)};
  TensorList ms = {ops::full({2, 3}, DType::f32, kCpu, 1)}, mom = {ops::full({2, 3}, DType::f32, kCpu, 0)};
  RmspropHyper h;
  h.lr = 0.1;
  EXPECT_THROWS(ops::rmsprop_update(p, g, ms, mom, {}, h), ErrorCode::Shape);
  EXPECT_THROWS(ops::rmsprop_update(p, p, ms, mom, {}, h), ErrorCode::Arg);  // grads aliases params
  EXPECT_THROWS(ops::rmsprop_update(p, {}, ms, mom, {}, h), ErrorCode::Arg);
  EXPECT_THROWS(ops::rmsprop_update(p, ms, ms, mom, {1, 0}, h), ErrorCode::Arg);
  TensorList g_ok = {ops::full({2, 3}, DType::f32, kCpu, 0)};
  ops::rmsprop_update(p, g_ok, ms, mom, {1}, h);  // the same lists are accepted when well formed
  h.eps = 0;
  EXPECT_THROWS(ops::rmsprop_update(p, g_ok, ms, mom, {}, h), ErrorCode::Arg);
  EXPECT_THROWS(ops::ema_update(p, {ops::full({2, 3}, DType::f64, kCpu, 0)}, 0.5), ErrorCode::DType);
  EXPECT_THROWS(ops::ema_update(p, {ops::full({2, 3}, DType::f32, kSim, 0)}, 0.5), ErrorCode::Device);
  EXPECT_THROWS(ops::ema_update(p, mom, std::nan("")), ErrorCode::Arg);
}

}  // namespace
}  // namespace advprop
