// Entries of the input pipeline's JPEG decoder (advprop/jpeg.h): bytes in host memory, new bytes
// out, or null when the file is left to sharp.
#include <string>

#include "advprop/jpeg.h"
#include "convert.h"
#include "entries.h"

namespace advprop_binding {

// () -> { available, path, reason }
ADVPROP_ENTRY(JpegLibrary)
  const advprop::JpegLibrary& lib = advprop::jpeg_library();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("available", lib.available);
  o.Set("path", lib.path);
  o.Set("reason", lib.reason);
  return o;
ADVPROP_ENTRY_END

// (bytes: Uint8Array, top, left, height, width, outHeight, outWidth, channels) -> Uint8Array | null
ADVPROP_ENTRY(JpegDecode)
  const char* op = "jpegDecode";
  check_arg_count(info, 8, op);
  Napi::Uint8Array bytes = to_typed_array<uint8_t>(info[0], op, "bytes");
  advprop::JpegCrop c{to_i64(info[1], op, "top"), to_i64(info[2], op, "left"), to_i64(info[3], op, "height"),
                      to_i64(info[4], op, "width"), to_i64(info[5], op, "outHeight"), to_i64(info[6], op, "outWidth"),
                      static_cast<int>(to_i64(info[7], op, "channels"))};
  advprop::check_jpeg_crop(c);  // before the output is allocated at its size
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), static_cast<size_t>(c.out_h * c.out_w * c.channels));
  const advprop::JpegResult r = advprop::decode_jpeg(bytes.Data(), bytes.ElementLength(), c, out.Data());
  if (r != advprop::JpegResult::ok) return info.Env().Null();
  return out;
ADVPROP_ENTRY_END

}  // namespace advprop_binding
