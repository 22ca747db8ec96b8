// The inference epilogue (advprop/epilogue.h) of gemm and depthwise_forward: on each backend the
// fused kernel gives the bits of the plain kernels run one after another (the product, batch norm
// in eval mode with its activation, then add), including gemm's split-k path and several tiles;
// the cpu's f32 result against an f64 reference written here; cuda-sim against the cpu; and the
// validator's refusals.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/batchnorm.h"
#include "advprop/conv.h"
#include "advprop/elementwise.h"
#include "advprop/epilogue.h"
#include "advprop/gemm.h"
#include "advprop/pool.h"
#include "advprop/random.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace cpu {
bool set_gemm_isa(int level);  // gemm.cc, for tests
}
namespace {

const Device kCpu{};

using test::random_cpu;

// The kernels of one backend, reached through host tensors.
struct Kernels {
  const char* name;
  Tensor (*up)(const Tensor&);
  Tensor (*down)(const Tensor&);
  Device dev;
  void (*gemm)(const GemmArgs&, const Tensor&, const Tensor&, Tensor&, const Epilogue*);
  void (*depthwise)(const Conv2dParams&, const Tensor&, const Tensor&, const Tensor*, Tensor&, const Epilogue*);
  void (*bn)(const BnArgs&, const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&);
  void (*binary)(BinaryOp, const Tensor&, const Tensor&, Tensor&);
  void (*affine)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, double, Tensor&);
  void (*channel_scale)(const Tensor&, const Tensor&, Tensor&);
};

Tensor same(const Tensor& t) { return t; }
const Kernels kCpuKernels{"cpu", same, same, kCpu, cpu::gemm, cpu::depthwise_forward, cpu::multi_batch_norm_forward,
                          cpu::binary, cpu::bn_eval_affine, cpu::channel_scale_forward};
#if ADVPROP_WITH_SIM
const Kernels kSimKernels{"cuda-sim", test::to_sim, test::to_cpu, Device{DeviceType::cuda_sim, 0}, cudasim::gemm,
                          cudasim::depthwise_forward, cudasim::multi_batch_norm_forward, cudasim::binary,
                          cudasim::bn_eval_affine, cudasim::channel_scale_forward};
#endif

// Batch-norm parameters [K = 2, C] on the host: gamma, beta, running mean, running var.
struct Bn {
  Tensor gamma, beta, mean, var;
};
Bn random_bn(int64_t C, DType dt, uint64_t seed) {
  return {random_cpu({2, C}, dt, seed, 0.5, 1.5), random_cpu({2, C}, dt, seed + 1), random_cpu({2, C}, dt, seed + 2),
          random_cpu({2, C}, dt, seed + 3, 0.2, 2.0)};
}
constexpr int64_t kDomain = 1;
constexpr double kEps = 1e-3;

// y [rows, C] (host) through the plain kernels of k: batch norm in eval (domain 1), then + r.
Tensor plain_tail(const Kernels& k, const Tensor& y, const Bn& bn, BnAct act, const Tensor* r) {
  const int64_t rows = y.numel() / bn.gamma.dim(1), C = bn.gamma.dim(1);
  BnArgs a;
  a.n = 1, a.h = rows, a.w = 1, a.c = C, a.k = 2, a.mode = BnMode::eval, a.act = act, a.eps = kEps;
  a.segments = {BnSegment{kDomain, 0, 1}};
  Tensor x = k.up(y), g = k.up(bn.gamma), b = k.up(bn.beta), m = k.up(bn.mean), v = k.up(bn.var);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), k.dev), mean = Tensor::empty({1, C}, x.dtype(), k.dev),
         invstd = Tensor::empty({1, C}, x.dtype(), k.dev);
  k.bn(a, x, g, b, m, v, out, mean, invstd);
  if (!r) return k.down(out);
  Tensor sum = Tensor::empty(x.shape(), x.dtype(), k.dev);
  k.binary(BinaryOp::add, out, k.up(*r), sum);
  return k.down(sum);
}

Tensor affine_on(const Kernels& k, const Bn& bn) {
  Tensor out = Tensor::empty({3, bn.gamma.dim(1)}, bn.gamma.dtype(), k.dev);
  k.affine(k.up(bn.gamma), k.up(bn.beta), k.up(bn.mean), k.up(bn.var), kDomain, kEps, out);
  return out;
}

void expect_bits(const std::string& what, const Tensor& got, const Tensor& want) {
  REQUIRE(got.numel() == want.numel());
  int bad = 0;
  std::string first;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = test::get(got, i), w = test::get(want, i);
    if (!(g == w || (std::isnan(g) && std::isnan(w))) && bad++ < 3)
      first += " [" + std::to_string(i) + "] " + test::describe_double(g) + " vs " + test::describe_double(w);
  }
  EXPECT_MSG(bad == 0, what + ": " + std::to_string(bad) + " elements differ:" + first);
}

