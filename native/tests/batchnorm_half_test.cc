// The multi-domain batch norm (advprop/batchnorm.h) with bf16 and f16 data: x, dy, y and dx in
// the 16-bit type, gamma, beta, running statistics, mean, invstd, dgamma and dbeta in f32.
// - cpu and cuda-sim: every output equals the f32 kernels' for the widened x and dy, the
//   16-bit ones rounded once, bit for bit (the f32 path's statistics, the same arithmetic);
// - cpu against an f64 reference from the rounded inputs (forward written from the formulas,
//   backward from the saved mean/invstd the kernel defines it by): one 16-bit rounding plus the
//   f32 arithmetic's error (1e-5 of the size of the terms);
// - cuda-sim against the cpu: within one 16-bit ulp plus the f32 reductions' difference;
// - the front-end's dtype rules (f32 parameters with 16-bit data, ERR_DTYPE otherwise).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/batchnorm.h"
#include "elements.h"
#include "half_compare.h"
#include "harness.h"

namespace advprop {
namespace {

namespace hc = test::half_compare;

const Device kCpu{};
using test::get;

struct Case {
  int64_t n, h, w, c, k;
  std::vector<std::pair<int64_t, int64_t>> segs;  // (domain, count)
};

const std::vector<Case> kCases = {
    {3, 5, 7, 33, 2, {{0, 2}, {1, 1}}},                 // C past a vector of 16, wide rows
    {7, 2, 3, 6, 3, {{2, 1}, {0, 3}, {1, 2}, {0, 1}}},  // K = 3, domain 0 twice
    {4, 1, 1, 5, 2, {{1, 1}, {0, 3}}},                  // a one-element segment
    {2, 24, 25, 64, 2, {{0, 1}, {1, 1}}},               // whole vectors of 16: f32's register path
    {2, 40, 45, 4, 2, {{0, 1}, {1, 1}}},                // several chunks on both backends
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

struct Inputs {
  Tensor x, dy, gamma, beta, rm, rv;  // x, dy in the data dtype; the rest f32
};

Inputs make_inputs(const BnArgs& a, DType dt) {
  using hc::random_as;
  return {random_as(bn_x_shape(a), dt, 1, -2, 3), random_as(bn_x_shape(a), dt, 2, -1, 1),
          random_as(bn_param_shape(a), DType::f32, 3, 0.5, 1.5), random_as(bn_param_shape(a), DType::f32, 4, -0.5, 0.5),
          random_as(bn_param_shape(a), DType::f32, 5, -0.5, 0.5), random_as(bn_param_shape(a), DType::f32, 6, 0.5, 2)};
}

struct Out {
  Tensor y, mean, invstd, rm, rv, dx, dg, db;
};

using Fwd = void (*)(const BnArgs&, const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&, Tensor&,
                     Tensor&);
using Bwd = void (*)(const BnArgs&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     const Tensor&, Tensor&, Tensor&, Tensor&);

Tensor copy_cpu(const Tensor& t) { return hc::rounded_to(t, t.dtype()); }

// Forward then backward on `dev` (inputs uploaded, outputs brought back to the cpu).
Out run(const BnArgs& a, const Inputs& in, Fwd fwd, Bwd bwd, const Device& dev) {
  auto up = [&](const Tensor& t) { return dev == kCpu ? copy_cpu(t) : ops::to_device(t, dev); };
  auto down = [&](const Tensor& t) { return dev == kCpu ? t : ops::to_device(t, kCpu); };
  const DType dt = in.x.dtype(), pt = DType::f32;
  Tensor x = up(in.x), dy = up(in.dy), g = up(in.gamma), b = up(in.beta), rm = up(in.rm), rv = up(in.rv);
  Tensor y = Tensor::empty(bn_x_shape(a), dt, dev), mean = Tensor::empty(bn_stat_shape(a), pt, dev),
         invstd = Tensor::empty(bn_stat_shape(a), pt, dev), dx = Tensor::empty(bn_x_shape(a), dt, dev),
         dg = Tensor::empty(bn_param_shape(a), pt, dev), db = Tensor::empty(bn_param_shape(a), pt, dev);
  fwd(a, x, g, b, rm, rv, y, mean, invstd);
  bwd(a, dy, x, g, b, mean, invstd, dx, dg, db);
  return {down(y), down(mean), down(invstd), down(rm), down(rv), down(dx), down(dg), down(db)};
}

Out run_cpu(const BnArgs& a, const Inputs& in) {
  return run(a, in, cpu::multi_batch_norm_forward, cpu::multi_batch_norm_backward, kCpu);
}

// The same inputs with x and dy widened to f32 (exactly).
Inputs widened(const Inputs& in) {
  Inputs w = in;
  w.x = hc::rounded_to(in.x, DType::f32);
  w.dy = hc::rounded_to(in.dy, DType::f32);
  return w;
}

std::string case_str(const BnArgs& a, DType dt) {
  return std::string(dtype_name(dt)) + " " + bn_args_str(a) + " act " + bn_act_name(a.act);
}

// o (16-bit data) is the f32 result f rounded once: y and dx rounded, the f32 outputs identical.
void expect_rounded_f32(const std::string& what, const Out& o, const Out& f, DType dt) {
  hc::expect_same_bits(what + " y", o.y, hc::rounded_to(f.y, dt));
  hc::expect_same_bits(what + " dx", o.dx, hc::rounded_to(f.dx, dt));
  const Tensor* pairs[][2] = {{&o.mean, &f.mean}, {&o.invstd, &f.invstd}, {&o.rm, &f.rm},
                              {&o.rv, &f.rv},     {&o.dg, &f.dg},         {&o.db, &f.db}};
  const char* names[] = {" mean", " invstd", " running_mean", " running_var", " dgamma", " dbeta"};
  for (int i = 0; i < 6; ++i) hc::expect_same_bits(what + names[i], *pairs[i][0], *pairs[i][1]);
}

double act_f(BnAct a, double z) {
  if (a == BnAct::silu) return z / (1 + std::exp(-z));
  if (a == BnAct::relu) return z > 0 ? z : 0;
  return z;
}
double act_d(BnAct a, double z) {
  if (a == BnAct::silu) {
    const double s = 1 / (1 + std::exp(-z));
    return s * (1 + z * (1 - s));
  }
  if (a == BnAct::relu) return z > 0 ? 1 : 0;
  return 1;
}
// The size of act'(z)'s terms, which its f32 error is relative to: SiLU's s (1 + z (1 - s))
// cancels to 0 near z = -1.28. zterms, the size of z's terms, covers z's own error through
// SiLU's curvature (|silu''| < 1/2).
double act_d_size(BnAct a, double z, double zterms) {
  if (a != BnAct::silu) return std::fabs(act_d(a, z));
  const double s = 1 / (1 + std::exp(-z));
  return s * (1 + std::fabs(z) * (1 - s)) + zterms;
}

// Forward in f64 from the rounded inputs: y with its allowed f32 error, the running statistics.
// Backward in f64 from the kernel's saved mean and invstd: dx, dgamma, dbeta, with theirs.
struct Ref {
  std::vector<double> y, y_err, rm, rv, dx, dx_err, dg, dg_err, db, db_err;
};

Ref reference(const BnArgs& a, const Inputs& in, const Out& o) {
  const int64_t C = a.c, hw = a.h * a.w, KC = a.k * C;
  const double e = 1e-5;  // f32 arithmetic: a few roundings of the terms' size, and SiLU's exp
  Ref r;
  r.y.assign(in.x.numel(), 0), r.y_err.assign(in.x.numel(), 0), r.dx.assign(in.x.numel(), 0);
  r.dx_err.assign(in.x.numel(), 0);
  r.rm = hc::values_of(in.rm), r.rv = hc::values_of(in.rv);
  r.dg.assign(KC, 0), r.dg_err.assign(KC, 0), r.db.assign(KC, 0), r.db_err.assign(KC, 0);
  for (size_t si = 0; si < a.segments.size(); ++si) {
    const BnSegment& s = a.segments[si];
    const int64_t rows = s.count * hw, base = s.start * hw, dc = s.domain * C;
    for (int64_t c = 0; c < C; ++c) {
      const auto X = [&](int64_t r) { return get(in.x, (base + r) * C + c); };
      double mean = r.rm[dc + c], var = r.rv[dc + c];
      if (a.mode != BnMode::eval) {
        mean = 0, var = 0;
        for (int64_t q = 0; q < rows; ++q) mean += X(q);
        mean /= rows;
        for (int64_t q = 0; q < rows; ++q) var += (X(q) - mean) * (X(q) - mean);
        var /= rows;
      }
      const double g = get(in.gamma, dc + c), b = get(in.beta, dc + c), is = 1 / std::sqrt(var + a.eps);
      for (int64_t q = 0; q < rows; ++q) {
        const int64_t i = (base + q) * C + c;
        r.y[i] = act_f(a.act, g * (X(q) - mean) * is + b);
        r.y_err[i] = e * (std::fabs(g) * (std::fabs(X(q)) + std::fabs(mean)) * is + std::fabs(b));
      }
      if (a.mode == BnMode::train) {
        const double unb = rows > 1 ? var * rows / (rows - 1) : var;
        r.rm[dc + c] = a.momentum * r.rm[dc + c] + (1 - a.momentum) * mean;
        r.rv[dc + c] = a.momentum * r.rv[dc + c] + (1 - a.momentum) * unb;
      }
      // Backward, by the saved statistics.
      const double sm = get(o.mean, si * C + c), si_ = get(o.invstd, si * C + c);
      double sg = 0, sgx = 0, ag = 0, agx = 0;
      std::vector<double> gs(rows), ga(rows), xh(rows);
      for (int64_t q = 0; q < rows; ++q) {
        xh[q] = (X(q) - sm) * si_;
        const double dyv = get(in.dy, (base + q) * C + c), z = g * xh[q] + b;
        const double zterms = std::fabs(g) * (std::fabs(X(q)) + std::fabs(sm)) * si_ + std::fabs(b);
        gs[q] = dyv * act_d(a.act, z);
        ga[q] = std::fabs(dyv) * act_d_size(a.act, z, zterms);
        sg += gs[q], sgx += gs[q] * xh[q], ag += ga[q], agx += ga[q] * std::fabs(xh[q]);
      }
      r.db[dc + c] += sg, r.dg[dc + c] += sgx, r.db_err[dc + c] += e * ag, r.dg_err[dc + c] += e * agx;
      const bool eval = a.mode == BnMode::eval;
      for (int64_t q = 0; q < rows; ++q) {
        const int64_t i = (base + q) * C + c;
        const double k = g * si_, dyv = std::fabs(get(in.dy, i));
        r.dx[i] = k * (gs[q] - (eval ? 0 : sg / rows + xh[q] * sgx / rows));
        r.dx_err[i] = e * std::fabs(k) * (ga[q] + (eval ? 0 : ag / rows + std::fabs(xh[q]) * agx / rows));
        // relu's mask may flip where f32 puts z on the other side of 0.
        if (a.act == BnAct::relu && std::fabs(g * xh[q] + b) < 1e-4) r.dx_err[i] += std::fabs(k) * dyv;
      }
    }
  }
  return r;
}

std::vector<double> stat_err(const std::vector<double>& v) {
  std::vector<double> e(v.size());
  for (size_t i = 0; i < v.size(); ++i) e[i] = 2e-6 * (std::fabs(v[i]) + 1);
  return e;
}

}  // namespace

ADVPROP_NATIVE_TEST(batchnorm_half_cpu_is_f32_rounded_once) {
  for (const Case& c : kCases)
    for (BnMode m : {BnMode::train, BnMode::train_frozen, BnMode::eval})
      for (BnAct act : {BnAct::none, BnAct::silu, BnAct::relu})
        for (DType dt : {DType::bf16, DType::f16}) {
          const BnArgs a = make_args(c, m, act);
          const Inputs in = make_inputs(a, dt);
          expect_rounded_f32("cpu " + case_str(a, dt), run_cpu(a, in), run_cpu(a, widened(in)), dt);
        }
}

ADVPROP_NATIVE_TEST(batchnorm_half_cpu_matches_f64_reference) {
  for (const Case& c : kCases)
    for (BnMode m : {BnMode::train, BnMode::train_frozen, BnMode::eval})
      for (BnAct act : {BnAct::none, BnAct::silu, BnAct::relu})
        for (DType dt : {DType::bf16, DType::f16}) {
          const BnArgs a = make_args(c, m, act);
          const Inputs in = make_inputs(a, dt);
          const Out o = run_cpu(a, in);
          const Ref r = reference(a, in, o);
          const std::string what = "cpu " + case_str(a, dt);
          hc::expect_within(what + " y", o.y, r.y, r.y_err);
          hc::expect_within(what + " running_mean", o.rm, r.rm, stat_err(r.rm));
          hc::expect_within(what + " running_var", o.rv, r.rv, stat_err(r.rv));
          hc::expect_within(what + " dx", o.dx, r.dx, r.dx_err);
          hc::expect_within(what + " dgamma", o.dg, r.dg, r.dg_err);
          hc::expect_within(what + " dbeta", o.db, r.db, r.db_err);
        }
}

#if ADVPROP_WITH_SIM
ADVPROP_NATIVE_TEST(batchnorm_half_cuda_sim_matches_cpu) {
  const Device sim{DeviceType::cuda_sim, 0};
  for (const Case& c : kCases)
    for (BnMode m : {BnMode::train, BnMode::train_frozen, BnMode::eval})
      for (BnAct act : {BnAct::none, BnAct::silu})
        for (DType dt : {DType::bf16, DType::f16}) {
          const BnArgs a = make_args(c, m, act);
          const Inputs in = make_inputs(a, dt);
          const std::string what = "cuda-sim " + case_str(a, dt);
          const Out got = run(a, in, cudasim::multi_batch_norm_forward, cudasim::multi_batch_norm_backward, sim);
          // The simulator's own f32 kernels on the widened data, rounded once.
          const Out f = run(a, widened(in), cudasim::multi_batch_norm_forward, cudasim::multi_batch_norm_backward, sim);
          expect_rounded_f32(what, got, f, dt);
          // Against the cpu: the f32 statistics sum in another order (2e-6 of the terms, as the
          // f32 comparison allows), then one 16-bit ulp for y and dx.
          const Out ref = run_cpu(a, in);
          const Ref r = reference(a, in, ref);
          hc::expect_backends_agree(what + " y", got.y, ref.y, hc::scaled(r.y_err, 0.5));
          hc::expect_backends_agree(what + " dx", got.dx, ref.dx, hc::scaled(r.dx_err, 0.5));
          const Tensor* f32s[][2] = {{&got.mean, &ref.mean}, {&got.invstd, &ref.invstd}, {&got.rm, &ref.rm},
                                     {&got.rv, &ref.rv}};
          const char* names[] = {" mean", " invstd", " running_mean", " running_var"};
          for (int i = 0; i < 4; ++i) {
            const std::vector<double> want = hc::values_of(*f32s[i][1]);
            hc::expect_within(what + names[i], *f32s[i][0], want, stat_err(want));
          }
          hc::expect_within(what + " dgamma", got.dg, hc::values_of(ref.dg), r.dg_err);
          hc::expect_within(what + " dbeta", got.db, hc::values_of(ref.db), r.db_err);
        }
}
#endif

// The front-end: 16-bit x with f32 parameters; outputs in x's dtype and f32; anything else for
// the parameters, or an integer x, is ERR_DTYPE naming the argument.
ADVPROP_NATIVE_TEST(batchnorm_half_front_end_dtypes) {
  const BnArgs a = make_args(kCases[0], BnMode::train, BnAct::silu);
  for (DType dt : {DType::bf16, DType::f16}) {
    const Inputs in = make_inputs(a, dt);
    Tensor rm = copy_cpu(in.rm), rv = copy_cpu(in.rv);
    const ops::BnForwardResult f =
        ops::multi_batch_norm(in.x, in.gamma, in.beta, rm, rv, a.segments, a.mode, a.act, a.momentum, a.eps);
    EXPECT(f.y.dtype() == dt && f.mean.dtype() == DType::f32 && f.invstd.dtype() == DType::f32);
    const ops::BnBackwardResult b =
        ops::multi_batch_norm_backward(in.dy, in.x, in.gamma, in.beta, f.mean, f.invstd, a.segments, a.mode, a.act, a.eps);
    EXPECT(b.dx.dtype() == dt && b.dgamma.dtype() == DType::f32 && b.dbeta.dtype() == DType::f32);
    const Tensor g16 = hc::rounded_to(in.gamma, dt);
    bool named = false;
    try {
      ops::multi_batch_norm(in.x, g16, in.beta, rm, rv, a.segments, a.mode, a.act, a.momentum, a.eps);
    } catch (const Error& e) {
      EXPECT(e.code() == ErrorCode::DType);
      named = std::string(e.what()).find("'gamma'") != std::string::npos;
    }
    EXPECT(named);
    const Tensor dy32 = hc::rounded_to(in.dy, DType::f32);
    EXPECT_THROWS(ops::multi_batch_norm_backward(dy32, in.x, in.gamma, in.beta, f.mean, f.invstd, a.segments, a.mode,
                                                 a.act, a.eps),
                  ErrorCode::DType);
    const Tensor mean16 = hc::rounded_to(f.mean, dt);
    EXPECT_THROWS(ops::multi_batch_norm_backward(in.dy, in.x, in.gamma, in.beta, mean16, f.invstd, a.segments, a.mode,
                                                 a.act, a.eps),
                  ErrorCode::DType);
  }
  const Inputs in = make_inputs(a, DType::f32);
  Tensor rm = copy_cpu(in.rm), rv = copy_cpu(in.rv);
  const Tensor xi = Tensor::empty(in.x.shape(), DType::i32, kCpu);
  EXPECT_THROWS(ops::multi_batch_norm(xi, in.gamma, in.beta, rm, rv, a.segments, a.mode, a.act, a.momentum, a.eps),
                ErrorCode::DType);
  // f32 data keeps its own rule: f64 parameters are refused.
  const Tensor g64 = hc::rounded_to(in.gamma, DType::f64);
  EXPECT_THROWS(ops::multi_batch_norm(in.x, g64, in.beta, rm, rv, a.segments, a.mode, a.act, a.momentum, a.eps),
                ErrorCode::DType);
}

}  // namespace advprop
