// cast, fill, random fills and device copies in bf16 and f16 through the front-ends (advprop::ops): on the cpu
// against the references of half_ref.h (rounded once to nearest even from the exact source value;
// widened exactly), and on cuda-sim bit for bit against the cpu. Inputs: every one of the 65,536
// patterns of each 16-bit type, ties, the f64 values just off an f32 midpoint (where rounding
// through f32 would round twice), f16 overflow and subnormals, infinities, NaN, int32 extremes.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "advprop/ops.h"
#include "advprop/philox.h"
#include "elements.h"
#include "half_ref.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};
#if ADVPROP_WITH_SIM
const Device kSim{DeviceType::cuda_sim, 0};
#endif
const DType kHalfTypes[] = {DType::bf16, DType::f16};
const DType kStorageTypes[] = {DType::f32, DType::f64, DType::i32, DType::bf16, DType::f16};

const test::Format& format_of(DType t) { return t == DType::bf16 ? test::kBf16 : test::kF16; }

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Edge values for rounding to 16 bits, as exact doubles.
std::vector<double> edge_values() {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 3.141592653589793, 1e-3, 255.0, 256.0, 257.0, 1e5, -1e5};
  for (int mant : {7, 10}) {
    const double u = std::ldexp(1.0, -mant);  // one ulp at 1
    for (double s : {1.0, -1.0}) {
      // Ties (down to even, up to even), just either side of a tie, and the double-rounding trap:
      // 1 + u/2 + 2^-40 is no f32, and rounding it to f32 first lands on the tie and goes down.
      v.insert(v.end(), {s * (1 + u / 2), s * (1 + 1.5 * u), s * (1 + u / 2 + std::ldexp(1.0, -40)),
                         s * (1 + u / 2 - std::ldexp(1.0, -40)), s * (1 + 1.5 * u - std::ldexp(1.0, -40)),
                         s * (1 + u / 2 + std::ldexp(1.0, -30))});
    }
  }
  // f16: largest finite, the overflow threshold (65520 is the midpoint to 65536: infinity) and
  // around it; subnormals down to 2^-24, the tie at 2^-25 (to zero) and 3 * 2^-25 (to 2^-23),
  // the largest subnormal's rounding into the smallest normal.
  v.insert(v.end(), {65504.0, 65519.0, 65519.99, 65520.0, std::nextafter(65520.0, 0.0), 65536.0, -65520.0,
                     std::ldexp(1.0, -24), std::ldexp(1.0, -25), std::nextafter(std::ldexp(1.0, -25), 1.0),
                     3 * std::ldexp(1.0, -25), -3 * std::ldexp(1.0, -25), std::ldexp(1.0, -14) - std::ldexp(1.0, -25),
                     std::ldexp(1023.0, -24), std::ldexp(1.0, -26)});
  // bf16: subnormals (f32's range), the largest finite and past it, f64 beyond f32's range.
  v.insert(v.end(), {std::ldexp(1.0, -130), std::ldexp(1.0, -133) + std::ldexp(1.0, -140), std::ldexp(1.0, -149),
                     std::ldexp(1.0, -150), 1e-45, 3.3895313892515355e38, 3.39e38, 3.4e38, -3.4e38, 1e300, -1e300,
                     1e-300, inf, -inf, std::nan("")});
  v.insert(v.end(), {16777217.0, 2147483647.0, -2147483648.0, 2147483648.0, 1e10});
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) {
    const int e = static_cast<int>(rng() % 90) - 45;
    v.push_back(std::ldexp(static_cast<double>(rng() >> 11) * 0x1p-53 + 0.5, e) * ((rng() & 1) ? -1 : 1));
  }
  return v;
}

