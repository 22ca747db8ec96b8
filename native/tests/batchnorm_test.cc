// Multi-domain batch norm kernels (advprop/batchnorm.h) under the sanitizers: the cpu kernels
// against an f64 reference written here from the formulas; cuda-sim against the cpu in f32 and
// f64 over layouts with several chunks, C around the tile width, a domain owning two segments
// and a one-element segment; train-frozen and eval leaving the running statistics untouched;
// determinism; and the argument checks.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/batchnorm.h"
#include "advprop/random.h"
#include "cpu/bn_math.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};
using test::get;
using test::set;

struct Case {
  int64_t n, h, w, c, k;
  std::vector<std::pair<int64_t, int64_t>> segs;  // (domain, count)
};

BnArgs make_args(const Case& t, BnMode mode, BnAct act) {
  BnArgs a;
  a.n = t.n, a.h = t.h, a.w = t.w, a.c = t.c, a.k = t.k;
  a.mode = mode, a.act = act, a.momentum = 0.9, a.eps = 1e-3;
  int64_t start = 0;
  for (auto [d, cnt] : t.segs) {
    a.segments.push_back(BnSegment{d, start, cnt});
    start += cnt;
  }
  return a;
}

Tensor filled(const Shape& s, DType dt, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::empty(s, dt, kCpu);
  uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    const double u = static_cast<double>(st >> 11) / 9007199254740992.0;
    set(t, i, lo + (hi - lo) * u);
  }
  return t;
}

struct Inputs { Tensor x, dy, gamma, beta, rm, rv; };

Inputs make_inputs(const BnArgs& a, DType dt) {
  return {filled(bn_x_shape(a), dt, 1, -2, 3), filled(bn_x_shape(a), dt, 2, -1, 1), filled(bn_param_shape(a), dt, 3, 0.5, 1.5),
          filled(bn_param_shape(a), dt, 4, -0.5, 0.5), filled(bn_param_shape(a), dt, 5, -0.5, 0.5),
          filled(bn_param_shape(a), dt, 6, 0.5, 2)};
}

double rel_err(const Tensor& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double d = get(got, i) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

double act_f(BnAct a, double z) {
  if (a == BnAct::silu) return z / (1 + std::exp(-z));
  if (a == BnAct::relu) return z > 0 ? z : 0;
  return z;
}

// The forward's y and updated running statistics, one plain batch norm per segment.
void reference(const BnArgs& a, const Inputs& in, std::vector<double>& y, std::vector<double>& rm, std::vector<double>& rv) {
  const int64_t C = a.c, hw = a.h * a.w;
  y.assign(in.x.numel(), 0);
  rm.resize(a.k * C), rv.resize(a.k * C);
  for (int64_t i = 0; i < a.k * C; ++i) rm[i] = get(in.rm, i), rv[i] = get(in.rv, i);
  for (const BnSegment& s : a.segments) {
    const int64_t rows = s.count * hw, base = s.start * hw;
    for (int64_t c = 0; c < C; ++c) {
      double mean = 0, var = 0;
      if (a.mode == BnMode::eval) {
        mean = rm[s.domain * C + c], var = rv[s.domain * C + c];
      } else {
        for (int64_t r = 0; r < rows; ++r) mean += get(in.x, (base + r) * C + c);
        mean /= rows;
        for (int64_t r = 0; r < rows; ++r) var += std::pow(get(in.x, (base + r) * C + c) - mean, 2);
        var /= rows;
      }
      const double g = get(in.gamma, s.domain * C + c), b = get(in.beta, s.domain * C + c);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = (base + r) * C + c;
        y[i] = act_f(a.act, g * (get(in.x, i) - mean) / std::sqrt(var + a.eps) + b);
      }
      if (a.mode == BnMode::train) {
        const double unb = rows > 1 ? var * rows / (rows - 1) : var;
        rm[s.domain * C + c] = a.momentum * rm[s.domain * C + c] + (1 - a.momentum) * mean;
        rv[s.domain * C + c] = a.momentum * rv[s.domain * C + c] + (1 - a.momentum) * unb;
      }
    }
  }
}