void expect_close(const std::string& what, const Tensor& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.numel() == static_cast<int64_t>(want.size()));
  // Relative to |want| plus the values' rms: the affine subtracts the mean, so single values near 0
  // carry the absolute error of the product.
  double ss = 0, worst = 0;
  for (double v : want) ss += v * v;
  const double rms = want.empty() ? 0 : std::sqrt(ss / static_cast<double>(want.size()));
  for (int64_t i = 0; i < got.numel(); ++i)
    worst = std::max(worst, std::fabs(test::get(got, i) - want[i]) / (std::fabs(want[i]) + rms));
  EXPECT_MSG(worst <= tol, what + ": relative error " + test::describe_double(worst));
}

struct GemmCase {
  int64_t m, n, k;
  bool residual;
  int64_t hw = 0;  // > 0: A gated per image of hw rows (Epilogue::in_scale)
};
// Several tiles, a ragged edge, and (m = 6, k = 4096) gemm's split-k path on the cpu; with and
// without the gate, whose images straddle tiles (13 or 7 rows each) or not; a gated A read in
// place over two k blocks (k = 300).
const GemmCase kGemmCases[] = {{37, 21, 19, false},      {130, 300, 70, true},      {6, 40, 4096, true},
                               {1, 5, 3, false},         {130, 24, 70, true, 13},   {130, 300, 70, false, 13},
                               {6, 40, 4096, true, 3},   {37, 21, 19, false, 37},   {203, 100, 300, true, 7}};

void gemm_matches_plain(const Kernels& k, DType dt) {
  uint64_t seed = 10;
  for (const GemmCase& c : kGemmCases)
    for (BnAct act : {BnAct::none, BnAct::silu, BnAct::relu}) {
      const std::string what = std::string(k.name) + " gemm " + dtype_name(dt) + " m=" + std::to_string(c.m) +
                               " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) + " hw=" + std::to_string(c.hw) +
                               " act " + enum_name(act);
      GemmArgs g;
      g.trans_b = true, g.m = c.m, g.n = c.n, g.k = c.k, g.lda = c.k, g.ldb = c.k, g.ldc = c.n;
      const Tensor a = random_cpu({c.m, c.k}, dt, seed++), b = random_cpu({c.n, c.k}, dt, seed++);
      const Tensor r = random_cpu({c.m, c.n}, dt, seed++);
      const Bn bn = random_bn(c.n, dt, seed += 4);
      const int64_t images = c.hw ? c.m / c.hw : 0;
      const Tensor gate = random_cpu({std::max<int64_t>(images, 1), c.k}, dt, seed++, 0.0, 1.0), gd = k.up(gate);
      Tensor y0 = Tensor::empty({c.m, c.n}, dt, k.dev), y1 = Tensor::empty({c.m, c.n}, dt, k.dev);
      Tensor a0 = k.up(a);
      if (c.hw) {  // the plain path: channel_scale, then the product
        Tensor scaled = Tensor::empty({images, c.hw, 1, c.k}, dt, k.dev);
        k.channel_scale(a0.reshape({images, c.hw, 1, c.k}), gd, scaled);
        a0 = scaled.reshape({c.m, c.k});
      }
      k.gemm(g, a0, k.up(b), y0, nullptr);
      const Tensor want = plain_tail(k, k.down(y0), bn, act, c.residual ? &r : nullptr);
      const Tensor affine = affine_on(k, bn), rd = k.up(r);
      Epilogue e;
      e.affine = &affine, e.act = act, e.residual = c.residual ? &rd : nullptr;
      if (c.hw) e.in_scale = &gd, e.in_scale_rows = c.hw;
      k.gemm(g, k.up(a), k.up(b), y1, &e);
      expect_bits(what, k.down(y1), want);
      if (dt != DType::f32 || k.dev.type != DeviceType::cpu) continue;
      // f64 reference: the product, the affine and silu/relu in double.
      std::vector<double> ref(static_cast<size_t>(c.m * c.n));
      for (int64_t i = 0; i < c.m; ++i)
        for (int64_t j = 0; j < c.n; ++j) {
          double s = 0;
          for (int64_t p = 0; p < c.k; ++p)
            s += test::get(a, i * c.k + p) * (c.hw ? test::get(gate, (i / c.hw) * c.k + p) : 1.0) * test::get(b, j * c.k + p);
          const int64_t q = kDomain * c.n + j;
          double z = (s - test::get(bn.mean, q)) * (test::get(bn.gamma, q) / std::sqrt(test::get(bn.var, q) + kEps)) +
                     test::get(bn.beta, q);
          if (act == BnAct::silu) z = z / (1 + std::exp(-z));
          if (act == BnAct::relu) z = z > 0 ? z : 0;
          ref[static_cast<size_t>(i * c.n + j)] = z + (c.residual ? test::get(r, i * c.n + j) : 0.0);
        }
      expect_close(what + " against f64", y1, ref, c.k > 1000 ? 1e-5 : 2e-6);
    }
}

