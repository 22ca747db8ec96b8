// The C API (advprop/advprop.h) under the sanitizers: on cpu and cuda-sim, each entry point gives
// bit for bit what the C++ front-end it wraps gives on the same device (the wrapper adds no
// arithmetic), writes caller-owned buffers (Tensor::from_blob, never freed by advprop), allows an
// output to alias an input, and turns every bad call into a status and a thread-local message
// without writing outputs or running statistics.
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "advprop/advprop.h"
#include "advprop/attack.h"
#include "advprop/batchnorm.h"
#include "advprop/ops.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

using test::set;

const Device kCpu{};
const Device kSim{DeviceType::cuda_sim, 0};

// cpu, and cuda-sim in every build that has it (its memory is host memory, like the cpu's).
std::vector<Device> devices() {
  std::vector<Device> d{kCpu};
#if ADVPROP_WITH_SIM
  d.push_back(kSim);
#endif
  return d;
}

Tensor filled(const Shape& s, DType dt, const Device& dev, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::empty(s, dt, kCpu);
  uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    set(t, i, lo + (hi - lo) * (static_cast<double>(st >> 11) / 9007199254740992.0));
  }
  return dev == kCpu ? t : ops::to_device(t, dev);
}

advprop_tensor desc(const Tensor& t) {
  advprop_tensor d;
  std::memset(&d, 0, sizeof d);
  d.data = t.data();
  d.dtype = static_cast<int32_t>(t.dtype());
  d.device_type = static_cast<int32_t>(t.device().type);
  d.device_index = t.device().index;
  d.ndim = t.ndim();
  for (int i = 0; i < t.ndim(); ++i) d.shape[i] = t.dim(i), d.strides[i] = t.strides()[i];
  return d;
}

Tensor like(const Tensor& t, double fill = 7.0) { return ops::full(t.shape(), t.dtype(), t.device(), fill); }

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ha = test::to_cpu(a), hb = test::to_cpu(b);
  return std::memcmp(ha.data(), hb.data(), ha.nbytes()) == 0;
}

std::string where(const Device& d, DType dt) { return device_str(d) + " " + dtype_name(dt); }

const advprop_bn_segment kSegs[] = {{0, 0, 2}, {1, 2, 3}};
const std::vector<BnSegment> kBnSegs = {{0, 0, 2}, {1, 2, 3}};

ADVPROP_NATIVE_TEST(capi_from_blob_borrows_memory) {
  std::vector<float> buf(24, 1.5f);
  const MemoryStats before = backend(DeviceType::cpu).stats(0);
  {
    Tensor t = Tensor::from_blob(buf.data(), {2, 3, 4}, {12, 4, 1}, DType::f32, kCpu);
    EXPECT(t.data() == buf.data());
    EXPECT(t.is_contiguous());
    EXPECT_EQ(t.numel(), int64_t(24));
    Tensor strided = Tensor::from_blob(buf.data(), {2, 3}, {12, 2}, DType::f32, kCpu);
    EXPECT(!strided.is_contiguous());
    EXPECT_EQ(strided.storage()->bytes(), size_t((1 * 12 + 2 * 2 + 1) * 4));
  }  // destroyed without freeing buf (ASan would report a bad free)
  EXPECT_EQ(backend(DeviceType::cpu).stats(0).live_tensors, before.live_tensors);
  EXPECT_THROWS(Tensor::from_blob(buf.data(), {2, 3}, {-3, 1}, DType::f32, kCpu), ErrorCode::Arg);
  EXPECT_THROWS(Tensor::from_blob(nullptr, {2, 3}, {3, 1}, DType::f32, kCpu), ErrorCode::Arg);
  EXPECT_THROWS(Tensor::from_blob(buf.data(), {2, 3}, {3}, DType::f32, kCpu), ErrorCode::Arg);
  EXPECT_THROWS(Tensor::from_blob(buf.data(), {2, int64_t(1) << 40}, {int64_t(1) << 40, int64_t(1) << 20}, DType::f32, kCpu),
                ErrorCode::Shape);
  EXPECT(!Tensor::from_blob(nullptr, {0, 3}, {3, 1}, DType::f32, kCpu).numel());
}

