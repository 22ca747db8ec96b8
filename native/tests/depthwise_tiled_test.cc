// The tiled depthwise kernels (native/cuda/depthwise_tiled_kernels.cuh) on cuda-sim against the cpu twin
// and an f64 reference: k 3 and 5, stride 1 and 2, f32, bf16 and f16; channel counts that fill
// the 16-byte vectors (32, 40: 8 and 5 bf16 vectors), that do not (13), and 12 and 24 (vectors in
// f32, single channels in bf16/f16, which must still give the f32 kernel's bits rounded once);
// spatial sizes that are not multiples of the tiles (8 x 16 at stride 1, 8 x 8 at stride 2) and
// even sizes at stride 2 (the uneven "same" padding); batch 2; "same" and "valid". Then a weight
// gradient of several tiles per chunk (bitwise the same on two runs) and the channel-group edge of
// more than one block of channels.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/conv.h"
#include "advprop/ops.h"
#include "elements.h"
#include "half_compare.h"
#include "depthwise_ref.h"
#include "harness.h"

#if ADVPROP_WITH_SIM
namespace advprop {
namespace {

namespace hc = test::half_compare;
using test::get;
using namespace test::depthwise_ref;

const Device kCpu{};
const Device kSim{DeviceType::cuda_sim, 0};

struct Outputs {
  Tensor y, dx, dw;
};

// y (with bias), dx and dw on cuda-sim (sim) or the cpu, brought back to the cpu.
Outputs run(bool sim, const Conv2dParams& p, const Data& d) {
  const Device dev = sim ? kSim : kCpu;
  auto up = [&](const Tensor& t) { return ops::to_device(t, dev); };
  const DType dt = d.x.dtype();
  const Tensor x = up(d.x), w = up(d.w), b = up(d.b), dy = up(d.dy);
  Tensor y = Tensor::empty(conv_y_shape(p), dt, dev), dx = Tensor::empty(conv_x_shape(p), dt, dev),
         dw = Tensor::empty(depthwise_w_shape(p), dt, dev);
  if (sim) {
    cudasim::depthwise_forward(p, x, w, &b, y);
    cudasim::depthwise_backward_input(p, dy, w, dx);
    cudasim::depthwise_backward_weight(p, x, dy, dw);
  } else {
    cpu::depthwise_forward(p, x, w, &b, y);
    cpu::depthwise_backward_input(p, dy, w, dx);
    cpu::depthwise_backward_weight(p, x, dy, dw);
  }
  return {ops::to_device(y, kCpu), ops::to_device(dx, kCpu), ops::to_device(dw, kCpu)};
}

// cuda-sim against the cpu (within the f32 error of the sums, and one 16-bit ulp either side for
// bf16/f16) and against the f64 reference; bf16/f16 also bitwise the sim's f32 result for the
// widened operands, rounded once.
void check(const Case& t, DType dt, uint64_t seed) {
  const Conv2dParams p = make_params(t);
  const std::string what = "sim " + case_str(t, dt);
  const Data d = make_data(p, dt, seed);
  const Outputs s = run(true, p, d), c = run(false, p, d);
  const Ref r = reference(p, d.x, d.w, d.b, d.dy);
  const double e = 4e-6;
  hc::expect_backends_agree(what + " forward vs cpu", s.y, c.y, hc::scaled(r.y_abs, e));
  hc::expect_backends_agree(what + " backward_input vs cpu", s.dx, c.dx, hc::scaled(r.dx_abs, e));
  hc::expect_backends_agree(what + " backward_weight vs cpu", s.dw, c.dw, hc::scaled(r.dw_abs, e));
  hc::expect_within(what + " forward", s.y, r.y, hc::scaled(r.y_abs, e));
  hc::expect_within(what + " backward_input", s.dx, r.dx, hc::scaled(r.dx_abs, e));
  hc::expect_within(what + " backward_weight", s.dw, r.dw, hc::scaled(r.dw_abs, e));
  if (dt == DType::f32) return;
  const Outputs f = run(true, p, widened(d));
  hc::expect_same_bits(what + " forward = f32 rounded", s.y, hc::rounded_to(f.y, dt));
  hc::expect_same_bits(what + " backward_input = f32 rounded", s.dx, hc::rounded_to(f.dx, dt));
  hc::expect_same_bits(what + " backward_weight = f32 rounded", s.dw, hc::rounded_to(f.dw, dt));
}

ADVPROP_NATIVE_TEST(depthwise_tiled_cudasim_matches_cpu) {
  const int64_t spatial[][2] = {{7, 15}, {17, 16}};
  uint64_t seed = 2000;
  for (DType dt : {DType::f32, DType::bf16, DType::f16})
    for (int64_t k : {3, 5})
      for (int64_t s : {1, 2}) {
        for (int64_t c : {32, 40, 13})
          for (const auto& hw : spatial) check(Case{2, hw[0], hw[1], c, k, s, 1, true}, dt, seed += 4);
        check(Case{2, 15, 17, 40, k, s, 1, false}, dt, seed += 4);
      }
  // Vectors in f32 but not in 16 bits: the paths differ, the order of the sums does not.
  for (DType dt : {DType::bf16, DType::f16}) {
    check(Case{2, 9, 17, 12, 3, 2, 1, true}, dt, seed += 4);
    check(Case{2, 16, 9, 24, 5, 1, 1, true}, dt, seed += 4);
  }
}

// 544 channels (17 groups of 32) leave 31 weight-gradient chunks for the 36 tiles of 6 images of
// 17 x 17 (3 x 2 tiles each at stride 1): two tiles per chunk, 17 blocks of channels in f32.
ADVPROP_NATIVE_TEST(depthwise_tiled_cudasim_weight_gradient_deterministic) {
  for (DType dt : {DType::f32, DType::bf16}) {
    const Case t{6, 17, 17, 544, 3, 1, 1, true};
    const Conv2dParams p = make_params(t);
    const Data d = make_data(p, dt, 77);
    const Tensor x = test::to_sim(d.x), dy = test::to_sim(d.dy);
    Tensor a = Tensor::empty(depthwise_w_shape(p), dt, kSim), b = Tensor::empty(depthwise_w_shape(p), dt, kSim);
    cudasim::depthwise_backward_weight(p, x, dy, a);
    cudasim::depthwise_backward_weight(p, x, dy, b);
    hc::expect_same_bits("sim " + case_str(t, dt) + " dw twice", test::to_cpu(a), test::to_cpu(b));
    Tensor c = Tensor::empty(depthwise_w_shape(p), dt, kCpu);
    cpu::depthwise_backward_weight(p, d.x, d.dy, c);
    const Ref r = reference(p, d.x, d.w, d.b, d.dy);
    hc::expect_backends_agree("sim " + case_str(t, dt) + " dw vs cpu", test::to_cpu(a), c, hc::scaled(r.dw_abs, 4e-6));
  }
}

}  // namespace
}  // namespace advprop
#endif