void depthwise_matches_plain(const Kernels& k, DType dt) {
  uint64_t seed = 500;
  // 13 channels: one per thread on cuda-sim's tiled kernels; 32: f32 vectors there.
  for (int64_t channels : {13, 32})
    for (int64_t kk : {3, 5})
      for (int64_t stride : {1, 2})
        for (BnAct act : {BnAct::none, BnAct::silu}) {
          Conv2dParams p;
          p.n = 2, p.h = 9, p.w = 11, p.c_in = p.c_out = p.groups = channels, p.kh = p.kw = kk;
          p.stride_h = p.stride_w = stride, p.pad_top = p.pad_left = (kk - 1) / 2;
          p.out_h = (p.h + stride - 1) / stride, p.out_w = (p.w + stride - 1) / stride;
          const std::string what = std::string(k.name) + " depthwise " + dtype_name(dt) + " " + conv_params_str(p) +
                                   " act " + enum_name(act);
          const Tensor x = random_cpu(conv_x_shape(p), dt, seed++), w = random_cpu(depthwise_w_shape(p), dt, seed++);
          const bool with_res = stride == 1;
          const Tensor r = random_cpu(conv_y_shape(p), dt, seed++);
          const Bn bn = random_bn(p.c_out, dt, seed += 4);
          Tensor y0 = Tensor::empty(conv_y_shape(p), dt, k.dev), y1 = Tensor::empty(conv_y_shape(p), dt, k.dev);
          k.depthwise(p, k.up(x), k.up(w), nullptr, y0, nullptr);
          const Tensor want = plain_tail(k, k.down(y0), bn, act, with_res ? &r : nullptr);
          const Tensor affine = affine_on(k, bn), rd = k.up(r);
          Epilogue e;
          e.affine = &affine, e.act = act, e.residual = with_res ? &rd : nullptr;
          k.depthwise(p, k.up(x), k.up(w), nullptr, y1, &e);
          expect_bits(what, k.down(y1), want);
        }
}

ADVPROP_NATIVE_TEST(epilogue_cpu_gemm_and_depthwise_equal_the_plain_kernels) {
  for (DType dt : {DType::f32, DType::f64}) {
    gemm_matches_plain(kCpuKernels, dt);
    depthwise_matches_plain(kCpuKernels, dt);
  }
}

// The gated GEMM (in_scale) gates A into a buffer with the ISA's vectors when A is read in place
// (n <= 128) and while packing it otherwise: every ISA level gives the plain path's bits.
ADVPROP_NATIVE_TEST(epilogue_cpu_gated_gemm_same_bits_on_every_isa) {
  int levels = 0;
  for (int level = 1; level <= 3; ++level) {
    if (!cpu::set_gemm_isa(level)) continue;
    ++levels;
    for (DType dt : {DType::f32, DType::f64}) gemm_matches_plain(kCpuKernels, dt);
  }
  cpu::set_gemm_isa(0);
  EXPECT(levels >= 1);
}

#if ADVPROP_WITH_SIM
ADVPROP_NATIVE_TEST(epilogue_cudasim_gemm_and_depthwise_equal_the_plain_kernels) {
  for (DType dt : {DType::f32, DType::f64}) {
    gemm_matches_plain(kSimKernels, dt);
    depthwise_matches_plain(kSimKernels, dt);
  }
}

ADVPROP_NATIVE_TEST(epilogue_cudasim_matches_cpu) {
  // The two backends' batch norms spell silu differently (advprop/pointwise.h): close, not equal.
  const Bn bn = random_bn(24, DType::f32, 900);
  GemmArgs g;
  g.trans_b = true, g.m = 70, g.n = 24, g.k = 33, g.lda = 33, g.ldb = 33, g.ldc = 24;
  const Tensor a = random_cpu({70, 33}, DType::f32, 901), b = random_cpu({24, 33}, DType::f32, 902);
  const Tensor r = random_cpu({70, 24}, DType::f32, 903);
  Tensor out[2];
  int i = 0;
  for (const Kernels* k : {&kCpuKernels, &kSimKernels}) {
    const Tensor affine = affine_on(*k, bn), rd = k->up(r);
    expect_bits(std::string(k->name) + " affine", k->down(affine), affine_on(kCpuKernels, bn));
    Epilogue e;
    e.affine = &affine, e.act = BnAct::silu, e.residual = &rd;
    Tensor y = Tensor::empty({70, 24}, DType::f32, k->dev);
    k->gemm(g, k->up(a), k->up(b), y, &e);
    out[i++] = k->down(y);
  }
  std::vector<double> want(static_cast<size_t>(out[0].numel()));
  for (size_t j = 0; j < want.size(); ++j) want[j] = test::get(out[0], static_cast<int64_t>(j));
  expect_close("cuda-sim gemm epilogue against the cpu", out[1], want, 1e-5);
}
#endif