ADVPROP_NATIVE_TEST(capi_batch_norm_matches_front_end) {
  for (const Device& dev : devices())
    for (DType dt : {DType::f32, DType::f64}) {
      const Shape xs{5, 3, 2, 4}, ps{2, 4};
      const Tensor x = filled(xs, dt, dev, 1, -2, 3), dy = filled(xs, dt, dev, 2, -1, 1),
                   g = filled(ps, dt, dev, 3, 0.5, 1.5), b = filled(ps, dt, dev, 4, -0.5, 0.5);
      Tensor rm = filled(ps, dt, dev, 5, -0.5, 0.5), rv = filled(ps, dt, dev, 6, 0.5, 2);
      Tensor rm_ref = ops::clone(rm), rv_ref = ops::clone(rv);
      const ops::BnForwardResult f =
          ops::multi_batch_norm(x, g, b, rm_ref, rv_ref, kBnSegs, BnMode::train, BnAct::silu, 0.9, 1e-3);
      Tensor y = like(x), mean = like(f.mean), invstd = like(f.invstd);
      advprop_tensor dx_ = desc(x), dg = desc(g), db = desc(b), drm = desc(rm), drv = desc(rv), dy_ = desc(y),
                     dm = desc(mean), di = desc(invstd);
      advprop_status st = advprop_multi_batch_norm_forward(&dx_, &dg, &db, &drm, &drv, kSegs, 2, ADVPROP_BN_TRAIN,
                                                           ADVPROP_ACT_SILU, 0.9, 1e-3, &dy_, &dm, &di, nullptr);
      EXPECT_MSG(st == ADVPROP_OK, where(dev, dt) + ": " + advprop_last_error());
      EXPECT_EQ(std::string(advprop_last_error()), std::string(""));
      EXPECT_MSG(same_bits(y, f.y) && same_bits(mean, f.mean) && same_bits(invstd, f.invstd), where(dev, dt) + " forward");
      EXPECT_MSG(same_bits(rm, rm_ref) && same_bits(rv, rv_ref), where(dev, dt) + " running statistics");

      const ops::BnBackwardResult r =
          ops::multi_batch_norm_backward(dy, x, g, b, f.mean, f.invstd, kBnSegs, BnMode::train, BnAct::silu, 1e-3);
      Tensor dx = like(x), dgam = like(g), dbet = like(g);
      advprop_tensor ddy = desc(dy), ddx = desc(dx), ddg = desc(dgam), ddb = desc(dbet);
      st = advprop_multi_batch_norm_backward(&ddy, &dx_, &dg, &db, &dm, &di, kSegs, 2, ADVPROP_BN_TRAIN, ADVPROP_ACT_SILU,
                                             1e-3, &ddx, &ddg, &ddb, nullptr);
      EXPECT_MSG(st == ADVPROP_OK, where(dev, dt) + ": " + advprop_last_error());
      EXPECT_MSG(same_bits(dx, r.dx) && same_bits(dgam, r.dgamma) && same_bits(dbet, r.dbeta), where(dev, dt) + " backward");
    }
}

