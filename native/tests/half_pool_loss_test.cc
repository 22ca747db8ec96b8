// Global average pooling, squeeze-excite's channel scale (forward, both gradients, scale-add) and
// softmax cross-entropy with 16-bit activations, on the cpu against an f64 reference from the
// rounded inputs: each stored value one rounding of a value within the f32 arithmetic's error
// (exact products, f32 sums over the positions), the loss and lse in f32, dlogits in the logits'
// dtype. cuda-sim gives the cpu's bits for the pointwise ones and lands on the same reference
// (and within one ulp of the cpu) for the sums.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/loss.h"
#include "advprop/ops.h"
#include "advprop/pool.h"
#include "half_check.h"
#include "harness.h"

namespace advprop {
namespace {

using test::Values;

const Device kCpu{};
const DType kHalf[] = {DType::bf16, DType::f16};
const double kU32 = std::ldexp(1.0, -24);

// ---- pooling and channel scale ------------------------------------------------------------------

void check_pool(DType dt, const Shape& s, uint64_t seed) {
  const int64_t N = s[0], P = s[1] * s[2], C = s[3], n = N * P * C;
  const std::string what = std::string(dtype_name(dt)) + " " + shape_str(s);
  const Values vx = test::uniform_values(n, seed, 0.5, 1.5, dt), vdy = test::uniform_values(n, seed + 1, -1, 1, dt);
  const Values vs = test::uniform_values(N * C, seed + 2, -2, 2, dt), vp = test::uniform_values(N * C, seed + 3, -1, 1, dt);
  const Tensor x = test::tensor_of(vx, s, dt, kCpu), dy = test::tensor_of(vdy, s, dt, kCpu);
  const Tensor sc = test::tensor_of(vs, {N, C}, dt, kCpu), dp = test::tensor_of(vp, {N, C}, dt, kCpu);
  const double inv_p = static_cast<double>(1.0f / static_cast<float>(P));  // the f32 scale the kernels use

  Values pool(N * C, 0.0), pool_err(N * C, 0.0), ds(N * C, 0.0), ds_err(N * C, 0.0);
  Values dxp(n), dxp_err(n), y(n), dx(n);
  for (int64_t e = 0; e < n; ++e) {
    const int64_t c = e % C, nn = e / (P * C), nc = nn * C + c;
    pool[nc] += vx[e];
    pool_err[nc] += std::fabs(vx[e]);
    ds[nc] += vdy[e] * vx[e];
    ds_err[nc] += std::fabs(vdy[e] * vx[e]);
    dxp[e] = vp[nc] * inv_p;
    dxp_err[e] = kU32 * std::fabs(dxp[e]);
    y[e] = vx[e] * vs[nc];
    dx[e] = vdy[e] * vs[nc];
  }
  for (int64_t i = 0; i < N * C; ++i) {
    pool[i] /= static_cast<double>(P);
    // Recursive f32 summation: at most (terms + 2) roundings of the running |sum|.
    pool_err[i] *= (P + 2) * kU32 / static_cast<double>(P);
    ds_err[i] *= (P + 2) * kU32;
  }
  const Tensor gp = ops::global_avg_pool(x), gdxp = ops::global_avg_pool_backward(dp, s);
  const Tensor gy = ops::channel_scale(x, sc);
  Tensor gdx, gds, gdx_only, gds_only, unused;
  ops::channel_scale_backward(x, sc, dy, true, true, &gdx, &gds);
  ops::channel_scale_backward(x, sc, dy, true, false, &gdx_only, &unused);
  ops::channel_scale_backward(x, sc, dy, false, true, &unused, &gds_only);
  const Tensor gya = ops::channel_scale_add(dy, sc, dp);
  REQUIRE(gp.dtype() == dt && gds.dtype() == dt && gya.dtype() == dt);

  // The scale-add rounds dy * s to 16 bits (as channelScale stores it) before adding dp.
  const Values scaled = test::values_of(ops::channel_scale(dy, sc));
  Values ya(n), ya_err(n);
  for (int64_t e = 0; e < n; ++e) {
    ya[e] = scaled[e] + vp[(e / (P * C)) * C + e % C];
    ya_err[e] = kU32 * std::fabs(ya[e]);
  }
  EXPECT_ROUNDED(what + " pool", gp, pool, pool_err);
  EXPECT_ROUNDED(what + " pool backward", gdxp, dxp, dxp_err);
  EXPECT_ROUNDED(what + " scale", gy, y, {});
  EXPECT_ROUNDED(what + " dx (with ds)", gdx, dx, {});
  EXPECT_ROUNDED(what + " dx (alone)", gdx_only, dx, {});
  EXPECT_ROUNDED(what + " ds (with dx)", gds, ds, ds_err);
  EXPECT_SAME_BITS(what + " ds alone = ds with dx", gds_only, gds);
  EXPECT_ROUNDED(what + " scale-add", gya, ya, ya_err);
  if (!test::kWithSim) return;

  const Tensor sx = test::sim_copy(x), sdy = test::sim_copy(dy), ss = test::sim_copy(sc), sdp = test::sim_copy(dp);
  const Tensor hp = ops::global_avg_pool(sx);
  EXPECT_ROUNDED(what + " pool cuda-sim", hp, pool, pool_err);
  EXPECT_WITHIN_ULP(what + " pool cuda-sim against cpu", hp, gp);
  EXPECT_SAME_BITS(what + " pool backward cuda-sim", ops::global_avg_pool_backward(sdp, s), gdxp);
  EXPECT_SAME_BITS(what + " scale cuda-sim", ops::channel_scale(sx, ss), gy);
  Tensor hdx, hds, hds_only;
  ops::channel_scale_backward(sx, ss, sdy, true, true, &hdx, &hds);
  ops::channel_scale_backward(sx, ss, sdy, false, true, &unused, &hds_only);
  EXPECT_SAME_BITS(what + " dx cuda-sim", hdx, gdx);
  EXPECT_ROUNDED(what + " ds cuda-sim", hds, ds, ds_err);
  EXPECT_WITHIN_ULP(what + " ds cuda-sim against cpu", hds, gds);
  EXPECT_SAME_BITS(what + " ds alone cuda-sim", hds_only, hds);
  EXPECT_SAME_BITS(what + " scale-add cuda-sim", ops::channel_scale_add(sdy, ss, sdp), gya);
}

ADVPROP_NATIVE_TEST(half_pool_and_channel_scale_match_f64_and_sim) {
  uint64_t seed = 900;
  for (DType dt : kHalf)
    for (const Shape& s : {Shape{2, 5, 7, 19}, Shape{2, 80, 80, 3}, Shape{3, 4, 3, 40}, Shape{1, 1, 1, 1}})
      check_pool(dt, s, seed += 4);
  const Tensor x = Tensor::empty({2, 3, 3, 4}, DType::bf16, kCpu);
  EXPECT_THROWS(ops::channel_scale(x, Tensor::empty({2, 4}, DType::f32, kCpu)), ErrorCode::DType);
  EXPECT_THROWS(ops::channel_scale_add(x, Tensor::empty({2, 4}, DType::bf16, kCpu), Tensor::empty({2, 4}, DType::f16, kCpu)),
                ErrorCode::DType);
}

// ---- cross-entropy ----------------------------------------------------------------------------

struct XentRef {
  Values loss, lse, loss_err_sim, lse_err_sim;
  std::vector<int32_t> argmax;
};

// In long double from the rounded logits; the f32 error bounds of cuda-sim's row sums (K terms
// of at most 1 for sum exp, of at most the row's range for sum (m - z)).
XentRef xent_reference(const Values& z, const std::vector<int32_t>& labels, int64_t N, int64_t K, double eps) {
  XentRef r;
  for (int64_t n = 0; n < N; ++n) {
    const double* row = z.data() + n * K;
    long double m = row[0], se = 0, gap = 0;
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k) {
      if (row[k] > row[best]) best = k;
      m = std::fmax(m, static_cast<long double>(row[k]));
    }
    for (int64_t k = 0; k < K; ++k) {
      se += std::exp(static_cast<long double>(row[k]) - m);
      gap += m - row[k];
    }
    const long double log_se = std::log(se), gy = m - row[labels[n]];
    const double on = 1.0 - eps, off = eps / static_cast<double>(K);
    r.lse.push_back(static_cast<double>(m + log_se));
    r.loss.push_back(static_cast<double>(log_se + on * gy + off * gap));
    const double terms = static_cast<double>(K + 4);
    r.lse_err_sim.push_back(4 * kU32 * (terms + std::fabs(static_cast<double>(m + log_se))));
    r.loss_err_sim.push_back(4 * kU32 * (terms + static_cast<double>(gy) + off * terms * static_cast<double>(gap)));
    r.argmax.push_back(static_cast<int32_t>(best));
  }
  return r;
}

void check_xent(DType dt, int64_t N, int64_t K, double eps, uint64_t seed) {
  const std::string what = std::string(dtype_name(dt)) + " N=" + std::to_string(N) + " K=" + std::to_string(K);
  const Values vz = test::uniform_values(N * K, seed, -8, 8, dt);
  std::vector<int32_t> lab(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) lab[n] = static_cast<int32_t>((n * 7919 + 13) % K);
  const Tensor z = test::tensor_of(vz, {N, K}, dt, kCpu);
  const Tensor labels = ops::from_host(lab.data(), lab.size() * sizeof(int32_t), {N}, DType::i32, kCpu);
  const XentRef ref = xent_reference(vz, lab, N, K, eps);
  Tensor loss, lse;
  ops::cross_entropy(z, labels, eps, true, &loss, &lse);
  REQUIRE(loss.dtype() == DType::f32 && lse.dtype() == DType::f32);
  // The cpu computes in double: far inside one f32 rounding.
  Values loss_err(ref.loss.size()), lse_err(ref.lse.size());
  for (size_t i = 0; i < loss_err.size(); ++i) {
    loss_err[i] = 1e-13 * static_cast<double>(K) * (1 + std::fabs(ref.loss[i]));
    lse_err[i] = 1e-13 * static_cast<double>(K) * (1 + std::fabs(ref.lse[i]));
  }
  EXPECT_ROUNDED(what + " loss", loss, ref.loss, loss_err);
  EXPECT_ROUNDED(what + " lse", lse, ref.lse, lse_err);

  // Backward from the saved f32 lse, with dy [N] (scale 0.5) and dy [] (the mean's 1/N).
  const Values vlse = test::values_of(lse), vg = test::uniform_values(N, seed + 1, -2, 2, DType::f32);
  const Tensor g = test::tensor_of(vg, {N}, DType::f32, kCpu), g0 = test::tensor_of({1.5}, {}, DType::f32, kCpu);
  for (bool scalar : {false, true}) {
    const double scale = scalar ? 1.0 / static_cast<double>(N) : 0.5;
    const Tensor dz = ops::cross_entropy_backward(z, labels, lse, scalar ? g0 : g, scale, eps);
    REQUIRE(dz.dtype() == dt);
    Values want(static_cast<size_t>(N * K)), err_sim(want.size());
    for (int64_t i = 0; i < N * K; ++i) {
      const int64_t n = i / K, k = i % K;
      const double gn = static_cast<double>(static_cast<float>(scale)) * (scalar ? 1.5 : vg[n]);
      const double t = (k == lab[n] ? 1.0 - eps : 0.0) + eps / static_cast<double>(K);
      const double d = vz[i] - vlse[n], p = std::exp(d);
      want[i] = (p - t) * gn;
      // f32: z - lse, expf, the subtraction, the product and g's own rounding.
      err_sim[i] = std::fabs(gn) * (p * (std::fabs(d) + 3) + p + t) * 2 * kU32;
    }
    const std::string w = what + (scalar ? " dlogits (dy [])" : " dlogits");
    EXPECT_ROUNDED(w, dz, want, Values(want.size(), 1e-12 * (1 + eps)));
    if (test::kWithSim) {
      const Tensor hz = ops::cross_entropy_backward(test::sim_copy(z), test::sim_copy(labels), test::sim_copy(lse),
                                                    test::sim_copy(scalar ? g0 : g), scale, eps);
      EXPECT_ROUNDED(w + " cuda-sim", hz, want, err_sim);
    }
  }
  std::vector<int32_t> pred(static_cast<size_t>(N));
  ops::to_host(ops::argmax_rows(z), pred.data(), pred.size() * sizeof(int32_t));
  for (int64_t n = 0; n < N; ++n) EXPECT_EQ(pred[n], ref.argmax[n]);
  if (!test::kWithSim) return;
  Tensor hl, hs;
  ops::cross_entropy(test::sim_copy(z), test::sim_copy(labels), eps, true, &hl, &hs);
  EXPECT_ROUNDED(what + " loss cuda-sim", hl, ref.loss, ref.loss_err_sim);
  EXPECT_ROUNDED(what + " lse cuda-sim", hs, ref.lse, ref.lse_err_sim);
  std::vector<int32_t> hpred(static_cast<size_t>(N));
  ops::to_host(ops::argmax_rows(test::sim_copy(z)), hpred.data(), hpred.size() * sizeof(int32_t));
  EXPECT(hpred == pred);
}

ADVPROP_NATIVE_TEST(half_cross_entropy_matches_f64_and_sim) {
  uint64_t seed = 70;
  for (DType dt : kHalf) {
    check_xent(dt, 37, 10, 0.1, seed += 2);
    check_xent(dt, 5, 1000, 0.0, seed += 2);
    check_xent(dt, 2, 1, 0.1, seed += 2);
  }
}

// The loss's gradient and the saved lse are f32 for 16-bit logits; f32 logits keep theirs.
ADVPROP_NATIVE_TEST(half_cross_entropy_statistics_are_f32) {
  const Tensor z = test::tensor_of({0.5, -1, 2, 0.25, 1, -3}, {2, 3}, DType::bf16, kCpu);
  const int32_t lab[2] = {2, 0};
  const Tensor labels = ops::from_host(lab, sizeof lab, {2}, DType::i32, kCpu);
  const Tensor f1 = test::tensor_of({1, 1}, {2}, DType::f32, kCpu), h1 = test::tensor_of({1, 1}, {2}, DType::bf16, kCpu);
  EXPECT_THROWS(ops::cross_entropy_backward(z, labels, h1, f1, 1.0, 0.0), ErrorCode::DType);  // lse bf16
  EXPECT_THROWS(ops::cross_entropy_backward(z, labels, f1, h1, 1.0, 0.0), ErrorCode::DType);  // dy bf16
  const Tensor d = ops::cross_entropy_backward(z, labels, f1, f1, 1.0, 0.0);
  EXPECT(d.dtype() == DType::bf16);
  const Tensor z32 = test::tensor_of({0.5, -1, 2, 0.25, 1, -3}, {2, 3}, DType::f32, kCpu);
  const Tensor d64 = test::tensor_of({1, 1}, {2}, DType::f64, kCpu);
  EXPECT_THROWS(ops::cross_entropy_backward(z32, labels, d64, f1, 1.0, 0.0), ErrorCode::DType);
  EXPECT_THROWS(ops::cross_entropy_backward(z32, labels, f1, h1, 1.0, 0.0), ErrorCode::DType);
}

}  // namespace
}  // namespace advprop