// A cpu tensor of dtype `dt` holding `values` (f32 rounds each to f32; i32 takes the values that
// are int32 after truncation, others skipped).
Tensor source(DType dt, const std::vector<double>& values) {
  std::vector<double> kept;
  for (double x : values) {
    if (dt != DType::i32) kept.push_back(x);
    else if (std::isfinite(x) && std::trunc(x) >= -2147483648.0 && std::trunc(x) <= 2147483647.0) kept.push_back(std::trunc(x));
  }
  if (dt == DType::i32)
    for (int32_t k : {0x7fffffff, -0x7fffffff - 1, 16777217, -16777217, 65519, 65520, 65535, 1000001, 2049, 2051})
      kept.push_back(k);
  Tensor t = Tensor::empty({static_cast<int64_t>(kept.size())}, dt, kCpu);
  for (size_t i = 0; i < kept.size(); ++i) {
    if (dt == DType::i32) t.data_as<int32_t>()[i] = static_cast<int32_t>(kept[i]);
    else test::set(t, static_cast<int64_t>(i), kept[i]);  // bf16/f16 sources are built from bits below
  }
  return t;
}

// Every 16-bit pattern, as a tensor of dtype `dt` (bf16 or f16) built from raw bits.
Tensor every_pattern(DType dt) {
  std::vector<uint16_t> bits(65536);
  for (uint32_t b = 0; b < 65536; ++b) bits[b] = static_cast<uint16_t>(b);
  return ops::from_host(bits.data(), bits.size() * 2, {65536}, dt, kCpu);
}

uint16_t bits_at(const Tensor& t, int64_t i) { return t.data_as<uint16_t>()[i]; }

// The exact value of element i of a cpu tensor (f64 holds every value of the other types).
double exact(const Tensor& t, int64_t i) {
  if (t.dtype() == DType::bf16 || t.dtype() == DType::f16) return test::decode(format_of(t.dtype()), bits_at(t, i));
  return test::get(t, i);
}

// int32 from a float value as cvt.rzi.s32: truncated, saturated, NaN to 0.
double to_i32_reference(double x) {
  if (std::isnan(x)) return 0;
  if (x <= -2147483648.0) return -2147483648.0;
  if (x >= 2147483647.0) return 2147483647.0;
  return std::trunc(x);
}

// Checks that dst (cpu) holds src (cpu) converted as cast promises: to a 16-bit type rounded
// once from the exact value (NaN to the canonical 0x7fff), to f32 rounded once, to f64 exactly,
// to i32 truncated; a same-dtype cast copies the bytes.
void expect_cast_reference(const Tensor& src, const Tensor& dst) {
  REQUIRE(src.numel() == dst.numel());
  const std::string what = std::string("cast ") + dtype_name(src.dtype()) + " -> " + dtype_name(dst.dtype());
  if (src.dtype() == dst.dtype()) {
    EXPECT_MSG(std::memcmp(src.data(), dst.data(), src.nbytes()) == 0, what + ": bytes differ");
    return;
  }
  int bad = 0;
  for (int64_t i = 0; i < src.numel() && bad < 5; ++i) {
    const double x = exact(src, i);
    bool ok;
    double want;
    if (dst.dtype() == DType::bf16 || dst.dtype() == DType::f16) {
      const test::Format& f = format_of(dst.dtype());
      want = test::reference(f, x);
      ok = std::isnan(x) ? bits_at(dst, i) == 0x7fff : test::same_value(test::decode(f, bits_at(dst, i)), want);
    } else if (dst.dtype() == DType::i32) {
      want = to_i32_reference(x);
      ok = test::get(dst, i) == want;
    } else {
      want = dst.dtype() == DType::f32 ? static_cast<double>(static_cast<float>(x)) : x;
      ok = test::same_value(test::get(dst, i), want);
    }
    if (!ok && ++bad)
      EXPECT_MSG(false, what + " [" + std::to_string(i) + "] " + test::describe_double(x) + ": got " +
                            test::describe_double(exact(dst, i)) + ", want " + test::describe_double(want));
  }
}

#if ADVPROP_WITH_SIM
void expect_same_bytes(const std::string& what, const Tensor& sim, const Tensor& ref) {
  const Tensor got = test::to_cpu(sim);
  REQUIRE(got.nbytes() == ref.nbytes() && got.dtype() == ref.dtype());
  const size_t es = dtype_size(ref.dtype());
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < ref.numel(); ++i)
    if (std::memcmp(static_cast<const char*>(got.data()) + i * es, static_cast<const char*>(ref.data()) + i * es, es) &&
        bad++ < 4)
      first += " [" + std::to_string(i) + "] " + test::describe_double(exact(got, i)) + " vs " +
               test::describe_double(exact(ref, i)) + ";";
  EXPECT_MSG(bad == 0, what + ": " + std::to_string(bad) + " of " + std::to_string(ref.numel()) + " differ:" + first);
}
#endif