// bf16 and f16 data with f32 parameters and statistics, as the front-end takes them.
ADVPROP_NATIVE_TEST(capi_batch_norm_half_matches_front_end) {
  for (const Device& dev : devices())
    for (DType dt : {DType::bf16, DType::f16}) {
      const Shape xs{5, 3, 2, 4}, ps{2, 4};
      const Tensor x = filled(xs, dt, dev, 1, -2, 3), dy = filled(xs, dt, dev, 2, -1, 1),
                   g = filled(ps, DType::f32, dev, 3, 0.5, 1.5), b = filled(ps, DType::f32, dev, 4, -0.5, 0.5);
      Tensor rm = filled(ps, DType::f32, dev, 5, -0.5, 0.5), rv = filled(ps, DType::f32, dev, 6, 0.5, 2);
      Tensor rm_ref = ops::clone(rm), rv_ref = ops::clone(rv);
      const ops::BnForwardResult f =
          ops::multi_batch_norm(x, g, b, rm_ref, rv_ref, kBnSegs, BnMode::train, BnAct::silu, 0.9, 1e-3);
      Tensor y = like(x), mean = like(f.mean), invstd = like(f.invstd);
      advprop_tensor dx_ = desc(x), dg = desc(g), db = desc(b), drm = desc(rm), drv = desc(rv), dy_ = desc(y),
                     dm = desc(mean), di = desc(invstd);
      advprop_status st = advprop_multi_batch_norm_forward(&dx_, &dg, &db, &drm, &drv, kSegs, 2, ADVPROP_BN_TRAIN,
                                                           ADVPROP_ACT_SILU, 0.9, 1e-3, &dy_, &dm, &di, nullptr);
      EXPECT_MSG(st == ADVPROP_OK, where(dev, dt) + ": " + advprop_last_error());
      EXPECT(y.dtype() == dt && mean.dtype() == DType::f32);
      EXPECT_MSG(same_bits(y, f.y) && same_bits(mean, f.mean) && same_bits(invstd, f.invstd), where(dev, dt) + " forward");
      EXPECT_MSG(same_bits(rm, rm_ref) && same_bits(rv, rv_ref), where(dev, dt) + " running statistics");

      const ops::BnBackwardResult r =
          ops::multi_batch_norm_backward(dy, x, g, b, f.mean, f.invstd, kBnSegs, BnMode::train, BnAct::silu, 1e-3);
      Tensor dx = like(x), dgam = like(g), dbet = like(g);
      advprop_tensor ddy = desc(dy), ddx = desc(dx), ddg = desc(dgam), ddb = desc(dbet);
      st = advprop_multi_batch_norm_backward(&ddy, &dx_, &dg, &db, &dm, &di, kSegs, 2, ADVPROP_BN_TRAIN, ADVPROP_ACT_SILU,
                                             1e-3, &ddx, &ddg, &ddb, nullptr);
      EXPECT_MSG(st == ADVPROP_OK, where(dev, dt) + ": " + advprop_last_error());
      EXPECT_MSG(same_bits(dx, r.dx) && same_bits(dgam, r.dgamma) && same_bits(dbet, r.dbeta), where(dev, dt) + " backward");
      // An output in x's dtype where the statistics are f32 is refused before anything is written.
      Tensor mean16 = like(x).reshape({x.numel()}).slice0(0, 8).reshape({2, 4});
      advprop_tensor dm16 = desc(mean16);
      EXPECT_EQ(advprop_multi_batch_norm_forward(&dx_, &dg, &db, &drm, &drv, kSegs, 2, ADVPROP_BN_TRAIN, ADVPROP_ACT_SILU,
                                                 0.9, 1e-3, &dy_, &dm16, &di, nullptr),
                ADVPROP_ERR_DTYPE);
    }
}

ADVPROP_NATIVE_TEST(capi_pgd_step_matches_front_end_in_place) {
  for (const Device& dev : devices())
    for (int norm : {ADVPROP_LINF, ADVPROP_L2}) {
      const Shape s{3, 4, 4, 3};
      const Tensor x = filled(s, DType::f32, dev, 7, 0, 1), g = filled(s, DType::f32, dev, 8, -1, 1);
      Tensor xa = filled(s, DType::f32, dev, 9, -0.1, 1.1);
      const Tensor eps_t = filled({3}, DType::f32, dev, 10, 0.05, 0.2);
      PgdArgs a;
      a.norm = static_cast<AttackNorm>(norm), a.alpha = 0.03, a.lo = 0, a.hi = 1, a.eps_t = &eps_t;
      const Tensor want = ops::pgd_step(xa, g, x, a);
      advprop_tensor dxa = desc(xa), dg = desc(g), dx = desc(x), de = desc(eps_t);
      const advprop_status st = advprop_pgd_step(&dxa, &dg, &dx, norm, 0, 0.03, 0, 1, &de, nullptr, &dxa, nullptr);
      EXPECT_MSG(st == ADVPROP_OK, device_str(dev) + ": " + advprop_last_error());
      EXPECT_MSG(same_bits(xa, want), device_str(dev) + " norm " + std::to_string(norm));
    }
}