ADVPROP_NATIVE_TEST(epilogue_validator_refuses_bad_arguments) {
  const Tensor c = Tensor::empty({4, 6}, DType::f32, kCpu), a = Tensor::empty({4, 5}, DType::f32, kCpu),
               b = Tensor::empty({6, 5}, DType::f32, kCpu);
  GemmArgs g;
  g.trans_b = true, g.m = 4, g.n = 6, g.k = 5, g.lda = 5, g.ldb = 5, g.ldc = 6;
  const Tensor affine = Tensor::empty({3, 6}, DType::f32, kCpu), bad_affine = Tensor::empty({3, 5}, DType::f32, kCpu);
  const Tensor res = Tensor::empty({4, 6}, DType::f32, kCpu), short_res = Tensor::empty({3, 6}, DType::f32, kCpu);
  const Tensor affine64 = Tensor::empty({3, 6}, DType::f64, kCpu);
  Epilogue e;
  e.affine = &affine;
  check_gemm_args(g, a, b, c, DeviceType::cpu, &e);  // valid
  e.residual = &res;
  check_gemm_args(g, a, b, c, DeviceType::cpu, &e);  // valid
  e.residual = &short_res;
  EXPECT_THROWS(check_gemm_args(g, a, b, c, DeviceType::cpu, &e), ErrorCode::Shape);
  e.residual = nullptr, e.affine = &bad_affine;
  EXPECT_THROWS(check_gemm_args(g, a, b, c, DeviceType::cpu, &e), ErrorCode::Shape);
  e.affine = &affine64;
  EXPECT_THROWS(check_gemm_args(g, a, b, c, DeviceType::cpu, &e), ErrorCode::DType);
  e.affine = &affine;
  GemmArgs t = g;
  t.tf32 = true;
  EXPECT_THROWS(check_gemm_args(t, a, b, c, DeviceType::cpu, &e), ErrorCode::DType);
  const Tensor ch = Tensor::empty({4, 6}, DType::bf16, kCpu), ah = Tensor::empty({4, 5}, DType::bf16, kCpu),
               bh = Tensor::empty({6, 5}, DType::bf16, kCpu), affh = Tensor::empty({3, 6}, DType::bf16, kCpu);
  e.affine = &affh;
  EXPECT_THROWS(check_gemm_args(g, ah, bh, ch, DeviceType::cpu, &e), ErrorCode::DType);
  e.affine = nullptr;
  EXPECT_THROWS(check_gemm_args(g, a, b, c, DeviceType::cpu, &e), ErrorCode::Arg);
  // The gate: [images, k] for rows of in_scale_rows, op(A) = A only; never on the depthwise kernels.
  const Tensor gate = Tensor::empty({2, 5}, DType::f32, kCpu), bad_gate = Tensor::empty({1, 5}, DType::f32, kCpu);
  e.affine = &affine, e.in_scale = &gate, e.in_scale_rows = 2;
  check_gemm_args(g, a, b, c, DeviceType::cpu, &e);  // valid: 4 rows, 2 images
  e.in_scale = &bad_gate;
  EXPECT_THROWS(check_gemm_args(g, a, b, c, DeviceType::cpu, &e), ErrorCode::Shape);
  e.in_scale = &gate, e.in_scale_rows = 0;
  EXPECT_THROWS(check_gemm_args(g, a, b, c, DeviceType::cpu, &e), ErrorCode::Arg);
  e.in_scale_rows = 2;
  GemmArgs ta = g;
  ta.trans_a = true, ta.lda = 4;
  const Tensor at = Tensor::empty({5, 4}, DType::f32, kCpu);
  EXPECT_THROWS(check_gemm_args(ta, at, b, c, DeviceType::cpu, &e), ErrorCode::Arg);
  Conv2dParams p;
  p.n = 1, p.h = p.w = 3, p.c_in = p.c_out = p.groups = 6, p.kh = p.kw = 3, p.pad_top = p.pad_left = 1, p.out_h = p.out_w = 3;
  const Tensor x = Tensor::empty(conv_x_shape(p), DType::f32, kCpu), w = Tensor::empty(depthwise_w_shape(p), DType::f32, kCpu),
               y = Tensor::empty(conv_y_shape(p), DType::f32, kCpu);
  e.in_scale_rows = 9;
  EXPECT_THROWS(check_depthwise_forward("depthwise_forward", p, DeviceType::cpu, x, w, nullptr, y, &e), ErrorCode::Arg);
}

}  // namespace
}  // namespace advprop
