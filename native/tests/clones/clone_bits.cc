// Every clone of a cloned loop gives the same bits (native/cpu/simd.h's rule). The addon picks one
// clone per CPU at load time, so the test harness alone only ever runs one; .ci/native-tests
// builds this file three times (clone_isa.h: baseline, AVX2, AVX-512 code), runs each build the
// CPU can, and compares the printed hashes. Covered: the vectorised exp and SiLU helpers of
// simd.h and bn_math.h (training's, and eval mode's on the fused polynomial) over every 31st
// float, and the inference epilogue (epilogue.cc: batch norm's affine, each activation, the
// residual) on rows with NaN, inf and subnormal values, whose SiLU is eval-mode batch norm's
// (bn_math.h). Prints "<isa> <hash>".
//
// Contraction off, as in every file with cloned loops (simd.h): without it the AVX-512 build's
// exp, e^-|z| and SiLU differ from the others' in 1 ulp on 738,758 of the 1.84e9 values of every
// 7th float (FMA).
#pragma GCC optimize("fp-contract=off")

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cpu/bn_math.h"
#include "cpu/epilogue.h"

using namespace advprop;

namespace {

uint64_t fnv(uint64_t h, const float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) h = (h ^ cpu::f32_bits(v[i])) * 1099511628211ull;
  return h;
}

ADVPROP_CPU_CLONES void math_rows(const float* __restrict x, float* __restrict e, float* __restrict en,
                                  float* __restrict s, float* __restrict enf, float* __restrict sf, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    e[i] = cpu::exp_f32(x[i]);
    en[i] = cpu::exp_neg_abs_f32(x[i]);
    s[i] = bn_act_forward<BnAct::silu, cpu::BnMath>(x[i]);
    enf[i] = cpu::exp_neg_abs_f32<true>(x[i]);
    sf[i] = bn_act_forward<BnAct::silu, cpu::BnMathEval>(x[i]);
  }
}

}  // namespace

int main() {
  uint64_t h = 1469598103934665603ull;
  // Every 31st bit pattern, in blocks.
  const int64_t block = 1 << 16;
  std::vector<float> x(block), e(block), en(block), s(block), enf(block), sf(block);
  uint64_t bits = 0;
  while (bits <= 0xFFFFFFFFull) {
    int64_t n = 0;
    for (; n < block && bits <= 0xFFFFFFFFull; ++n, bits += 31) x[n] = cpu::f32_from_bits(static_cast<uint32_t>(bits));
    math_rows(x.data(), e.data(), en.data(), s.data(), enf.data(), sf.data(), n);
    h = fnv(fnv(fnv(fnv(fnv(h, e.data(), n), en.data(), n), s.data(), n), enf.data(), n), sf.data(), n);
  }
  // The epilogue, 77 channels (not a multiple of any vector), every activation, with and without
  // the residual; one value in five any bit pattern.
  const int64_t C = 77, R = 2000;
  std::vector<float> mean(C), scale(C), shift(C), res(R * C), c(R * C);
  uint32_t r = 1;
  auto rnd = [&] { return r = r * 1664525u + 1013904223u; };
  for (int64_t j = 0; j < C; ++j) {
    mean[j] = static_cast<float>(rnd() % 1000) / 500.f - 1;
    scale[j] = static_cast<float>(rnd() % 1000) / 100.f;
    shift[j] = static_cast<float>(rnd() % 1000) / 250.f - 2;
  }
  for (int act = 0; act < 3; ++act)
    for (int with_res = 0; with_res < 2; ++with_res) {
      for (int64_t i = 0; i < R * C; ++i) {
        const uint32_t b = rnd();
        c[i] = i % 5 == 0 ? cpu::f32_from_bits(b) : static_cast<float>(static_cast<int32_t>(b)) / 2.0e8f;
        res[i] = static_cast<float>(static_cast<int32_t>(rnd())) / 1.0e9f;
      }
      EpilogueView<float> v;
      v.mean = mean.data(), v.scale = scale.data(), v.shift = shift.data(), v.act = static_cast<BnAct>(act);
      if (with_res) v.res = res.data(), v.ldr = C;
      cpu::apply_epilogue_rows(v, c.data(), C, 0, R, 0, C);
      h = fnv(h, c.data(), R * C);
    }
  std::printf("%d %016" PRIx64 "\n", ADVPROP_CLONE_ISA, h);
  return 0;
}