// The gradient of a 16-bit network: grad in bf16/f16, the images in f32.
ADVPROP_NATIVE_TEST(capi_pgd_step_takes_a_16_bit_gradient) {
  for (const Device& dev : devices())
    for (DType gt : {DType::bf16, DType::f16})
      for (int norm : {ADVPROP_LINF, ADVPROP_L2}) {
        const Shape s{3, 4, 4, 3};
        const Tensor x = filled(s, DType::f32, dev, 7, 0, 1), g = filled(s, gt, dev, 8, -1, 1);
        Tensor xa = filled(s, DType::f32, dev, 9, -0.1, 1.1);
        PgdArgs a;
        a.norm = static_cast<AttackNorm>(norm), a.eps = 0.1, a.alpha = 0.03, a.lo = 0, a.hi = 1;
        const Tensor want = ops::pgd_step(xa, ops::cast(g, DType::f32), x, a);
        advprop_tensor dxa = desc(xa), dg = desc(g), dx = desc(x);
        const advprop_status st = advprop_pgd_step(&dxa, &dg, &dx, norm, 0.1, 0.03, 0, 1, nullptr, nullptr, &dxa, nullptr);
        const std::string where = device_str(dev) + " " + dtype_name(gt) + " norm " + std::to_string(norm);
        EXPECT_MSG(st == ADVPROP_OK, where + ": " + advprop_last_error());
        EXPECT_MSG(same_bits(xa, want), where);
      }
}

ADVPROP_NATIVE_TEST(capi_conv2d_matches_front_end) {
  for (const Device& dev : devices()) {
    const Tensor x = filled({2, 7, 6, 4}, DType::f32, dev, 11, -1, 1), w = filled({6, 3, 3, 2}, DType::f32, dev, 12, -1, 1),
                 bias = filled({6}, DType::f32, dev, 13, -1, 1);
    ops::Conv2dOptions o;
    o.stride_h = 2, o.groups = 2;
    advprop_conv2d_options co;
    std::memset(&co, 0, sizeof co);
    co.padding = ADVPROP_PAD_SAME, co.stride_h = 2, co.stride_w = 1, co.dil_h = 1, co.dil_w = 1, co.groups = 2;
    const Tensor want = ops::conv2d(x, w, &bias, o);
    Tensor y = like(want);
    advprop_tensor dx = desc(x), dw = desc(w), db = desc(bias), dy = desc(y);
    EXPECT_MSG(advprop_conv2d_forward(&dx, &dw, &db, &co, &dy, nullptr) == ADVPROP_OK, advprop_last_error());
    EXPECT_MSG(same_bits(y, want), device_str(dev) + " forward");

    const Tensor gy = filled(want.shape(), DType::f32, dev, 14, -1, 1);
    const Tensor want_dx = ops::conv2d_backward_input(gy, w, x.shape(), o), want_dw = ops::conv2d_backward_weight(gy, x, w.shape(), o);
    Tensor gx = like(x), gw = like(w);
    advprop_tensor dgy = desc(gy), dgx = desc(gx), dgw = desc(gw);
    EXPECT_MSG(advprop_conv2d_backward_input(&dgy, &dw, &co, &dgx, nullptr) == ADVPROP_OK, advprop_last_error());
    EXPECT_MSG(advprop_conv2d_backward_weight(&dgy, &dx, &co, &dgw, nullptr) == ADVPROP_OK, advprop_last_error());
    EXPECT_MSG(same_bits(gx, want_dx) && same_bits(gw, want_dw), device_str(dev) + " backward");

    Tensor wrong = Tensor::empty({2, 7, 6, 6}, DType::f32, dev);  // the output is [2, 4, 6, 6]
    advprop_tensor dwrong = desc(wrong);
    EXPECT_EQ(advprop_conv2d_forward(&dx, &dw, &db, &co, &dwrong, nullptr), ADVPROP_ERR_SHAPE);
    co.padding = 7;
    EXPECT_EQ(advprop_conv2d_forward(&dx, &dw, &db, &co, &dy, nullptr), ADVPROP_ERR_ARG);
  }
}