const std::vector<Case> kCases = {
    {3, 5, 7, 33, 2, {{0, 2}, {1, 1}}},                     // C just over the tile width
    {7, 2, 3, 6, 3, {{2, 1}, {0, 3}, {1, 2}, {0, 1}}},      // K = 3, domain 0 twice
    {4, 1, 1, 5, 2, {{1, 1}, {0, 3}}},                      // a one-element segment
    {2, 40, 45, 4, 2, {{0, 1}, {1, 1}}},                    // several chunks on both backends
};

std::string case_str(const BnArgs& a, DType dt) {
  return std::string(dtype_name(dt)) + " " + bn_args_str(a) + " act " + bn_act_name(a.act);
}

struct Out { Tensor y, mean, invstd, rm, rv, dx, dg, db; };

template <typename Fwd, typename Bwd, typename Move>
Out run(const BnArgs& a, const Inputs& in, Fwd fwd, Bwd bwd, Move to, Move back, const Device& dev) {
  Tensor x = to(in.x), dy = to(in.dy), g = to(in.gamma), b = to(in.beta), rm = to(in.rm), rv = to(in.rv);
  const DType dt = in.x.dtype();
  Tensor y = Tensor::empty(bn_x_shape(a), dt, dev), mean = Tensor::empty(bn_stat_shape(a), dt, dev),
         invstd = Tensor::empty(bn_stat_shape(a), dt, dev), dx = Tensor::empty(bn_x_shape(a), dt, dev),
         dg = Tensor::empty(bn_param_shape(a), dt, dev), db = Tensor::empty(bn_param_shape(a), dt, dev);
  fwd(a, x, g, b, rm, rv, y, mean, invstd);
  bwd(a, dy, x, g, b, mean, invstd, dx, dg, db);
  return {back(y), back(mean), back(invstd), back(rm), back(rv), back(dx), back(dg), back(db)};
}

// A copy, so that the kernel's in-place running-stat update leaves the inputs as they were.
Tensor copy(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape(), t.dtype(), kCpu);
  std::memcpy(c.data(), t.data(), t.nbytes());
  return c;
}

Out run_cpu(const BnArgs& a, const Inputs& in) {
  return run(a, in, cpu::multi_batch_norm_forward, cpu::multi_batch_norm_backward, copy, copy, kCpu);
}

void expect_vs_ref(const BnArgs& a, const Inputs& in, const Out& o, double tol) {
  std::vector<double> y, rm, rv;
  reference(a, in, y, rm, rv);
  const std::string what = case_str(a, in.x.dtype());
  EXPECT_MSG(rel_err(o.y, y) <= tol, what + ": y error " + std::to_string(rel_err(o.y, y)));
  EXPECT_MSG(rel_err(o.rm, rm) <= tol, what + ": running_mean error " + std::to_string(rel_err(o.rm, rm)));
  EXPECT_MSG(rel_err(o.rv, rv) <= tol, what + ": running_var error " + std::to_string(rel_err(o.rv, rv)));
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = get(t, i);
  return v;
}

}  // namespace

ADVPROP_NATIVE_TEST(batchnorm_cpu_matches_reference) {
  for (const Case& c : kCases)
    for (BnMode m : {BnMode::train, BnMode::train_frozen, BnMode::eval})
      for (BnAct act : {BnAct::none, BnAct::silu, BnAct::relu})
        for (DType dt : {DType::f32, DType::f64}) {
          const BnArgs a = make_args(c, m, act);
          const Inputs in = make_inputs(a, dt);
          // f32: a few roundings per element after f64 statistics; f64: summation order only.
          expect_vs_ref(a, in, run_cpu(a, in), dt == DType::f32 ? 1e-6 : 1e-12);
        }
}