// Sources of every storage type: the edge values, and for bf16/f16 every bit pattern.
Tensor any_source(DType from) {
  return from == DType::bf16 || from == DType::f16 ? every_pattern(from) : source(from, edge_values());
}

ADVPROP_NATIVE_TEST(cast_every_storage_pair_rounds_once_to_nearest_even) {
  for (DType from : kStorageTypes) {
    const Tensor src = any_source(from);
    for (DType to : kStorageTypes) {
      if (from != DType::bf16 && from != DType::f16 && to != DType::bf16 && to != DType::f16) continue;
      const Tensor out = ops::cast(src, to);
      expect_cast_reference(src, out);
#if ADVPROP_WITH_SIM
      expect_same_bytes(std::string("cuda-sim cast ") + dtype_name(from) + " -> " + dtype_name(to),
                        ops::cast(test::to_sim(src), to), out);
#endif
    }
  }
}

ADVPROP_NATIVE_TEST(cast_to_half_examples) {
  // Hand-checked bits, independent of the reference: ties to even, the once-rounded f64, overflow.
  auto bits = [](DType from, double v, DType to) {
    Tensor s = Tensor::empty({1}, from, kCpu);
    test::set(s, 0, v);
    return bits_at(ops::cast(s, to), 0);
  };
  EXPECT_EQ(bits(DType::f64, 1 + 0x1p-8, DType::bf16), 0x3f80);               // tie: down to even
  EXPECT_EQ(bits(DType::f64, 1 + 3 * 0x1p-8, DType::bf16), 0x3f82);           // tie: up to even
  EXPECT_EQ(bits(DType::f64, 1 + 0x1p-8 + 0x1p-40, DType::bf16), 0x3f81);     // above the tie: once
  EXPECT_EQ(bits(DType::f32, 1 + 0x1p-8 + 0x1p-40, DType::bf16), 0x3f80);     // the f32 is the tie
  EXPECT_EQ(bits(DType::f64, 1 + 0x1p-11 + 0x1p-40, DType::f16), 0x3c01);
  EXPECT_EQ(bits(DType::f64, 65520.0, DType::f16), 0x7c00);
  EXPECT_EQ(bits(DType::f64, 65519.99, DType::f16), 0x7bff);
  EXPECT_EQ(bits(DType::f64, 0x1p-24, DType::f16), 0x0001);
  EXPECT_EQ(bits(DType::f64, 0x1p-25, DType::f16), 0x0000);
  EXPECT_EQ(bits(DType::f64, -3 * 0x1p-25, DType::f16), 0x8002);
  EXPECT_EQ(bits(DType::f64, std::nan(""), DType::bf16), 0x7fff);
  EXPECT_EQ(bits(DType::i32, 16777217, DType::bf16), 0x4b80);  // 2^24 + 1 -> 2^24
  EXPECT_EQ(bits(DType::i32, 2049, DType::f16), 0x6800);       // tie between 2048 and 2050: 2048
  EXPECT_EQ(bits(DType::i32, 2051, DType::f16), 0x6802);       // tie between 2050 and 2052: 2052
  EXPECT_EQ(bits(DType::i32, 2147483647, DType::f16), 0x7c00);
}