// bf16 and f16 throughout (x, w, bias, dy): the grouped im2col + GEMM path and a depthwise one,
// bit for bit what the front-end gives.
ADVPROP_NATIVE_TEST(capi_conv2d_half_matches_front_end) {
  for (const Device& dev : devices())
    for (DType dt : {DType::bf16, DType::f16})
      for (int64_t groups : {2, 4}) {  // 4: depthwise (groups == Cin == Cout)
        const std::string what = where(dev, dt) + " groups " + std::to_string(groups);
        const Tensor x = filled({2, 7, 6, 4}, dt, dev, 11, -1, 1),
                     w = filled({4, 3, 3, 4 / groups}, dt, dev, 12, -1, 1), bias = filled({4}, dt, dev, 13, -1, 1);
        ops::Conv2dOptions o;
        o.stride_h = 2, o.groups = groups;
        advprop_conv2d_options co;
        std::memset(&co, 0, sizeof co);
        co.padding = ADVPROP_PAD_SAME, co.stride_h = 2, co.stride_w = 1, co.dil_h = 1, co.dil_w = 1, co.groups = groups;
        const Tensor want = ops::conv2d(x, w, &bias, o);
        Tensor y = like(want);
        advprop_tensor dx = desc(x), dw = desc(w), db = desc(bias), dy = desc(y);
        EXPECT_MSG(advprop_conv2d_forward(&dx, &dw, &db, &co, &dy, nullptr) == ADVPROP_OK, what + ": " + advprop_last_error());
        EXPECT_MSG(y.dtype() == dt && same_bits(y, want), what + " forward");
        const Tensor gy = filled(want.shape(), dt, dev, 14, -1, 1);
        const Tensor want_dx = ops::conv2d_backward_input(gy, w, x.shape(), o),
                     want_dw = ops::conv2d_backward_weight(gy, x, w.shape(), o);
        Tensor gx = like(x), gw = like(w);
        advprop_tensor dgy = desc(gy), dgx = desc(gx), dgw = desc(gw);
        EXPECT_MSG(advprop_conv2d_backward_input(&dgy, &dw, &co, &dgx, nullptr) == ADVPROP_OK, what + ": " + advprop_last_error());
        EXPECT_MSG(advprop_conv2d_backward_weight(&dgy, &dx, &co, &dgw, nullptr) == ADVPROP_OK, what + ": " + advprop_last_error());
        EXPECT_MSG(same_bits(gx, want_dx) && same_bits(gw, want_dw), what + " backward");
      }
}

// advprop_cast: every pair of the five dtypes, bit for bit what ops::cast gives (its rounding is
// checked in half_storage_test.cc), in place too; NaN and the 16-bit edges included.
ADVPROP_NATIVE_TEST(capi_cast_every_pair_matches_front_end) {
  static_assert(ADVPROP_I32 == 2 && ADVPROP_F16 == 3 && ADVPROP_BF16 == 4, "appended in the DType order");
  const DType types[] = {DType::f32, DType::f64, DType::i32, DType::f16, DType::bf16};
  for (const Device& dev : devices())
    for (DType from : types)
      for (DType to : types) {
        Tensor src = filled({3, 7}, from, kCpu, 21, -70000, 70000);
        if (from != DType::i32)
          for (int i = 0; i < 6; ++i) set(src, i, std::vector<double>{1 + 0x1p-8 + 0x1p-40, 65520, 0x1p-25 * 3, -0.0, NAN, INFINITY}[i]);
        src = dev == kCpu ? src : ops::to_device(src, dev);
        const Tensor want = ops::cast(src, to);
        Tensor dst = Tensor::empty(src.shape(), to, dev);
        advprop_tensor ds = desc(src), dd = desc(dst);
        const advprop_status st = advprop_cast(&ds, &dd, nullptr);
        const std::string what = device_str(dev) + " " + dtype_name(from) + " -> " + dtype_name(to);
        EXPECT_MSG(st == ADVPROP_OK, what + ": " + advprop_last_error());
        EXPECT_MSG(same_bits(dst, want), what);
        if (from == to) {  // in place: a copy onto itself
          const Tensor before = ops::clone(src);
          EXPECT_EQ(advprop_cast(&ds, &ds, nullptr), ADVPROP_OK);
          EXPECT_MSG(same_bits(src, before), what + " in place");
        }
      }
  Tensor a = Tensor::empty({2, 3}, DType::f32, kCpu), b = Tensor::empty({3, 2}, DType::bf16, kCpu);
  advprop_tensor da = desc(a), db = desc(b);
  EXPECT_EQ(advprop_cast(&da, &db, nullptr), ADVPROP_ERR_SHAPE);
  EXPECT(std::strstr(advprop_last_error(), "output 'dst'") != nullptr);
  db = desc(Tensor::empty({2, 3}, DType::bf16, kCpu)), db.dtype = 5;  // u8: no data kernels
  EXPECT_EQ(advprop_cast(&da, &db, nullptr), ADVPROP_ERR_DTYPE);
  EXPECT(std::strstr(advprop_last_error(), "ADVPROP_BF16") != nullptr);
}

