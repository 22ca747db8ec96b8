// See advprop/jpeg.h. libjpeg reports errors through a callback that must not return; the standard
// way out is longjmp, so each function that calls into the library sets its jump point and keeps
// no object with a destructor of its own (the buffers live in the caller's Decode).
#include "advprop/jpeg.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "advprop/dl_bind.h"
#include "advprop/error.h"

#if __has_include(<jpeglib.h>)
#include <jpeglib.h>
#include <jerror.h>
#define ADVPROP_HAVE_JPEGLIB 1
#else
#define ADVPROP_HAVE_JPEGLIB 0
#endif

namespace advprop {

void check_jpeg_crop(const JpegCrop& c) {
  constexpr int64_t kMaxSide = int64_t{1} << 16;  // libjpeg's own limit (JPEG_MAX_DIMENSION is 65500)
  if (c.out_h < 1 || c.out_w < 1 || c.out_h > kMaxSide || c.out_w > kMaxSide || c.height < 1 || c.width < 1 || c.top < 0 ||
      c.left < 0 || (c.channels != 1 && c.channels != 3))
    fail(ErrorCode::Arg, "jpegDecode: box " + shape_str({c.top, c.left, c.height, c.width}) + " (top, left, height, width), output " +
                             shape_str({c.out_h, c.out_w, c.channels}) + ": sizes must be positive, at most " +
                             std::to_string(kMaxSide) + ", channels 1 or 3");
}

int jpeg_scale_denom(const JpegCrop& c) {
  int d = 1;
  while (d < 8 && c.width >= 2 * d * c.out_w && c.height >= 2 * d * c.out_h) d *= 2;
  return d;
}

#if ADVPROP_HAVE_JPEGLIB
namespace {

// The library's functions, bound once.
struct Lib {
  JpegLibrary info;
  jpeg_error_mgr* (*std_error)(jpeg_error_mgr*) = nullptr;
  void (*create)(j_decompress_ptr, int, size_t) = nullptr;
  void (*destroy)(j_decompress_ptr) = nullptr;
  void (*mem_src)(j_decompress_ptr, const unsigned char*, unsigned long) = nullptr;
  int (*read_header)(j_decompress_ptr, boolean) = nullptr;
  boolean (*start)(j_decompress_ptr) = nullptr;
  JDIMENSION (*read_scanlines)(j_decompress_ptr, JSAMPARRAY, JDIMENSION) = nullptr;
  void (*abort)(j_decompress_ptr) = nullptr;
  // Optional (libjpeg-turbo 1.5 and later): without them whole rows are decoded and discarded.
  JDIMENSION (*skip_scanlines)(j_decompress_ptr, JDIMENSION) = nullptr;
  void (*crop_scanline)(j_decompress_ptr, JDIMENSION*, JDIMENSION*) = nullptr;
};

struct Err {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  Err* e = reinterpret_cast<Err*>(cinfo->err);
  e->pub.format_message(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Any warning (a truncated file, corrupt data, extraneous bytes) hands the file to sharp, whose
// policy (libvips' fail-on 'error') then decides: the fast path only keeps files it reads cleanly.
void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  on_error(cinfo);
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  Err err;
  bool created = false;
};

// Creates the decompressor with the header's version and struct size: a library of another ABI
// refuses them (JERR_BAD_LIB_VERSION / JERR_BAD_STRUCT_SIZE) instead of misreading the struct.
bool create(const Lib& L, Decoder& d) {
  d.cinfo.err = L.std_error(&d.err.pub);
  d.err.pub.error_exit = on_error;
  d.err.pub.emit_message = on_message;
  d.err.message[0] = '\0';
  if (setjmp(d.err.jump)) return false;
  L.create(&d.cinfo, JPEG_LIB_VERSION, sizeof(jpeg_decompress_struct));
  d.created = true;
  return true;
}

Lib load() {
  Lib L;
  const char* env = std::getenv("ADVPROP_JPEG_LIB");
  // The soname of the ABI this file was compiled against: 62 for libjpeg-turbo's default.
  const std::string so = JPEG_LIB_VERSION == 62 ? "libjpeg.so.62" : "libjpeg.so." + std::to_string(JPEG_LIB_VERSION / 10);
  const std::string name = env && *env ? env : so;
  void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    L.info.reason = name + ": " + (e ? e : "not found") + " (JPEGs are decoded by sharp; set ADVPROP_JPEG_LIB to a libjpeg of ABI " +
                    std::to_string(JPEG_LIB_VERSION) + ")";
    return L;
  }
  std::string missing, optional;
  dl_bind(lib, "jpeg_std_error", L.std_error, missing);
  dl_bind(lib, "jpeg_CreateDecompress", L.create, missing);
  dl_bind(lib, "jpeg_destroy_decompress", L.destroy, missing);
  dl_bind(lib, "jpeg_mem_src", L.mem_src, missing);
  dl_bind(lib, "jpeg_read_header", L.read_header, missing);
  dl_bind(lib, "jpeg_start_decompress", L.start, missing);
  dl_bind(lib, "jpeg_read_scanlines", L.read_scanlines, missing);
  dl_bind(lib, "jpeg_abort_decompress", L.abort, missing);
  dl_bind(lib, "jpeg_skip_scanlines", L.skip_scanlines, optional);
  dl_bind(lib, "jpeg_crop_scanline", L.crop_scanline, optional);
  if (!missing.empty()) {
    L.info.reason = name + " lacks " + missing;
    return L;
  }
  Decoder probe;
  const bool ok = create(L, probe);
  if (probe.created) L.destroy(&probe.cinfo);
  if (!ok) {
    L.info.reason = name + " refused this build's libjpeg ABI " + std::to_string(JPEG_LIB_VERSION) + ": " + probe.err.message;
    return L;
  }
  L.info.available = true;
  L.info.path = name;
  return L;
}

const Lib& lib() {
  static const Lib L = load();
  return L;
}

// The decoded rows of the region the resample reads, and where it sits in the scaled image.
struct Region {
  std::vector<uint8_t> rows;
  int64_t top = 0, left = 0, width = 0, stride = 0, image_h = 0, image_w = 0;
  int comps = 0;
  int64_t ya = 0, yb = 0, xa = 0, xb = 0;
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

bool read_header(const Lib& L, Decoder& d, const uint8_t* bytes, size_t size) {
  if (setjmp(d.err.jump)) return false;
  L.mem_src(&d.cinfo, bytes, static_cast<unsigned long>(size));
  L.read_header(&d.cinfo, TRUE);
  return true;
}

// Scales, crops and reads the region's rows; `r` is sized here, outside any libjpeg frame's reach.
bool decode_region(const Lib& L, Decoder& d, const JpegCrop& c, int denom, Region& r) {
  if (setjmp(d.err.jump)) return false;
  jpeg_decompress_struct& ci = d.cinfo;
  ci.out_color_space = ci.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  ci.scale_num = 1;
  ci.scale_denom = static_cast<unsigned>(denom);
  L.start(&ci);
  r.image_w = ci.output_width;
  r.image_h = ci.output_height;
  r.comps = ci.output_components;
  // Scaled pixel i covers source pixels [i·denom, (i + 1)·denom).
  r.x0 = static_cast<double>(c.left) / denom;
  r.y0 = static_cast<double>(c.top) / denom;
  r.x1 = std::min(static_cast<double>(c.left + c.width) / denom, static_cast<double>(r.image_w));
  r.y1 = std::min(static_cast<double>(c.top + c.height) / denom, static_cast<double>(r.image_h));
  cpu::resample_span(r.x0, r.x1, r.image_w, c.out_w, &r.xa, &r.xb);
  cpu::resample_span(r.y0, r.y1, r.image_h, c.out_h, &r.ya, &r.yb);
  JDIMENSION xoff = 0, w = static_cast<JDIMENSION>(r.image_w);
  if (L.crop_scanline && (r.xa > 0 || r.xb < r.image_w)) {
    xoff = static_cast<JDIMENSION>(r.xa);
    w = static_cast<JDIMENSION>(r.xb - r.xa);
    L.crop_scanline(&ci, &xoff, &w);  // widens to whole iMCU columns
  }
  r.left = xoff;
  r.width = w;
  r.top = r.ya;
  r.stride = r.width * r.comps;
  r.rows.resize(static_cast<size_t>((r.yb - r.ya) * r.stride));
  if (r.ya > 0 && L.skip_scanlines) L.skip_scanlines(&ci, static_cast<JDIMENSION>(r.ya));
  // Without skip_scanlines, the rows above the region are read into its first row and overwritten.
  while (static_cast<int64_t>(ci.output_scanline) < r.yb) {
    const int64_t y = std::max<int64_t>(static_cast<int64_t>(ci.output_scanline) - r.ya, 0);
    JSAMPROW row = r.rows.data() + y * r.stride;
    L.read_scanlines(&ci, &row, 1);
  }
  L.abort(&ci);
  return true;
}

bool ends_with_eoi(const uint8_t* b, size_t n) { return n >= 4 && b[n - 2] == 0xff && b[n - 1] == 0xd9; }

void send_back(std::string* why, const std::string& what) {
  if (why) *why = what;
}

}  // namespace

const JpegLibrary& jpeg_library() { return lib().info; }

JpegResult decode_jpeg(const uint8_t* bytes, size_t size, const JpegCrop& c, uint8_t* out, std::string* why) {
  check_jpeg_crop(c);
  const Lib& L = lib();
  if (!L.info.available) return send_back(why, L.info.reason), JpegResult::fallback;
  // A cropped decode stops at the box's last row, so it would not see a truncated file's end.
  if (!ends_with_eoi(bytes, size)) return send_back(why, "no end-of-image marker at the end of the file"), JpegResult::fallback;
  Decoder d;
  Region r;
  struct Guard {
    const Lib& L;
    Decoder& d;
    ~Guard() {
      if (d.created) L.destroy(&d.cinfo);
    }
  } guard{L, d};
  if (!create(L, d) || !read_header(L, d, bytes, size)) return send_back(why, d.err.message), JpegResult::fallback;
  const jpeg_decompress_struct& ci = d.cinfo;
  const J_COLOR_SPACE cs = ci.jpeg_color_space;
  if (!((cs == JCS_GRAYSCALE && ci.num_components == 1) || ((cs == JCS_YCbCr || cs == JCS_RGB) && ci.num_components == 3)))
    return send_back(why, "colour space " + std::to_string(static_cast<int>(cs)) + " with " + std::to_string(ci.num_components) +
                              " components"),
           JpegResult::fallback;
  // sharp's limitInputPixels: a larger image is sharp's to refuse (ERR_FORMAT), not an allocation here.
  if (static_cast<uint64_t>(ci.image_width) * ci.image_height > 268402689u)
    return send_back(why, "more pixels than sharp's limit"), JpegResult::fallback;
  // The caller drew the box from its own reading of the header; a file whose frames disagree
  // (several SOF markers, a DNL height) is sharp's to judge.
  if (c.top + c.height > static_cast<int64_t>(ci.image_height) || c.left + c.width > static_cast<int64_t>(ci.image_width))
    return send_back(why, "box " + shape_str({c.top, c.left, c.height, c.width}) + " (top, left, height, width) outside the " +
                              std::to_string(ci.image_height) + " × " + std::to_string(ci.image_width) + " image"),
           JpegResult::fallback;
  if (!decode_region(L, d, c, jpeg_scale_denom(c), r)) return send_back(why, d.err.message), JpegResult::fallback;
  const cpu::ResampleBox box{r.x0, r.y0, r.x1, r.y1};
  const int64_t pixels = c.out_h * c.out_w;
  if (r.comps == c.channels) {
    cpu::resample_bilinear(r.rows.data(), r.stride, r.top, r.left, r.image_h, r.image_w, r.comps, box, c.out_h, c.out_w, out);
    return JpegResult::ok;
  }
  std::vector<uint8_t> tmp(static_cast<size_t>(pixels * r.comps));
  cpu::resample_bilinear(r.rows.data(), r.stride, r.top, r.left, r.image_h, r.image_w, r.comps, box, c.out_h, c.out_w, tmp.data());
  if (r.comps == 1) {
    for (int64_t p = 0; p < pixels; ++p) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = tmp[p];
  } else {
    // The loader's grey: Rec. 601 luma of the RGB bytes in double, rounded half up.
    for (int64_t p = 0; p < pixels; ++p) {
      const double v = 0.299 * tmp[3 * p] + 0.587 * tmp[3 * p + 1] + 0.114 * tmp[3 * p + 2];
      out[p] = static_cast<uint8_t>(std::floor(v + 0.5));
    }
  }
  return JpegResult::ok;
}

#else  // no jpeglib.h at build time

const JpegLibrary& jpeg_library() {
  static const JpegLibrary info{false, "", "this addon was built without jpeglib.h (JPEGs are decoded by sharp)"};
  return info;
}

JpegResult decode_jpeg(const uint8_t*, size_t, const JpegCrop&, uint8_t*, std::string* why) {
  if (why) *why = jpeg_library().reason;
  return JpegResult::fallback;
}

#endif

}  // namespace advprop
