// Per-image kernels of the input pipeline (flip and AutoAugment's / RandAugment's ops): host-only,
// on the uint8 HWC images the loader's workers hold in plain memory, one image per call on the
// calling thread (a loader worker is one core). They are not tensor ops: no device, no dtype, no
// tape, no cuda twin. Each one reproduces the JavaScript transform it replaces byte for byte
// (lib/data/augment_js.ts, the reference of test/data/augment_native.test.ts): the same double
// arithmetic in the same order, JavaScript's Math.round (halves up), no FMA contraction.
// Parameters that need a transcendental (the rotation's cos and sin) or a 256-entry table (the
// point ops) are formed in TypeScript and passed in, so V8's libm and glibc's never both round one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "advprop/enum_table.h"

namespace advprop {

// (id, name, parameter count)
#define ADVPROP_AUGMENT_OPS(X)     \
  X(flip, "flip", 0)               \
  X(lut, "lut", 256)               \
  X(affine, "affine", 6)           \
  X(color, "color", 1)             \
  X(contrast, "contrast", 1)       \
  X(sharpness, "sharpness", 1)     \
  X(equalize, "equalize", 0)       \
  X(autocontrast, "autoContrast", 0)
ADVPROP_ENUM(AugmentOp, "augment op", ADVPROP_AUGMENT_OPS);
ADVPROP_ENUM_COLUMN(AugmentOp, ADVPROP_AUGMENT_OPS, int, augment_param_count, COL3);

// An 8-bit image, rows of width × channels bytes, channels interleaved.
struct HostImage {
  const uint8_t* data;
  int64_t height, width, channels;
};

namespace cpu {
// out has the image's bytes. Parameters (already checked by the front-end):
//   flip: none (left-right mirror).
//   lut: out = table[v], 256 entries.
//   affine: a, b, c, d, tx, ty: out(x, y) = in(round(a·X + b·Y + cx + tx), round(c·X + d·Y + cy + ty)),
//     X = x − cx, Y = y − cy, centre (cx, cy) = ((w − 1) / 2, (h − 1) / 2); nearest, black outside.
//   color: factor: blend with the Rec. 601 grey of each pixel (PIL ImageEnhance.Color); 1 or 3 channels.
//   contrast: factor: blend with the rounded mean grey of the image (ImageEnhance.Contrast); 1 or 3.
//   sharpness: factor: blend with PIL's SMOOTH filter (border pixels kept) (ImageEnhance.Sharpness).
//   equalize, autocontrast: per channel, PIL ImageOps's tables from the channel's histogram.
void augment(AugmentOp op, const HostImage& img, const double* params, uint8_t* out);
// dst[i] = src[i] / 255 rounded once to f32: the loader's 'float' batches (the JavaScript table's
// values, Float32Array.from(v / 255)).
void bytes_to_unit(const uint8_t* src, size_t n, float* dst);
}  // namespace cpu

namespace ops {
// Checked front-end ("imageAugment"): `bytes` must be height × width × channels, sizes positive,
// channels 1 to 4 (1 or 3 for color and contrast), params the op's count of finite values (the
// table's entries integers 0..255). ERR_ARG / ERR_SHAPE naming the op otherwise.
void image_augment(AugmentOp op, const uint8_t* data, size_t bytes, int64_t height, int64_t width, int64_t channels,
                   const std::vector<double>& params, uint8_t* out);
}  // namespace ops

}  // namespace advprop