// The kernels have no bf16/f16 path yet: their front-ends refuse these descriptors with
// ADVPROP_ERR_DTYPE (never a crash, never an f32 result). A family that gains one replaces its
// lines here by a comparison with its front-end, as in the tests above. The PGD step refuses a
// 16-bit image; its gradient may be 16-bit (capi_pgd_step_takes_a_16_bit_gradient). Batch norm has
// a test for 16-bit data with f32 parameters (capi_batch_norm_half_matches_front_end); its line
// here gives it 16-bit parameters, which it refuses. The convolutions take 16-bit tensors
// throughout (capi_conv2d_half_matches_front_end).
ADVPROP_NATIVE_TEST(capi_kernels_refuse_16_bit_tensors) {
  for (DType dt : {DType::bf16, DType::f16}) {
    const std::string name = dtype_name(dt);
    const Tensor x = filled({5, 1, 1, 2}, dt, kCpu, 1, -1, 1), g = filled({2, 2}, dt, kCpu, 2, 1, 2);
    Tensor rm = filled({2, 2}, dt, kCpu, 4, -1, 1), rv = filled({2, 2}, dt, kCpu, 5, 1, 2), y = like(x),
           m = Tensor::empty({2, 2}, dt, kCpu), is = Tensor::empty({2, 2}, dt, kCpu);
    advprop_tensor dx = desc(x), dg = desc(g), drm = desc(rm), drv = desc(rv), dy = desc(y), dm = desc(m), di = desc(is);
    EXPECT_MSG(advprop_multi_batch_norm_forward(&dx, &dg, &dg, &drm, &drv, kSegs, 2, ADVPROP_BN_TRAIN, ADVPROP_ACT_NONE, 0.9,
                                                1e-3, &dy, &dm, &di, nullptr) == ADVPROP_ERR_DTYPE,
               name + " batch norm: " + advprop_last_error());
    EXPECT_MSG(advprop_pgd_step(&dx, &dx, &dx, ADVPROP_LINF, 0.1, 0.1, 0, 1, nullptr, nullptr, &dy, nullptr) == ADVPROP_ERR_DTYPE,
               name + " pgd: " + advprop_last_error());
  }
}