// SiLU's f32 exponential (exp_neg_abs_f32 in native/cpu/simd.h, 0 past |z| = 87)
// against std::exp over the whole range: eval mode with gamma 1, beta 0 and running mean 0 makes
// the kernels y = silu(z) and dx = invstd * dy * silu'(z) with z = x * invstd rounded to f32.
// The eval forward takes the fused polynomial (BnMathEval), and with BnArgs::training_math the
// training forward's unfused one (BnMath): each must give its policy's bits for the kernel's z,
// and both the bound. Allowed: a few f32 roundings (1e-6 relative, silu' relative to the size of
// its terms as in the unary silu test) plus 1e-35 absolute where the true values are below it.
ADVPROP_NATIVE_TEST(batchnorm_cpu_silu_f32_over_the_range) {
  std::vector<double> xs;
  for (int i = 0; i <= 40000; ++i) xs.push_back(-110.0 + 200.0 * i / 40000);
  for (double v : {-1e30, -88.0, -87.0001, -86.9999, -1e-30, -0.0, 0.0, 1e-30, 1e30}) xs.push_back(v);
  const int64_t n = static_cast<int64_t>(xs.size());
  BnArgs a = make_args({n, 1, 1, 1, 1, {{0, n}}}, BnMode::eval, BnAct::silu);
  Tensor x = Tensor::empty(bn_x_shape(a), DType::f32, kCpu), dy = Tensor::empty(bn_x_shape(a), DType::f32, kCpu);
  for (int64_t i = 0; i < n; ++i) set(x, i, xs[i]), set(dy, i, 1.0);
  Tensor g = filled(bn_param_shape(a), DType::f32, 1, 1, 1), b = filled(bn_param_shape(a), DType::f32, 1, 0, 0);
  Tensor rm = filled(bn_param_shape(a), DType::f32, 1, 0, 0), rv = filled(bn_param_shape(a), DType::f32, 1, 1, 1);
  Tensor y = Tensor::empty(bn_x_shape(a), DType::f32, kCpu), dx = Tensor::empty(bn_x_shape(a), DType::f32, kCpu);
  Tensor mean = Tensor::empty(bn_stat_shape(a), DType::f32, kCpu), invstd = Tensor::empty(bn_stat_shape(a), DType::f32, kCpu);
  Tensor dg = Tensor::empty(bn_param_shape(a), DType::f32, kCpu), db = Tensor::empty(bn_param_shape(a), DType::f32, kCpu);
  Tensor yt = Tensor::empty(bn_x_shape(a), DType::f32, kCpu);
  cpu::multi_batch_norm_forward(a, x, g, b, rm, rv, y, mean, invstd);
  BnArgs at = a;
  at.training_math = true;
  cpu::multi_batch_norm_forward(at, x, g, b, rm, rv, yt, mean, invstd);
  cpu::multi_batch_norm_backward(a, dy, x, g, b, mean, invstd, dx, dg, db);
  const float is = static_cast<float>(get(invstd, 0));
  int bad = 0;
  for (int64_t i = 0; i < n && bad < 5; ++i) {
    const float zf = (static_cast<float>(xs[i]) - 0.0f) * is + 0.0f;  // the kernel's z, in its order
    const double z = zf;
    const double s = 1 / (1 + std::exp(-z)), sn = 1 / (1 + std::exp(z));
    const double yref = z * s, dref = static_cast<double>(is) * s * (1 + z * sn);
    const double ytol = 1e-6 * std::fabs(yref) + 1e-35, dtol = 1e-6 * is * s * (1 + std::fabs(z)) + 1e-35;
    const float ye = static_cast<float>(get(y, i)), ytr = static_cast<float>(get(yt, i));
    const bool ok = std::fabs(ye - yref) <= ytol && std::fabs(get(dx, i) - dref) <= dtol &&
                    std::fabs(ytr - yref) <= ytol &&
                    cpu::f32_bits(ye) == cpu::f32_bits(bn_act_forward<BnAct::silu, cpu::BnMathEval>(zf)) &&
                    cpu::f32_bits(ytr) == cpu::f32_bits(bn_act_forward<BnAct::silu, cpu::BnMath>(zf));
    if (!ok) ++bad;
    EXPECT_MSG(ok, "x " + std::to_string(xs[i]) + ": y " + std::to_string(ye) + " vs " + std::to_string(yref) +
                       ", dx " + std::to_string(get(dx, i)) + " vs " + std::to_string(dref) + ", training_math's y " +
                       std::to_string(ytr));
  }
}

