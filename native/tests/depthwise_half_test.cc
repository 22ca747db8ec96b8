// Depthwise convolution kernels (advprop/conv.h) in bf16 and f16, every operand in the one type:
// - cpu (the widened path) and cuda-sim: each output equals the backend's f32 kernel for the
//   widened operands, rounded once, bit for bit;
// - cpu against an f64 reference from the rounded inputs: one 16-bit rounding plus the f32
//   sums' error (4e-6 of the sum of |terms|, the f32 test's bound);
// - cuda-sim against the cpu: within one 16-bit ulp plus that error (the weight gradient sums in
//   another order);
// - conv2d's depthwise path (native/ops/conv.cc) in 16 bits, bias included.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/conv.h"
#include "advprop/ops.h"
#include "elements.h"
#include "half_compare.h"
#include "depthwise_ref.h"
#include "harness.h"

namespace advprop {
namespace cpu {
void set_depthwise_slice_elems(int64_t elems);  // test hook in native/cpu/depthwise.cc
}  // namespace cpu
namespace {

namespace hc = test::half_compare;

const Device kCpu{};
using test::get;
using namespace test::depthwise_ref;

struct Kernels {
  void (*forward)(const Conv2dParams&, const Tensor&, const Tensor&, const Tensor*, Tensor&);
  void (*backward_input)(const Conv2dParams&, const Tensor&, const Tensor&, Tensor&);
  void (*backward_weight)(const Conv2dParams&, const Tensor&, const Tensor&, Tensor&);
};
const Kernels kCpuKernels{cpu::depthwise_forward, cpu::depthwise_backward_input, cpu::depthwise_backward_weight};

struct Outputs {
  Tensor y, dx, dw;
};

// y (with bias), dx and dw on `dev` for the cpu tensors given, brought back to the cpu.
Outputs run(const Kernels& k, const Device& dev, const Conv2dParams& p, const Tensor& x, const Tensor& w,
            const Tensor& b, const Tensor& dy) {
  auto up = [&](const Tensor& t) { return ops::to_device(t, dev); };
  const DType dt = x.dtype();
  const Tensor xd = up(x), wd = up(w), bd = up(b), dyd = up(dy);
  Tensor y = Tensor::empty({p.n, p.out_h, p.out_w, p.c_in}, dt, dev), dx = Tensor::empty(x.shape(), dt, dev),
         dw = Tensor::empty(w.shape(), dt, dev);
  k.forward(p, xd, wd, &bd, y);
  k.backward_input(p, dyd, wd, dx);
  k.backward_weight(p, xd, dyd, dw);
  return {ops::to_device(y, kCpu), ops::to_device(dx, kCpu), ops::to_device(dw, kCpu)};
}

// Checks one backend: bitwise its f32 result rounded, and (cpu) the f64 reference or (others)
// the cpu.
void check(const Kernels& k, const Device& dev, const Case& t, DType dt, uint64_t seed) {
  const Conv2dParams p = make_params(t);
  const std::string what = std::string(device_str(dev)) + " " + case_str(t, dt);
  const Data d = make_data(p, dt, seed), f = widened(d);
  const Outputs o = run(k, dev, p, d.x, d.w, d.b, d.dy), of = run(k, dev, p, f.x, f.w, f.b, f.dy);
  hc::expect_same_bits(what + " forward", o.y, hc::rounded_to(of.y, dt));
  hc::expect_same_bits(what + " backward_input", o.dx, hc::rounded_to(of.dx, dt));
  hc::expect_same_bits(what + " backward_weight", o.dw, hc::rounded_to(of.dw, dt));
  const Ref r = reference(p, d.x, d.w, d.b, d.dy);
  const double e = 4e-6;
  if (dev == kCpu) {
    hc::expect_within(what + " forward", o.y, r.y, hc::scaled(r.y_abs, e));
    hc::expect_within(what + " backward_input", o.dx, r.dx, hc::scaled(r.dx_abs, e));
    hc::expect_within(what + " backward_weight", o.dw, r.dw, hc::scaled(r.dw_abs, e));
    return;
  }
  const Outputs c = run(kCpuKernels, kCpu, p, d.x, d.w, d.b, d.dy);
  hc::expect_backends_agree(what + " forward vs cpu", o.y, c.y, hc::scaled(r.y_abs, e));
  hc::expect_backends_agree(what + " backward_input vs cpu", o.dx, c.dx, hc::scaled(r.dx_abs, e));
  hc::expect_backends_agree(what + " backward_weight vs cpu", o.dw, c.dw, hc::scaled(r.dw_abs, e));
}

// k 3 and 5, stride 1 and 2, dilation 1 and 2, same and valid over channel counts around the
// vector widths and the CUDA tile, every `every`-th combination; then rows long enough for the
// cpu's interior blocks and a weight gradient of several chunks.
void run_grid(const Kernels& k, const Device& dev, int every) {
  uint64_t seed = 500;
  int index = 0;
  for (DType dt : {DType::bf16, DType::f16})
    for (int64_t c : {3, 17, 40})
      for (int64_t ks : {3, 5})
        for (int64_t s : {1, 2})
          for (int64_t d : {1, 2})
            for (bool same : {true, false}) {
              seed += 4;
              if (index++ % every != 0) continue;
              check(k, dev, Case{2, 7, 9, c, ks, s, d, same}, dt, seed);
            }
  check(k, dev, Case{2, 12, 37, 48, 5, 2, 1, true}, DType::bf16, 7);
  check(k, dev, Case{1, 9, 40, 32, 3, 1, 1, true}, DType::f16, 8);
  check(k, dev, Case{4, 28, 28, 24, 3, 1, 1, true}, DType::bf16, 9);
  check(k, dev, Case{0, 5, 5, 3, 3, 1, 1, true}, DType::f16, 10);  // empty batch: dw = 0
}

}  // namespace

ADVPROP_NATIVE_TEST(depthwise_half_cpu_is_f32_rounded_once_and_matches_reference) { run_grid(kCpuKernels, kCpu, 1); }

#if ADVPROP_WITH_SIM
// The cpu widens a few images at a time (the weight gradient's chunks a slice at a time): slices
// of one element (one image each; chunks that straddle two images) give the bits of one slice.
ADVPROP_NATIVE_TEST(depthwise_half_cpu_slices_change_no_bits) {
  // The last has 18 weight-gradient chunks of 7 rows over images of 40 rows.
  const Case cases[] = {{5, 9, 11, 17, 3, 1, 1, true}, {3, 12, 10, 8, 5, 2, 2, false}, {3, 40, 40, 40, 5, 1, 1, true}};
  uint64_t seed = 900;
  for (const Case& t : cases)
    for (DType dt : {DType::bf16, DType::f16}) {
      const Conv2dParams p = make_params(t);
      const Data d = make_data(p, dt, seed += 4);
      const Outputs whole = run(kCpuKernels, kCpu, p, d.x, d.w, d.b, d.dy);
      cpu::set_depthwise_slice_elems(1);
      const Outputs sliced = run(kCpuKernels, kCpu, p, d.x, d.w, d.b, d.dy);
      cpu::set_depthwise_slice_elems(0);
      const std::string what = "sliced " + case_str(t, dt);
      hc::expect_same_bits(what + " forward", sliced.y, whole.y);
      hc::expect_same_bits(what + " backward_input", sliced.dx, whole.dx);
      hc::expect_same_bits(what + " backward_weight", sliced.dw, whole.dw);
    }
}

ADVPROP_NATIVE_TEST(depthwise_half_cudasim_is_f32_rounded_once_and_matches_cpu) {
  run_grid(Kernels{cudasim::depthwise_forward, cudasim::depthwise_backward_input, cudasim::depthwise_backward_weight},
           Device{DeviceType::cuda_sim, 0}, 3);
}
#endif

// conv2d's depthwise path with a 16-bit x, w and bias: the kernels' result in x's dtype; the
// three tensors must share the dtype.
ADVPROP_NATIVE_TEST(depthwise_half_through_conv2d) {
  const Case t{2, 9, 7, 12, 3, 2, 1, true};
  const Conv2dParams p = make_params(t);
  ops::Conv2dOptions o;
  o.stride_h = o.stride_w = 2;
  o.groups = t.c;
  o.padding = ConvPadding::same;
  for (DType dt : {DType::bf16, DType::f16}) {
    const Data d = make_data(p, dt, 77);
    const Tensor w = d.w.reshape({t.c, t.k, t.k, 1});
    const Tensor y = ops::conv2d(d.x, w, &d.b, o);
    REQUIRE(y.dtype() == dt);
    const Outputs k = run(kCpuKernels, kCpu, p, d.x, d.w, d.b, d.dy);
    hc::expect_same_bits(std::string("conv2d depthwise ") + dtype_name(dt), y, k.y);
    const Tensor dx = ops::conv2d_backward_input(d.dy, w, d.x.shape(), o);
    const Tensor dw = ops::conv2d_backward_weight(d.dy, d.x, w.shape(), o);
    hc::expect_same_bits(std::string("conv2dBackwardInput depthwise ") + dtype_name(dt), dx, k.dx);
    hc::expect_same_bits(std::string("conv2dBackwardWeight depthwise ") + dtype_name(dt), dw, k.dw);
    const Tensor w32 = hc::rounded_to(w, DType::f32);
    EXPECT_THROWS(ops::conv2d(d.x, w32, nullptr, o), ErrorCode::DType);
    const Tensor b32 = hc::rounded_to(d.b, DType::f32);
    EXPECT_THROWS(ops::conv2d(d.x, w, &b32, o), ErrorCode::DType);
  }
}

}  // namespace advprop