ADVPROP_NATIVE_TEST(capi_bad_calls_return_status_and_message) {
  const Shape xs{5, 1, 1, 2}, ps{2, 2}, ss{2, 2};
  Tensor x = filled(xs, DType::f32, kCpu, 1, -1, 1), g = filled(ps, DType::f32, kCpu, 2, 1, 2),
         b = filled(ps, DType::f32, kCpu, 3, -1, 1), rm = filled(ps, DType::f32, kCpu, 4, -1, 1),
         rv = filled(ps, DType::f32, kCpu, 5, 1, 2), y = like(x), m = Tensor::empty(ss, DType::f32, kCpu),
         is = Tensor::empty(ss, DType::f32, kCpu);
  const Tensor rm0 = ops::clone(rm), y0 = ops::clone(y);
  advprop_tensor dx = desc(x), dg = desc(g), db = desc(b), drm = desc(rm), drv = desc(rv), dy = desc(y), dm = desc(m),
                 di = desc(is);
  auto bn = [&](const advprop_bn_segment* segs, int n, const advprop_tensor* xx, const advprop_tensor* yy) {
    return advprop_multi_batch_norm_forward(xx, &dg, &db, &drm, &drv, segs, n, ADVPROP_BN_TRAIN, ADVPROP_ACT_NONE, 0.9,
                                            1e-3, yy, &dm, &di, nullptr);
  };
  auto message_has = [](const char* part) { return std::strstr(advprop_last_error(), part) != nullptr; };

  const advprop_bn_segment short_segs[] = {{0, 0, 2}, {1, 2, 2}};  // 4 samples of 5
  EXPECT_EQ(bn(short_segs, 2, &dx, &dy), ADVPROP_ERR_SHAPE);
  EXPECT_MSG(message_has("N = 5"), advprop_last_error());
  EXPECT_EQ(bn(kSegs, 0, &dx, &dy), ADVPROP_ERR_ARG);
  EXPECT_EQ(bn(kSegs, 2, nullptr, &dy), ADVPROP_ERR_ARG);
  EXPECT_MSG(message_has("'x' is NULL"), advprop_last_error());

  advprop_tensor bad = dx;
  bad.dtype = 2;  // i32: no batch norm kernel
  EXPECT_EQ(bn(kSegs, 2, &bad, &dy), ADVPROP_ERR_DTYPE);
  bad = dx, bad.dtype = 99;
  EXPECT_EQ(bn(kSegs, 2, &bad, &dy), ADVPROP_ERR_DTYPE);
  bad = dx, bad.ndim = 9;
  EXPECT_EQ(bn(kSegs, 2, &bad, &dy), ADVPROP_ERR_SHAPE);
  bad = dx, bad.device_type = 5;
  EXPECT_EQ(bn(kSegs, 2, &bad, &dy), ADVPROP_ERR_DEVICE);
  bad = dx, bad.device_type = ADVPROP_DEVICE_CPU, bad.device_index = 1;
  EXPECT_EQ(bn(kSegs, 2, &bad, &dy), ADVPROP_ERR_DEVICE);
  if (!device_available(DeviceType::cuda)) {
    bad = dx, bad.device_type = ADVPROP_DEVICE_CUDA;
    EXPECT_EQ(bn(kSegs, 2, &bad, &dy), ADVPROP_ERR_DEVICE);
  }
  bad = dx, bad.strides[0] = 4;  // rows overlap
  EXPECT_EQ(bn(kSegs, 2, &bad, &dy), ADVPROP_ERR_ARG);
  EXPECT_MSG(message_has("contiguous"), advprop_last_error());
  bad = dx, bad.data = nullptr;
  EXPECT_EQ(bn(kSegs, 2, &bad, &dy), ADVPROP_ERR_ARG);
  // A wrong output is refused before anything runs: no half-updated running statistics.
  Tensor y_small = Tensor::empty({4, 1, 1, 2}, DType::f32, kCpu);
  advprop_tensor dys = desc(y_small);
  EXPECT_EQ(bn(kSegs, 2, &dx, &dys), ADVPROP_ERR_SHAPE);
  EXPECT_MSG(message_has("output 'y'"), advprop_last_error());
  EXPECT(same_bits(rm, rm0) && same_bits(y, y0));

  // The message is per thread, and a success clears it.
  std::string other = "unset";
  std::thread([&] { other = advprop_last_error(); }).join();
  EXPECT_EQ(other, std::string(""));
  EXPECT(std::strlen(advprop_last_error()) > 0);
  // On the cpu the stream argument is ignored.
  int not_a_stream = 0;
  EXPECT_EQ(advprop_multi_batch_norm_forward(&dx, &dg, &db, &drm, &drv, kSegs, 2, ADVPROP_BN_EVAL, ADVPROP_ACT_NONE, 0.9,
                                             1e-3, &dy, &dm, &di, &not_a_stream),
            ADVPROP_OK);
  EXPECT_EQ(std::string(advprop_last_error()), std::string(""));
  EXPECT(std::string(advprop_version()).find('.') != std::string::npos);

  advprop_tensor dxa = dx;
  EXPECT_EQ(advprop_pgd_step(&dxa, &dx, &dx, 3, 0.1, 0.1, 0, 1, nullptr, nullptr, &dy, nullptr), ADVPROP_ERR_ARG);
  EXPECT_EQ(advprop_pgd_step(&dxa, &dx, &dx, ADVPROP_LINF, -0.1, 0.1, 0, 1, nullptr, nullptr, &dy, nullptr), ADVPROP_ERR_ARG);
  EXPECT_EQ(advprop_pgd_step(&dxa, &dg, &dx, ADVPROP_LINF, 0.1, 0.1, 0, 1, nullptr, nullptr, &dy, nullptr), ADVPROP_ERR_SHAPE);
}

}  // namespace
}  // namespace advprop
