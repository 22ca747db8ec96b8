// advprop/half.h against references computed another way: every one of the 65,536 bf16 and f16
// patterns decoded from its fields with ldexp (and, for f16, by the compiler's _Float16) and
// narrowed back; f32 and f64 inputs (random bit patterns, every tie between neighbouring 16-bit
// values and the f32 values either side of it, overflow and subnormal edges, NaN payloads)
// rounded by scaling in double and nearbyint (round-to-nearest-even), and for f16 by _Float16.
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "advprop/half.h"
#include "half_ref.h"
#include "harness.h"

namespace advprop {
namespace {

uint32_t bits_of(float x) { return half_detail::f32_bits(x); }
float float_of(uint32_t u) { return half_detail::f32_from_bits(u); }
uint64_t bits_of(double x) {
  uint64_t u;
  std::memcpy(&u, &x, 8);
  return u;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

using test::decode;
using test::Format;
using test::kBf16;
using test::kF16;
using test::reference;
using test::same_value;

// Checks one f32 input; returns false (after recording the failure) on a mismatch.
bool check_f32(const Format& f, const char* name, float x) {
  const uint16_t b = f.from_f32(x);
  const double want = reference(f, x);
  if (std::isnan(x) ? b == 0x7fff : same_value(decode(f, b), want)) return true;
  test::record_failure(__FILE__, __LINE__,
                       std::string(name) + " from f32 " + hex(bits_of(x)) + ": got " + hex(b) + " = " +
                           test::describe_double(decode(f, b)) + ", want " + test::describe_double(want));
  return false;
}
bool check_f64(const Format& f, const char* name, double x) {
  const uint16_t b = f.from_f64(x);
  const double want = reference(f, x);
  if (std::isnan(x) ? b == 0x7fff : same_value(decode(f, b), want)) return true;
  test::record_failure(__FILE__, __LINE__,
                       std::string(name) + " from f64 " + hex(bits_of(x)) + ": got " + hex(b) + " = " +
                           test::describe_double(decode(f, b)) + ", want " + test::describe_double(want));
  return false;
}

// Inputs that stress rounding: for every finite 16-bit value v and its successor, the midpoint
// and the f32 values either side of it, v itself and its f32 neighbours; then edge cases.
std::vector<float> tie_inputs(const Format& f) {
  std::vector<float> xs;
  for (uint32_t b = 0; b < 0x7fff; ++b) {
    const double v = decode(f, static_cast<uint16_t>(b));
    const double next = decode(f, static_cast<uint16_t>(b + 1));
    if (!std::isfinite(v)) continue;
    // The midpoint needs one bit more than the format: exact in f32. Past the largest finite
    // value the successor is 2^(emax+1), which decode returns as infinity.
    const double mid = std::isfinite(next) ? (v + next) / 2 : v + std::ldexp(1.0, f.emax - f.mant - 1);
    for (double s : {1.0, -1.0}) {
      const float m = static_cast<float>(s * mid), vv = static_cast<float>(s * v);
      if (static_cast<double>(m) != s * mid) continue;  // bf16's midpoints below f32's range
      const float out = static_cast<float>(s * INFINITY);
      xs.insert(xs.end(), {m, std::nextafterf(m, 0.0f), std::nextafterf(m, out), vv, std::nextafterf(vv, 0.0f),
                           std::nextafterf(vv, out)});
    }
  }
  for (uint32_t u : {0x0u, 0x80000000u, 0x1u, 0x80000001u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u, 0xff800000u,
                     0x00800000u, 0x007fffffu, 0x477fe000u, 0x477fefffu, 0x477ff000u, 0x477ff001u, 0x47800000u,
                     0x33000000u, 0x33000001u, 0x32ffffffu, 0x33400000u, 0x387fc000u, 0x387fe000u, 0x387fffffu,
                     0x7f7f8000u, 0x7f7f7fffu, 0x7f7f8001u})
    xs.push_back(float_of(u));
  return xs;
}

std::vector<uint32_t> nan_inputs() {
  return {0x7f800001u, 0xff800001u, 0x7fc00000u, 0xffc00000u, 0x7f802000u, 0x7fffffffu, 0xffffffffu, 0x7f810000u};
}

ADVPROP_NATIVE_TEST(half_every_bf16_pattern_widens_exactly_and_round_trips) {
  int bad = 0;
  for (uint32_t b = 0; b <= 0xffff && bad < 10; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    const float x = bf16_bits_to_f32(h);
    const double want = decode(kBf16, h);
    const bool nan = std::isnan(want);
    if (!(nan ? std::isnan(x) && bits_of(x) == b << 16 : same_value(x, want))) {
      ++bad;
      EXPECT_MSG(false, "bf16 " + hex(b) + " widened to " + test::describe_double(x));
    }
    const uint16_t back = f32_to_bf16_bits(x);
    if (back != (nan ? 0x7fff : h)) {
      ++bad;
      EXPECT_MSG(false, "bf16 " + hex(b) + " came back as " + hex(back));
    }
    if (!nan && f64_to_bf16_bits(static_cast<double>(x)) != h) {
      ++bad;
      EXPECT_MSG(false, "bf16 " + hex(b) + " via f64 came back as " + hex(f64_to_bf16_bits(x)));
    }
  }
  EXPECT_EQ(bad, 0);
}

ADVPROP_NATIVE_TEST(half_every_f16_pattern_widens_exactly_and_round_trips) {
  int bad = 0;
  for (uint32_t b = 0; b <= 0xffff && bad < 10; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    const float x = f16_bits_to_f32(h);
    const double want = decode(kF16, h);
    const bool nan = std::isnan(want);
    bool ok = nan ? std::isnan(x) && (bits_of(x) & 0x807fffffu) == ((b & 0x8000u) << 16 | (b & 0x3ffu) << 13)
                  : same_value(x, want);
#if defined(__FLT16_MAX__)
    _Float16 g;
    std::memcpy(&g, &h, 2);
    ok = ok && (nan ? std::isnan(static_cast<float>(g)) : same_value(x, static_cast<float>(g)));
#endif
    if (!ok) {
      ++bad;
      EXPECT_MSG(false, "f16 " + hex(b) + " widened to " + test::describe_double(x));
    }
    const uint16_t back = f32_to_f16_bits(x);
    if (back != (nan ? 0x7fff : h)) {
      ++bad;
      EXPECT_MSG(false, "f16 " + hex(b) + " came back as " + hex(back));
    }
    if (!nan && f64_to_f16_bits(static_cast<double>(x)) != h) {
      ++bad;
      EXPECT_MSG(false, "f16 " + hex(b) + " via f64 came back as " + hex(f64_to_f16_bits(x)));
    }
  }
  EXPECT_EQ(bad, 0);
}

// The typed wrappers and the storage-generic helpers call the same functions.
ADVPROP_NATIVE_TEST(half_typed_wrappers) {
  EXPECT_EQ(to_bf16(1.0f).bits, 0x3f80);
  EXPECT_EQ(to_f16(1.0f).bits, 0x3c00);
  EXPECT_EQ(to_f16(65520.0).bits, 0x7c00);
  EXPECT_EQ(to_f32(bf16{0xc040}), -3.0f);
  EXPECT_EQ(to_f32(f16{0x0001}), std::ldexp(1.0f, -24));
  EXPECT_EQ(load_f32(store_as<bf16>(0.1f)), bf16_bits_to_f32(f32_to_bf16_bits(0.1f)));
  EXPECT_EQ(load_f32(store_as<f16>(0.1f)), f16_bits_to_f32(f32_to_f16_bits(0.1f)));
  EXPECT_EQ(store_as<double>(0.1f), static_cast<double>(0.1f));
  EXPECT_EQ(f32_to_bf16_bits(-NAN), 0x7fff);
  EXPECT_EQ(f32_to_f16_bits(float_of(0x7f800001u)), 0x7fff);  // not infinity: a NaN stays a NaN
}

void check_format_from_f32(const Format& f, const char* name, uint64_t seed) {
  int bad = 0;
  size_t n = 0;
  for (float x : tie_inputs(f)) {
    bad += !check_f32(f, name, x);
    ++n;
    if (bad > 10) return;
  }
  for (uint32_t u : nan_inputs()) bad += !check_f32(f, name, float_of(u));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 2000000 && bad <= 10; ++i, ++n) {
    const uint64_t r = rng();
    // Half the inputs anywhere, half near the format's range (where its rounding is interesting).
    uint32_t u = static_cast<uint32_t>(r);
    if (r >> 63) {
      const int e = f.emin - f.mant - 3 + static_cast<int>((r >> 32) % static_cast<uint64_t>(f.emax - f.emin + f.mant + 6));
      u = (u & 0x807fffffu) | (static_cast<uint32_t>(std::max(0, std::min(254, e + 127))) << 23);
    }
    bad += !check_f32(f, name, float_of(u));
  }
  EXPECT_MSG(bad == 0, std::string(name) + ": " + std::to_string(bad) + " mismatches in " + std::to_string(n));
}

ADVPROP_NATIVE_TEST(half_bf16_from_f32_rounds_to_nearest_even) {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  check_format_from_f32(kBf16, "bf16", 1);
}

ADVPROP_NATIVE_TEST(half_f16_from_f32_rounds_to_nearest_even) {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  check_format_from_f32(kF16, "f16", 2);
#if defined(__FLT16_MAX__)
  // A third opinion: the compiler's own conversion, on the same inputs.
  int bad = 0;
  std::vector<float> xs = tie_inputs(kF16);
  std::mt19937 rng(3);
  for (int i = 0; i < 1000000; ++i) xs.push_back(float_of(rng()));
  for (float x : xs) {
    if (std::isnan(x)) continue;
    const _Float16 g = static_cast<_Float16>(x);
    uint16_t gb;
    std::memcpy(&gb, &g, 2);
    if (gb != f32_to_f16_bits(x) && ++bad <= 5)
      EXPECT_MSG(false, "f32 " + hex(bits_of(x)) + ": " + hex(f32_to_f16_bits(x)) + " vs _Float16 " + hex(gb));
  }
  EXPECT_EQ(bad, 0);
#endif
}

// f64 inputs: rounded once. The traps are values just off an f32-representable midpoint, where
// rounding to f32 first would land on the midpoint and then round to even the wrong way.
void check_format_from_f64(const Format& f, const char* name, uint64_t seed) {
  int bad = 0;
  std::vector<double> xs;
  for (float m : tie_inputs(f))
    for (double d : {0.0, 1e-12, -1e-12, 1e-30})
      xs.push_back(static_cast<double>(m) * (1.0 + d) + (m == 0 ? d * 1e-300 : 0.0));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 1000000; ++i) {
    const uint64_t r = rng();
    const int e = f.emin - f.mant - 40 + static_cast<int>((r >> 52) % static_cast<uint64_t>(f.emax - f.emin + f.mant + 80));
    xs.push_back(std::ldexp(1.0 + static_cast<double>(r & ((1ull << 52) - 1)) * 0x1p-52, e) * ((r >> 63) ? -1 : 1));
  }
  xs.insert(xs.end(), {0.0, -0.0, 1e300, -1e300, INFINITY, -INFINITY, NAN, 65520.0, std::nextafter(65520.0, 0.0),
                       std::ldexp(1.0, -25), std::nextafter(std::ldexp(1.0, -25), 1.0), 4.9e-324});
  for (double x : xs) {
    bad += !check_f64(f, name, x);
#if defined(__FLT16_MAX__)
    if (f.mant == 10 && !std::isnan(x)) {
      const _Float16 g = static_cast<_Float16>(x);
      uint16_t gb;
      std::memcpy(&gb, &g, 2);
      if (gb != f.from_f64(x) && ++bad <= 5)
        EXPECT_MSG(false, "f64 " + hex(bits_of(x)) + ": " + hex(f.from_f64(x)) + " vs _Float16 " + hex(gb));
    }
#endif
    if (bad > 10) break;
  }
  EXPECT_MSG(bad == 0, std::string(name) + " from f64: " + std::to_string(bad) + " mismatches in " + std::to_string(xs.size()));
}

ADVPROP_NATIVE_TEST(half_from_f64_rounds_once) {
  check_format_from_f64(kBf16, "bf16", 4);
  check_format_from_f64(kF16, "f16", 5);
}

}  // namespace
}  // namespace advprop
