// The cpu depthwise forward gives, bit for bit and at every ISA level this CPU has, the plain
// per-pixel loop's result: each output starts from 0, adds x * w over the taps inside the input in
// (ky, kx) order, then the bias. Covers the blocked f32 kernel (native/cpu/depthwise_forward.cc:
// kernel width 3 and 5, column stride 1 and 2) on rows shorter than a block, of a block or two and
// one pixel more or less, with the left padding 0, half or all of the kernel, asymmetric right
// padding, row stride and dilation of their own, channel counts that leave narrower vectors and
// single channels, and channel loops inside and outside the pixel blocks; and, on the same grid,
// the general kernel (column dilation 2, f64).
#pragma GCC optimize("fp-contract=off")  // the reference's a * b + c must round twice, as the kernels do

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "advprop/backends.h"
#include "advprop/conv.h"
#include "advprop/random.h"
#include "elements.h"
#include "harness.h"

namespace advprop {
namespace cpu {
bool set_depthwise_isa(int level);  // test hook in native/cpu/depthwise.cc
}  // namespace cpu
namespace {

const Device kCpu{};

template <typename T>
std::vector<T> plain_forward(const Conv2dParams& p, const T* x, const T* w, const T* b) {
  std::vector<T> y(static_cast<size_t>(p.n * p.out_h * p.out_w * p.c_in));
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t c = 0; c < p.c_in; ++c) {
          T acc = T(0);
          for (int64_t ky = 0; ky < p.kh; ++ky)
            for (int64_t kx = 0; kx < p.kw; ++kx) {
              const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dil_h;
              const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dil_w;
              if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
              acc += x[((n * p.h + ih) * p.w + iw) * p.c_in + c] * w[(c * p.kh + ky) * p.kw + kx];
            }
          if (b) acc += b[c];
          y[static_cast<size_t>(((n * p.out_h + oh) * p.out_w + ow) * p.c_in + c)] = acc;
        }
  return y;
}

// Output size for the padding (pad before, pad_after after), 0 where the kernel does not fit.
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t pad_after) {
  const int64_t span = in + pad + pad_after - ((k - 1) * d + 1);
  return span < 0 ? 0 : span / s + 1;
}

template <typename T>
void check_params(const Conv2dParams& p, DType dt, uint64_t seed, const std::string& what) {
  Tensor x = Tensor::empty({p.n, p.h, p.w, p.c_in}, dt, kCpu);
  Tensor w = Tensor::empty({p.c_in, p.kh, p.kw, 1}, dt, kCpu), b = Tensor::empty({p.c_in}, dt, kCpu);
  cpu::uniform(x, seed, 0, -1.0, 1.0);
  cpu::uniform(w, seed + 1, 0, -1.0, 1.0);
  cpu::uniform(b, seed + 2, 0, -1.0, 1.0);
  // A few signed zeros: 0 + (-0) is +0, so a kernel that started a sum from its first term
  // instead of from 0 would differ here.
  for (int64_t i = 0; i < x.numel(); i += 7) test::set(x, i, -0.0);
  for (const Tensor* bias : {static_cast<const Tensor*>(&b), static_cast<const Tensor*>(nullptr)}) {
    const std::vector<T> want = plain_forward<T>(p, x.data_as<T>(), w.data_as<T>(), bias ? bias->data_as<T>() : nullptr);
    for (int level = 1; level <= 3; ++level) {
      if (!cpu::set_depthwise_isa(level)) continue;
      Tensor y = Tensor::empty({p.n, p.out_h, p.out_w, p.c_in}, dt, kCpu);
      cpu::depthwise_forward(p, x, w, bias, y);
      const bool same = std::memcmp(y.data(), want.data(), want.size() * sizeof(T)) == 0;
      EXPECT_MSG(same, what + (bias ? " bias" : " no bias") + ": ISA level " + std::to_string(level) +
                           " differs from the plain loop");
    }
    cpu::set_depthwise_isa(0);
  }
}

ADVPROP_NATIVE_TEST(depthwise_cpu_forward_bits_equal_plain_loop) {
  const int64_t widths[] = {1, 2, 5, 7, 8, 9, 14, 15, 16, 17, 23, 29, 56};
  const int64_t channels[] = {3, 12, 17, 40, 160};
  uint64_t seed = 500;
  int index = 0;
  for (int64_t k : {3, 5})
    for (int64_t s : {1, 2})
      for (int64_t d : {1, 2})
        for (int64_t wd : widths)
          for (int64_t c : channels) {
            const int i = index++;
            Conv2dParams p;
            p.n = 2;
            p.h = 4 + i % 3;
            p.w = wd;
            p.c_in = p.c_out = p.groups = c;
            p.kw = k;
            p.kh = i % 4 == 3 ? 3 : k;
            p.stride_w = s;
            p.stride_h = 1 + (i / 2) % 2;
            p.dil_w = d;
            p.dil_h = 1 + (i / 3) % 2;
            const int64_t eff = (k - 1) * d + 1;
            p.pad_left = (i % 3 == 0) ? 0 : (i % 3 == 1) ? (eff - 1) / 2 : eff - 1;
            p.pad_top = (p.kh - 1) * p.dil_h / 2;
            p.out_w = out_size(p.w, k, s, d, p.pad_left, p.pad_left + i % 2);
            p.out_h = out_size(p.h, p.kh, p.stride_h, p.dil_h, p.pad_top, p.pad_top);
            if (p.out_w == 0 || p.out_h == 0) continue;
            const DType dt = (i % 5 == 4) ? DType::f64 : DType::f32;
            const std::string what = std::string(dtype_name(dt)) + " k" + std::to_string(p.kh) + "x" +
                                     std::to_string(k) + " s" + std::to_string(p.stride_h) + "," + std::to_string(s) +
                                     " d" + std::to_string(p.dil_h) + "," + std::to_string(d) + " " +
                                     std::to_string(p.h) + "x" + std::to_string(wd) + " pad " +
                                     std::to_string(p.pad_top) + "," + std::to_string(p.pad_left) + " c" +
                                     std::to_string(c);
            seed += 3;
            if (dt == DType::f32) check_params<float>(p, dt, seed, what);
            else check_params<double>(p, dt, seed, what);
          }
}

}  // namespace
}  // namespace advprop
