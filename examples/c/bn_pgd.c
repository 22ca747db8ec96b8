/* Calls the advprop C API on the CPU (host memory) and checks every result against values this
 * program computes itself in plain C: the multi-domain batch norm forward and backward (two
 * domains, segments [[0, 2], [1, 2]], NHWC f32), one L-infinity PGD step and conversions to
 * bf16 and f16 and back (advprop_cast), plus a bad call that must fail with a message. Prints
 * what it checked; exits 1 on any mismatch.
 *
 *   cc -std=c99 -I native/include examples/c/bn_pgd.c -L build/Release -ladvprop \
 *      -Wl,-rpath,$PWD/build/Release -lm -o bn_pgd && ./bn_pgd
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "advprop/advprop.h"

enum { N = 4, H = 2, W = 3, C = 3, K = 2, S = 2, HW = H * W, NX = N * HW * C, PER = 2 * HW };

static int failures = 0, checks = 0;

/* f32 results against an f64 reference: the library accumulates in f64 and rounds once or a few
 * times to f32 (relative error ~6e-8 per rounding); 1e-5 relative + 1e-6 absolute allows for that
 * on values of order 1 and still catches any wrong formula (errors of order 1e-2 and up). */
static void near(const char* what, int i, double got, double want) {
  ++checks;
  if (!(fabs(got - want) <= 1e-6 + 1e-5 * fabs(want))) {
    if (failures < 20) printf("MISMATCH %s[%d]: got %.9g, want %.9g\n", what, i, got, want);
    ++failures;
  }
}

static void exact(const char* what, int i, float got, float want) {
  ++checks;
  if (memcmp(&got, &want, sizeof got) != 0) {
    if (failures < 20) printf("MISMATCH %s[%d]: got %.9g, want %.9g (bitwise)\n", what, i, got, want);
    ++failures;
  }
}

static void expect_ok(const char* what, advprop_status st) {
  ++checks;
  if (st != ADVPROP_OK) {
    printf("FAILED %s: status %d: %s\n", what, (int)st, advprop_last_error());
    ++failures;
  }
}

/* A contiguous host f32 descriptor. */
static advprop_tensor desc(float* data, int ndim, const int64_t* shape) {
  advprop_tensor t;
  int64_t stride = 1;
  int i;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = ADVPROP_F32;
  t.device_type = ADVPROP_DEVICE_CPU;
  t.device_index = 0;
  t.ndim = ndim;
  for (i = ndim - 1; i >= 0; --i) {
    t.shape[i] = shape[i];
    t.strides[i] = stride;
    stride *= shape[i];
  }
  return t;
}

/* x rounded to a binary format with `mant` fraction bits and smallest normal exponent `emin`, to
 * nearest with ties to even: the scaled value x / ulp is exact and nearbyint rounds it in the
 * default rounding mode (to nearest even). No overflow for these inputs (|x| < 1). */
static double round_to(double x, int mant, int emin) {
  int e;
  double ulp;
  if (x == 0) return x;
  frexp(x, &e); /* |x| in [2^(e-1), 2^e) */
  ulp = ldexp(1.0, (e - 1 > emin ? e - 1 : emin) - mant);
  return nearbyint(x / ulp) * ulp;
}

/* The bf16 pattern of a float: its upper 16 bits after rounding (the value is checked above). */
static uint16_t bf16_bits(float v) {
  uint32_t u;
  float r = (float)round_to(v, 7, -126);
  memcpy(&u, &r, sizeof u);
  return (uint16_t)(u >> 16);
}

