// conv2d_gemm_forward (conv.h), the implicit GEMM of a convolution with one group: on cpu and
// cuda-sim it gives the bits of im2col + gemm over the whole batch, with and without the inference
// epilogue (batch norm's affine, SiLU, a residual), in f32 and f64, on random real values (sums
// that round), for shapes with padding, stride, dilation, several row tiles, a k longer than one
// of the GEMM's k blocks (the cpu gathers each tile's rows and reads k blocks from them) and one
// long enough on few tiles for the GEMM to split k (gathered whole first); and
// the input affine (a model's input normalisation, taken as the rows are gathered) against the
// binary kernels' mul and add before im2col; and its validator's refusals.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/conv.h"
#include "advprop/elementwise.h"
#include "advprop/epilogue.h"
#include "advprop/gemm.h"
#include "advprop/random.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};

using test::random_cpu;

struct Backend {
  const char* name;
  Device dev;
  Tensor (*up)(const Tensor&);
  Tensor (*down)(const Tensor&);
  void (*im2col)(const Conv2dParams&, const Tensor&, int64_t, Tensor&);
  void (*gemm)(const GemmArgs&, const Tensor&, const Tensor&, Tensor&, const Epilogue*);
  void (*conv)(const Conv2dParams&, const Tensor&, const Tensor&, Tensor&, const Epilogue*);
  void (*binary)(BinaryOp, const Tensor&, const Tensor&, Tensor&);
};

Tensor same(const Tensor& t) { return t; }

// TF "same" padding (the convolutions of EfficientNet) or none.
Conv2dParams params(int64_t n, int64_t h, int64_t w, int64_t c_in, int64_t c_out, int64_t k, int64_t s, int64_t d,
                    bool pad) {
  Conv2dParams p;
  p.n = n, p.h = h, p.w = w, p.c_in = c_in, p.c_out = c_out, p.kh = p.kw = k;
  p.stride_h = p.stride_w = s, p.dil_h = p.dil_w = d;
  const int64_t eff = (k - 1) * d + 1;
  if (pad) {
    p.out_h = (h + s - 1) / s, p.out_w = (w + s - 1) / s;
    p.pad_top = std::max<int64_t>(0, (p.out_h - 1) * s + eff - h) / 2;
    p.pad_left = std::max<int64_t>(0, (p.out_w - 1) * s + eff - w) / 2;
  } else {
    p.out_h = (h - eff) / s + 1, p.out_w = (w - eff) / s + 1;
  }
  return p;
}

void expect_same_bits(const std::string& what, const Tensor& got, const Tensor& want) {
  REQUIRE(got.numel() == want.numel() && got.dtype() == want.dtype());
  if (std::memcmp(got.data(), want.data(), want.nbytes()) == 0) return;
  int64_t bad = 0;
  for (int64_t i = 0; i < want.numel(); ++i) bad += std::memcmp(static_cast<const char*>(got.data()) + i * dtype_size(got.dtype()),
                                                                static_cast<const char*>(want.data()) + i * dtype_size(got.dtype()),
                                                                dtype_size(got.dtype())) != 0;
  test::record_failure(__FILE__, __LINE__, what + ": " + std::to_string(bad) + " of " + std::to_string(want.numel()) + " differ");
}

