// The input pipeline's JPEG decoder: libjpeg-turbo through its libjpeg API, loaded with dlopen at
// the first call (never linked, so the prebuilt addon loads where no libjpeg is installed), with
// the random-resized crop done inside the decode: DCT scaling (1/2, 1/4, 1/8) when the box is at
// least that many times the output, only the box's iMCU columns and rows decoded, then PIL's
// antialiased bilinear resample of the box (ImagingResample with a box) to the output size.
// Host-only, one image per call on the calling thread (a loader worker): no tensors, no device,
// no cuda twin. Anything it does not take (CMYK, 12-bit, a broken or truncated file, no library)
// comes back as `fallback`, and the loader gives the file to sharp, whose verdict and colour
// handling then stand.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace advprop {

// Which library serves decode_jpeg, or why none does ("" when available).
struct JpegLibrary {
  bool available = false;
  std::string path, reason;
};
const JpegLibrary& jpeg_library();

enum class JpegResult { ok, fallback };

// A box of the source image in pixels (integers, inside the image) and the output size; the
// output is out_h × out_w × channels bytes (channels 1: Rec. 601 grey of the RGB, rounded half
// up, as the loader's other decoders; 3: RGB). `why` says what sent a file back (for tests).
struct JpegCrop {
  int64_t top, left, height, width;
  int64_t out_h, out_w;
  int channels;
};
// ERR_ARG naming jpegDecode unless sizes are positive, at most 2^16, and channels 1 or 3.
void check_jpeg_crop(const JpegCrop& crop);
JpegResult decode_jpeg(const uint8_t* bytes, size_t size, const JpegCrop& crop, uint8_t* out, std::string* why = nullptr);

// The scale the decoder takes for a box and output: the largest of 1, 2, 4, 8 that leaves the
// scaled box at least the output's size on both axes.
int jpeg_scale_denom(const JpegCrop& crop);

namespace cpu {
// PIL's bilinear resample (triangle filter widened by the scale when shrinking, taps normalised,
// border taps dropped) of the fractional box (x0, y0)–(x1, y1) of an h × w × c image, separable:
// rows first in float, then columns, rounded half up and clamped. Taps outside the box but inside
// the image are read, as PIL does, so `src` is the rows and columns that `resample_span` names.
struct ResampleBox {
  double x0, y0, x1, y1;
};
// The source columns [first, last) (or rows) the resample of [b0, b1) to `out` pixels reads.
void resample_span(double b0, double b1, int64_t in, int64_t out, int64_t* first, int64_t* last);
// src: the region's rows (row stride src_stride bytes) whose top-left pixel is image pixel
// (region_top, region_left); box in image coordinates.
void resample_bilinear(const uint8_t* src, int64_t src_stride, int64_t region_top, int64_t region_left, int64_t image_h,
                       int64_t image_w, int channels, const ResampleBox& box, int64_t out_h, int64_t out_w, uint8_t* out);
}  // namespace cpu

}  // namespace advprop