/* Deterministic test data in [-1, 1): a small linear congruential generator. */
static unsigned lcg_state = 12345u;
static float next_value(void) {
  lcg_state = lcg_state * 1103515245u + 12345u;
  return (float)((lcg_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

int main(void) {
  static float x[NX], y[NX], dy[NX], dx[NX];
  float gamma[K * C], beta[K * C], rmean[K * C], rvar[K * C], rmean0[K * C], rvar0[K * C];
  float mean[S * C], invstd[S * C], dgamma[K * C], dbeta[K * C];
  const int64_t xs[4] = {N, H, W, C}, ps[2] = {K, C}, ss[2] = {S, C};
  const advprop_bn_segment segs[S] = {{0, 0, 2}, {1, 2, 2}};
  const double momentum = 0.9, eps = 1e-3;
  advprop_tensor tx, ty, tg, tb, trm, trv, tm, ti, tdy, tdx, tdg, tdb;
  double ref_mean[S][C], ref_var[S][C];
  int i, s, c, e;

  printf("advprop C API %s\n", advprop_version());
  for (i = 0; i < NX; ++i) x[i] = 2.0f * next_value() + 0.5f;
  for (i = 0; i < NX; ++i) dy[i] = next_value();
  for (i = 0; i < K * C; ++i) {
    gamma[i] = 1.0f + 0.5f * next_value();
    beta[i] = next_value();
    rmean0[i] = rmean[i] = 0.1f * next_value();
    rvar0[i] = rvar[i] = 1.0f + 0.2f * next_value();
  }
  tx = desc(x, 4, xs), ty = desc(y, 4, xs), tdy = desc(dy, 4, xs), tdx = desc(dx, 4, xs);
  tg = desc(gamma, 2, ps), tb = desc(beta, 2, ps), trm = desc(rmean, 2, ps), trv = desc(rvar, 2, ps);
  tdg = desc(dgamma, 2, ps), tdb = desc(dbeta, 2, ps);
  tm = desc(mean, 2, ss), ti = desc(invstd, 2, ss);

  /* ---- batch norm forward (train): per segment s (domain s here) and channel c ---- */
  expect_ok("advprop_multi_batch_norm_forward",
            advprop_multi_batch_norm_forward(&tx, &tg, &tb, &trm, &trv, segs, S, ADVPROP_BN_TRAIN, ADVPROP_ACT_NONE,
                                             momentum, eps, &ty, &tm, &ti, NULL));
  for (s = 0; s < S; ++s) {
    const int d = (int)segs[s].domain, first = (int)segs[s].start * HW;
    for (c = 0; c < C; ++c) {
      double sum = 0, sq = 0;
      for (e = 0; e < PER; ++e) sum += x[(first + e) * C + c];
      ref_mean[s][c] = sum / PER;
      for (e = 0; e < PER; ++e) sq += pow(x[(first + e) * C + c] - ref_mean[s][c], 2);
      ref_var[s][c] = sq / PER;
      near("mean", s * C + c, mean[s * C + c], ref_mean[s][c]);
      near("invstd", s * C + c, invstd[s * C + c], 1 / sqrt(ref_var[s][c] + eps));
      near("running_mean", d * C + c, rmean[d * C + c], momentum * rmean0[d * C + c] + (1 - momentum) * ref_mean[s][c]);
      near("running_var", d * C + c, rvar[d * C + c],
           momentum * rvar0[d * C + c] + (1 - momentum) * ref_var[s][c] * PER / (PER - 1));
      for (e = 0; e < PER; ++e) {
        const int j = (first + e) * C + c;
        const double xhat = (x[j] - ref_mean[s][c]) / sqrt(ref_var[s][c] + eps);
        near("y", j, y[j], gamma[d * C + c] * xhat + beta[d * C + c]);
      }
    }
  }
  printf("checked batch norm forward: y, mean, invstd and the running statistics of 2 domains\n");

  /* ---- batch norm backward (train) ---- */
  expect_ok("advprop_multi_batch_norm_backward",
            advprop_multi_batch_norm_backward(&tdy, &tx, &tg, &tb, &tm, &ti, segs, S, ADVPROP_BN_TRAIN,
                                              ADVPROP_ACT_NONE, eps, &tdx, &tdg, &tdb, NULL));
  for (s = 0; s < S; ++s) {
    const int d = (int)segs[s].domain, first = (int)segs[s].start * HW;
    for (c = 0; c < C; ++c) {
      const double is = 1 / sqrt(ref_var[s][c] + eps);
      double sg = 0, sgx = 0;
      for (e = 0; e < PER; ++e) {
        const int j = (first + e) * C + c;
        sg += dy[j];
        sgx += dy[j] * (x[j] - ref_mean[s][c]) * is;
      }
      near("dbeta", d * C + c, dbeta[d * C + c], sg);
      near("dgamma", d * C + c, dgamma[d * C + c], sgx);
      for (e = 0; e < PER; ++e) {
        const int j = (first + e) * C + c;
        const double xhat = (x[j] - ref_mean[s][c]) * is;
        near("dx", j, dx[j], gamma[d * C + c] * is * (dy[j] - sg / PER - xhat * sgx / PER));
      }
    }
  }
  printf("checked batch norm backward: dx, dgamma, dbeta\n");

  /* ---- PGD L-infinity step, written in place over x_adv (out may alias an input) ---- */
  {
    static float img[NX], adv[NX], grad[NX], want[NX];
    const float peps = 0.1f, alpha = 0.03f;
    advprop_tensor timg = desc(img, 4, xs), tadv = desc(adv, 4, xs), tgrad = desc(grad, 4, xs);
    for (i = 0; i < NX; ++i) {
      img[i] = 0.5f + 0.5f * next_value();   /* in [0, 1): some near the clamp bounds */
      adv[i] = img[i] + 0.12f * next_value(); /* some already outside the eps-ball */
      grad[i] = i % 7 == 0 ? 0.0f : next_value();
    }
    /* Every operation in f32, as the kernel documents: bit-exact. */
    for (i = 0; i < NX; ++i) {
      const float sg = grad[i] > 0 ? 1.0f : grad[i] < 0 ? -1.0f : 0.0f;
      float v = adv[i] + alpha * sg;
      const float lo = img[i] - peps, hi = img[i] + peps;
      v = v < lo ? lo : v > hi ? hi : v;
      want[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    }
    expect_ok("advprop_pgd_step", advprop_pgd_step(&tadv, &tgrad, &timg, ADVPROP_LINF, peps, alpha, 0.0, 1.0, NULL,
                                                   NULL, &tadv, NULL));
    for (i = 0; i < NX; ++i) exact("pgd out", i, adv[i], want[i]);
    printf("checked PGD L-inf step (in place): %d elements bit-exact\n", NX);
  }

  /* ---- f32 -> bf16 / f16 -> f32 (advprop_cast): rounded once to nearest even, widened exactly ---- */
  {
    static uint16_t half[NX];
    static float back[NX];
    const int fmt_dtype[2] = {ADVPROP_BF16, ADVPROP_F16}, fmt_mant[2] = {7, 10}, fmt_emin[2] = {-126, -14};
    advprop_tensor th = tx, tback = desc(back, 4, xs);
    int f;
    th.data = half;
    for (f = 0; f < 2; ++f) {
      th.dtype = fmt_dtype[f];
      expect_ok("advprop_cast to 16 bits", advprop_cast(&tx, &th, NULL));
      expect_ok("advprop_cast to f32", advprop_cast(&th, &tback, NULL));
      for (i = 0; i < NX; ++i) exact(f ? "f16" : "bf16", i, back[i], (float)round_to(x[i], fmt_mant[f], fmt_emin[f]));
    }
    th.dtype = ADVPROP_BF16;
    expect_ok("advprop_cast", advprop_cast(&tx, &th, NULL));
    ++checks;
    if (half[0] != bf16_bits(x[0])) {
      printf("MISMATCH bf16 bits of %.9g: got 0x%04x, want 0x%04x\n", x[0], half[0], bf16_bits(x[0]));
      ++failures;
    }
    printf("checked f32 -> bf16 / f16 -> f32 (advprop_cast): %d elements each bit-exact\n", NX);
  }

  /* ---- bad calls fail with a status and a message, writing nothing ---- */
  {
    const advprop_bn_segment bad[S] = {{0, 0, 2}, {1, 2, 1}}; /* counts sum to 3, not N = 4 */
    advprop_tensor strided = tx;
    float y0 = y[0];
    advprop_status st = advprop_multi_batch_norm_forward(&tx, &tg, &tb, &trm, &trv, bad, S, ADVPROP_BN_TRAIN,
                                                         ADVPROP_ACT_NONE, momentum, eps, &ty, &tm, &ti, NULL);
    ++checks;
    if ((st != ADVPROP_ERR_SHAPE && st != ADVPROP_ERR_ARG) || strlen(advprop_last_error()) == 0 || y[0] != y0) {
      printf("FAILED bad segments: status %d, message \"%s\"\n", (int)st, advprop_last_error());
      ++failures;
    } else {
      printf("checked bad segments: status %d, \"%s\"\n", (int)st, advprop_last_error());
    }
    strided.strides[3] = 2; /* not contiguous */
    st = advprop_pgd_step(&strided, &tx, &tx, ADVPROP_LINF, 0.1, 0.1, 0.0, 1.0, NULL, NULL, &ty, NULL);
    ++checks;
    if (st != ADVPROP_ERR_ARG || strlen(advprop_last_error()) == 0) {
      printf("FAILED strided input: status %d, message \"%s\"\n", (int)st, advprop_last_error());
      ++failures;
    } else {
      printf("checked strided input: status %d, \"%s\"\n", (int)st, advprop_last_error());
    }
    st = advprop_pgd_step(&tx, &tx, &tx, ADVPROP_LINF, 0.1, 0.1, 0.0, 1.0, NULL, NULL, &ty, NULL);
    ++checks;
    if (st != ADVPROP_OK || strlen(advprop_last_error()) != 0) {
      printf("FAILED: a good call after a bad one: status %d, message \"%s\"\n", (int)st, advprop_last_error());
      ++failures;
    }
  }

  printf("c-example: %d checks, %d mismatches\n", checks, failures);
  return failures ? 1 : 0;
}