ADVPROP_NATIVE_TEST(full_in_half_rounds_the_value_once) {
  for (DType dt : kHalfTypes)
    for (double v : edge_values()) {
      const Tensor t = ops::full({3}, dt, kCpu, v);
      const test::Format& f = format_of(dt);
      const double want = test::reference(f, v);
      for (int64_t i = 0; i < 3; ++i) {
        const bool ok = std::isnan(v) ? bits_at(t, i) == 0x7fff : test::same_value(test::decode(f, bits_at(t, i)), want);
        if (!ok) {
          EXPECT_MSG(false, std::string("full ") + dtype_name(dt) + " " + test::describe_double(v) + ": got " +
                                hex(bits_at(t, i)) + ", want " + test::describe_double(want));
          return;
        }
      }
#if ADVPROP_WITH_SIM
      for (int64_t n : {1, 7, 1000})
        expect_same_bytes(std::string("cuda-sim full ") + dtype_name(dt) + " " + test::describe_double(v),
                          ops::full({n}, dt, kSim, v), ops::full({n}, dt, kCpu, v));
#endif
    }
}

// uniform and normal: the double value of the f32/f64 fill, rounded once to the 16-bit type.
ADVPROP_NATIVE_TEST(random_fills_in_half_round_the_double_once) {
  const uint64_t seed = 0x1234567890abcdefull, offset = 5;
  for (DType dt : kHalfTypes)
    for (int64_t n : {1, 3, 4, 5, 1000, 4097}) {
      const Tensor u = ops::uniform({n}, dt, kCpu, seed, offset, -1.0, 2.0);
      const Tensor z = ops::normal({n}, dt, kCpu, seed, offset, 2.0, 0.5);
      const test::Format& f = format_of(dt);
      int bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        bad += !test::same_value(exact(u, i), test::reference(f, std::fma(3.0, philox_uniform_element(seed, offset, i), -1.0)));
        bad += !test::same_value(exact(z, i), test::reference(f, std::fma(0.5, philox_normal_element(seed, offset, i), 2.0)));
      }
      EXPECT_MSG(bad == 0, std::string(dtype_name(dt)) + " n=" + std::to_string(n) + ": " + std::to_string(bad) + " off");
#if ADVPROP_WITH_SIM
      expect_same_bytes(std::string("cuda-sim uniform ") + dtype_name(dt), ops::uniform({n}, dt, kSim, seed, offset, -1.0, 2.0), u);
      expect_same_bytes(std::string("cuda-sim normal ") + dtype_name(dt), ops::normal({n}, dt, kSim, seed, offset, 2.0, 0.5), z);
#endif
    }
  EXPECT_THROWS(ops::uniform({2}, DType::i32, kCpu, 1, 0, 0, 1), ErrorCode::DType);
}

ADVPROP_NATIVE_TEST(half_tensors_copy_between_devices_bit_for_bit) {
  for (DType dt : kHalfTypes) {
    const Tensor t = every_pattern(dt);
    const Tensor c = ops::clone(t);
    EXPECT(c.dtype() == dt && c.nbytes() == 2 * 65536u);
    EXPECT(std::memcmp(c.data(), t.data(), t.nbytes()) == 0);
    std::vector<uint16_t> back(65536);
    ops::to_host(t, back.data(), back.size() * 2);
    EXPECT(std::memcmp(back.data(), t.data(), t.nbytes()) == 0);
#if ADVPROP_WITH_SIM
    const Tensor s = test::to_sim(t);
    EXPECT(s.nbytes() == t.nbytes());
    const Tensor s2 = ops::clone(s);
    EXPECT(std::memcmp(test::to_cpu(s2).data(), t.data(), t.nbytes()) == 0);
    // A same-dtype cast copies: NaN payloads survive (a conversion would canonicalise them).
    EXPECT(std::memcmp(test::to_cpu(ops::cast(s, dt)).data(), t.data(), t.nbytes()) == 0);
#endif
    EXPECT(std::memcmp(ops::cast(t, dt).data(), t.data(), t.nbytes()) == 0);
  }
}

ADVPROP_NATIVE_TEST(cast_and_full_refuse_u8) {
  const Tensor t = ops::full({2}, DType::bf16, kCpu, 1);
  EXPECT_THROWS(ops::cast(t, DType::u8), ErrorCode::DType);
  EXPECT_THROWS(ops::full({2}, DType::u8, kCpu, 1), ErrorCode::DType);
  EXPECT_THROWS(ops::cast(Tensor::empty({2}, DType::u8, kCpu), DType::f16), ErrorCode::DType);
}

}  // namespace
}  // namespace advprop