void check_against_im2col_gemm(const Backend& be) {
  struct Shape_ {
    Conv2dParams p;
    const char* what;
  };
  const std::vector<Shape_> shapes = {
      {params(2, 17, 15, 3, 32, 3, 2, 1, true), "stem-like 3x3 s2 from 3 channels"},
      {params(2, 20, 20, 40, 24, 3, 1, 1, true), "k = 360, two k blocks, several row tiles"},
      {params(1, 9, 11, 6, 7, 5, 1, 2, true), "5x5 dilation 2"},
      {params(3, 8, 7, 5, 9, 3, 1, 1, false), "3x3 no padding"},
      {params(2, 6, 6, 4, 5, 1, 2, 1, false), "1x1 stride 2"},
      {params(1, 5, 5, 256, 8, 3, 1, 1, true), "k = 2304 on one tile: the GEMM splits k"},
  };
  for (DType dt : {DType::f32, DType::f64})
    for (const Shape_& s : shapes)
      for (int variant = 0; variant < 4; ++variant) {  // no epilogue; BN + SiLU; BN + residual; input affine + BN + SiLU
        const Conv2dParams& p = s.p;
        const std::string ctx = std::string(be.name) + " " + dtype_name(dt) + " " + s.what + " variant " + std::to_string(variant);
        const int64_t m = p.n * p.out_h * p.out_w, k = p.kh * p.kw * p.c_in;
        const Tensor x = be.up(random_cpu({p.n, p.h, p.w, p.c_in}, dt, 11)), w = be.up(random_cpu({p.c_out, p.kh, p.kw, p.c_in}, dt, 12));
        const Tensor affine = be.up(random_cpu({3, p.c_out}, dt, 13, 0.5, 1.5)), res = be.up(random_cpu({m, p.c_out}, dt, 14));
        // The input affine: a per-channel scale and shift like an image normalisation's.
        const Tensor in_affine = be.up(random_cpu({2, p.c_in}, dt, 15, 0.5, 4.0));
        Epilogue e;
        e.affine = &affine, e.act = variant == 1 || variant == 3 ? BnAct::silu : BnAct::none;
        if (variant == 2) e.residual = &res;
        const Epilogue* epi = variant ? &e : nullptr;

        // The reference: x * scale + shift by the binary kernels, then im2col and gemm.
        Tensor xs = x;
        if (variant == 3) {
          Tensor scaled = Tensor::empty(x.shape(), dt, be.dev);
          xs = Tensor::empty(x.shape(), dt, be.dev);
          be.binary(BinaryOp::mul, x, in_affine.slice0(0, 1).reshape({p.c_in}), scaled);
          be.binary(BinaryOp::add, scaled, in_affine.slice0(1, 1).reshape({p.c_in}), xs);
        }
        Tensor cols = Tensor::empty({m, k}, dt, be.dev), want = Tensor::empty({p.n, p.out_h, p.out_w, p.c_out}, dt, be.dev);
        be.im2col(p, xs, 0, cols);
        GemmArgs g;
        g.trans_b = true, g.m = m, g.n = p.c_out, g.k = k, g.lda = k, g.ldb = k, g.ldc = p.c_out;
        be.gemm(g, cols, w, want, epi);
        if (variant == 3) e.in_affine = &in_affine;
        Tensor got = Tensor::empty(want.shape(), dt, be.dev);
        be.conv(p, x, w, got, epi);
        expect_same_bits(ctx, be.down(got), be.down(want));
      }
}

ADVPROP_NATIVE_TEST(conv_gemm_forward_cpu_equals_im2col_gemm) {
  check_against_im2col_gemm({"cpu", kCpu, same, same, cpu::im2col, cpu::gemm, cpu::conv2d_gemm_forward, cpu::binary});
}

#if ADVPROP_WITH_SIM
ADVPROP_NATIVE_TEST(conv_gemm_forward_cudasim_equals_im2col_gemm) {
  check_against_im2col_gemm({"cuda-sim", Device{DeviceType::cuda_sim, 0}, test::to_sim, test::to_cpu, cudasim::im2col,
                             cudasim::gemm, cudasim::conv2d_gemm_forward, cudasim::binary});
}
#endif

