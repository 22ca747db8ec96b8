// The AVX-512 panel packing (native/cpu/pack_transpose.cc) against the scalar loop's layout:
// rows and k not multiples of 16, padded rows whose padding must never be read, and the zero rows
// that fill a panel's last R-row block.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "../cpu/pack_transpose.h"
#include "harness.h"

namespace advprop {
namespace {

ADVPROP_NATIVE_TEST(pack_rows_f32_matches_scalar_panels) {
  struct Case { int64_t rows, kc, ld; int R; };
  const Case cases[] = {{1, 1, 1, 16},    {16, 16, 16, 16}, {17, 5, 9, 16},      {32, 256, 256, 32}, {33, 17, 40, 32},
                        {96, 192, 203, 32}, {5, 300, 301, 32}, {1000, 33, 1280, 32}, {31, 64, 64, 16}};
  int ran = 0;
  for (const Case& c : cases) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> src(static_cast<size_t>(c.rows * c.ld), nan);  // padding: NaN, must not be read
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t p = 0; p < c.kc; ++p) src[r * c.ld + p] = static_cast<float>(r * 1000 + p) + 0.25f;
    const int64_t panels = (c.rows + c.R - 1) / c.R;
    std::vector<float> got(static_cast<size_t>(panels * c.R * c.kc), -7.0f);
    if (!cpu::pack_rows_f32(src.data(), c.ld, c.rows, c.kc, c.R, got.data())) {
      std::printf("       pack_rows_f32_matches_scalar_panels skipped: this CPU (or build) has no AVX-512\n");
      return;
    }
    ++ran;
    int64_t bad = 0;
    for (int64_t ir = 0; ir < panels * c.R; ir += c.R)
      for (int64_t p = 0; p < c.kc; ++p)
        for (int64_t i = 0; i < c.R; ++i) {
          const float want = ir + i < c.rows ? src[(ir + i) * c.ld + p] : 0.0f;
          const float v = got[ir * c.kc + p * c.R + i];
          if (!(v == want) || std::signbit(v) != std::signbit(want)) ++bad;
        }
    EXPECT_MSG(bad == 0, std::to_string(bad) + " wrong elements for rows=" + std::to_string(c.rows) + " kc=" +
                             std::to_string(c.kc) + " ld=" + std::to_string(c.ld) + " R=" + std::to_string(c.R));
  }
  EXPECT(ran == static_cast<int>(sizeof(cases) / sizeof(cases[0])));
}

}  // namespace
}  // namespace advprop