#if ADVPROP_WITH_SIM
ADVPROP_NATIVE_TEST(batchnorm_cuda_sim_matches_cpu) {
  const Device sim{DeviceType::cuda_sim, 0};
  for (const Case& c : kCases)
    for (BnMode m : {BnMode::train, BnMode::train_frozen, BnMode::eval})
      for (BnAct act : {BnAct::none, BnAct::silu})
        for (DType dt : {DType::f32, DType::f64}) {
          const BnArgs a = make_args(c, m, act);
          const Inputs in = make_inputs(a, dt);
          const Out ref = run_cpu(a, in);
          const Out got = run(a, in, cudasim::multi_batch_norm_forward, cudasim::multi_batch_norm_backward, test::to_sim,
                              test::to_cpu, sim);
          // Both sum in f64 in different orders; dx loses a digit to cancellation in f32.
          const double tol = dt == DType::f32 ? 2e-6 : 1e-12;
          const std::string what = case_str(a, dt);
          const Tensor* pairs[][2] = {{&got.y, &ref.y}, {&got.mean, &ref.mean}, {&got.invstd, &ref.invstd},
                                      {&got.rm, &ref.rm}, {&got.rv, &ref.rv}, {&got.dx, &ref.dx},
                                      {&got.dg, &ref.dg}, {&got.db, &ref.db}};
          const char* names[] = {"y", "mean", "invstd", "running_mean", "running_var", "dx", "dgamma", "dbeta"};
          for (int i = 0; i < 8; ++i) {
            const double e = rel_err(*pairs[i][0], values(*pairs[i][1]));
            EXPECT_MSG(e <= tol, what + ": " + names[i] + " error " + std::to_string(e));
          }
        }
}
#endif

ADVPROP_NATIVE_TEST(batchnorm_frozen_and_eval_leave_running_stats) {
  const BnArgs train = make_args(kCases[1], BnMode::train, BnAct::silu);
  const Inputs in = make_inputs(train, DType::f32);
  for (BnMode m : {BnMode::train_frozen, BnMode::eval}) {
    BnArgs a = train;
    a.mode = m;
    const Out o = run_cpu(a, in);
    for (int64_t i = 0; i < in.rm.numel(); ++i) {
      EXPECT_EQ(get(o.rm, i), get(in.rm, i));
      EXPECT_EQ(get(o.rv, i), get(in.rv, i));
    }
  }
}

ADVPROP_NATIVE_TEST(batchnorm_is_deterministic) {
  const BnArgs a = make_args(kCases[3], BnMode::train, BnAct::silu);
  const Inputs in = make_inputs(a, DType::f32);
  const Out o1 = run_cpu(a, in), o2 = run_cpu(a, in);
  for (int64_t i = 0; i < o1.y.numel(); ++i) {
    EXPECT_EQ(get(o1.y, i), get(o2.y, i));
    EXPECT_EQ(get(o1.dx, i), get(o2.dx, i));
  }
}

// The front-end (the kernels take checked arguments) with a's segments and options on in's
// tensors, x replaced by `x` when given.
void run_ops(const BnArgs& a, const Inputs& in, const Tensor* x = nullptr) {
  Tensor rm = copy(in.rm), rv = copy(in.rv);
  ops::multi_batch_norm(x ? *x : in.x, in.gamma, in.beta, rm, rv, a.segments, a.mode, a.act, a.momentum, a.eps);
}

ADVPROP_NATIVE_TEST(batchnorm_rejects_bad_arguments) {
  BnArgs a = make_args(kCases[0], BnMode::train, BnAct::none);
  const Inputs in = make_inputs(a, DType::f32);
  run_ops(a, in);  // the good call the others perturb
  BnArgs short_n = a;
  short_n.segments.pop_back();
  EXPECT_THROWS(run_ops(short_n, in), ErrorCode::Shape);
  // The kernels assert the same checks: arguments that reach one unchecked are a bug in advprop.
  EXPECT_THROWS(run_cpu(short_n, in), ErrorCode::Internal);
  BnArgs bad_domain = a;
  bad_domain.segments[0].domain = a.k;
  EXPECT_THROWS(run_ops(bad_domain, in), ErrorCode::Arg);
  BnArgs gap = a;
  gap.segments[1].start += 1;
  EXPECT_THROWS(run_ops(gap, in), ErrorCode::Arg);
  BnArgs wide = a;
  wide.c += 1;  // the tensors' C no longer agree: x has one channel more than gamma and the rest
  const Tensor wide_x = Tensor::empty(bn_x_shape(wide), DType::f32, kCpu);
  EXPECT_THROWS(run_ops(wide, in, &wide_x), ErrorCode::Shape);
  BnArgs eps = a;
  eps.eps = 0;
  EXPECT_THROWS(run_ops(eps, in), ErrorCode::Arg);
}

}  // namespace advprop