ADVPROP_NATIVE_TEST(conv_gemm_forward_validator_refuses_bad_arguments) {
  const char* op = "conv2d";
  const Conv2dParams p = params(2, 5, 7, 3, 4, 3, 2, 1, true);
  const Tensor x = Tensor::empty({2, 5, 7, 3}, DType::f32, kCpu), w = Tensor::empty({4, 3, 3, 3}, DType::f32, kCpu);
  Tensor y = Tensor::empty({2, 3, 4, 4}, DType::f32, kCpu);
  const DeviceType cpu = DeviceType::cpu;
  check_conv2d_gemm_forward(op, p, cpu, x, w, y);  // valid
  cpu::conv2d_gemm_forward(p, x, w, y, nullptr);
  Conv2dParams grouped = p;
  grouped.groups = 3;
  EXPECT_THROWS(check_conv2d_gemm_forward(op, grouped, cpu, x, w, y), ErrorCode::Shape);
  Conv2dParams bad = p;
  bad.stride_h = 0;
  EXPECT_THROWS(check_conv2d_gemm_forward(op, bad, cpu, x, w, y), ErrorCode::Shape);
  const Tensor w_bad = Tensor::empty({4, 3, 3, 2}, DType::f32, kCpu), x_bad = Tensor::empty({2, 5, 6, 3}, DType::f32, kCpu);
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x, w_bad, y), ErrorCode::Shape);
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x_bad, w, y), ErrorCode::Shape);
  Tensor y_bad = Tensor::empty({2, 3, 3, 4}, DType::f32, kCpu);
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x, w, y_bad), ErrorCode::Shape);
  const Tensor w64 = Tensor::empty({4, 3, 3, 3}, DType::f64, kCpu);
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x, w64, y), ErrorCode::DType);
  Tensor yh = Tensor::empty({2, 3, 4, 4}, DType::bf16, kCpu);
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x, w, yh), ErrorCode::DType);
  // y over x: a view of x's storage with y's shape.
  const Tensor big = Tensor::empty({2 * 5 * 7 * 3 + 96}, DType::f32, kCpu);
  const Tensor x_in = big.slice0(0, 2 * 5 * 7 * 3).reshape({2, 5, 7, 3});
  Tensor y_over = big.slice0(96, 96).reshape({2, 3, 4, 4});
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x_in, w, y_over), ErrorCode::Arg);
  const Tensor affine = Tensor::empty({3, 4}, DType::f32, kCpu), gate = Tensor::empty({2, 3}, DType::f32, kCpu);
  Epilogue e;
  e.affine = &affine;
  check_conv2d_gemm_forward(op, p, cpu, x, w, y, &e);  // valid
  e.in_scale = &gate, e.in_scale_rows = 35;
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x, w, y, &e), ErrorCode::Arg);
  const Tensor in_affine = Tensor::empty({2, 3}, DType::f32, kCpu), bad_in_affine = Tensor::empty({2, 4}, DType::f32, kCpu);
  e.in_scale = nullptr, e.in_affine = &in_affine;
  check_conv2d_gemm_forward(op, p, cpu, x, w, y, &e);  // valid
  e.in_affine = &bad_in_affine;
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x, w, y, &e), ErrorCode::Shape);
  // The input affine is the implicit GEMM's alone: gemm and the depthwise kernels refuse it.
  {
    const Tensor a = Tensor::empty({4, 3}, DType::f32, kCpu), b = Tensor::empty({4, 3}, DType::f32, kCpu);
    Tensor c = Tensor::empty({4, 4}, DType::f32, kCpu);
    GemmArgs g;
    g.trans_b = true, g.m = 4, g.n = 4, g.k = 3, g.lda = 3, g.ldb = 3, g.ldc = 4;
    e.in_affine = &in_affine;
    EXPECT_THROWS(check_gemm_args(g, a, b, c, cpu, &e), ErrorCode::Arg);
    Conv2dParams dw = params(1, 4, 4, 4, 4, 3, 1, 1, true);
    dw.groups = 4;
    const Tensor dx = Tensor::empty({1, 4, 4, 4}, DType::f32, kCpu), dwt = Tensor::empty({4, 3, 3, 1}, DType::f32, kCpu);
    Tensor dy = Tensor::empty({1, 4, 4, 4}, DType::f32, kCpu);
    EXPECT_THROWS(check_depthwise_forward("conv2d", dw, cpu, dx, dwt, nullptr, dy, &e), ErrorCode::Arg);
  }
  const Tensor bad_affine = Tensor::empty({3, 5}, DType::f32, kCpu);
  e.in_affine = nullptr, e.affine = &bad_affine;
  EXPECT_THROWS(check_conv2d_gemm_forward(op, p, cpu, x, w, y, &e), ErrorCode::Shape);
  // The kernel asserts its validator: a bad call is an internal error, never a wild read.
  EXPECT_THROWS(cpu::conv2d_gemm_forward(p, x, w_bad, y, nullptr), ErrorCode::Internal);
}

}  // namespace
}  // namespace advprop
