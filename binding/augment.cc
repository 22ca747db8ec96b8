// Entry of the input pipeline's per-image kernels (advprop/augment.h): bytes in, new bytes out,
// no tensors (host memory the loader's workers hold).
#include <string>
#include <vector>

#include "advprop/augment.h"
#include "convert.h"
#include "entries.h"

namespace advprop_binding {

// (op, data: Uint8Array, height, width, channels, params: number[] | Uint8Array) -> Uint8Array
ADVPROP_ENTRY(ImageAugment)
  const char* op = "imageAugment";
  check_arg_count(info, 6, op);
  const advprop::AugmentOp kind = to_enum<advprop::AugmentOp>(info[0], op, "op");
  Napi::Uint8Array data = to_typed_array<uint8_t>(info[1], op, "data");
  const int64_t h = to_i64(info[2], op, "height"), w = to_i64(info[3], op, "width"), c = to_i64(info[4], op, "channels");
  std::vector<double> params;
  if (info[5].IsTypedArray() && info[5].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array p = info[5].As<Napi::Uint8Array>();
    params.assign(p.Data(), p.Data() + p.ElementLength());
  } else if (info[5].IsArray()) {
    Napi::Array a = info[5].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) params.push_back(to_number(a.Get(i), op, "params"));
  } else {
    throw_arg(std::string(op) + ": argument 'params' must be an array of numbers or a Uint8Array");
  }
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), data.ElementLength());
  advprop::ops::image_augment(kind, data.Data(), data.ElementLength(), h, w, c, params, out.Data());
  return out;
ADVPROP_ENTRY_END

// (src: Uint8Array, dst: Float32Array, offset) -> undefined: dst[offset + i] = src[i] / 255.
ADVPROP_ENTRY(ImageToUnit)
  const char* op = "imageToUnit";
  check_arg_count(info, 3, op);
  Napi::Uint8Array src = to_typed_array<uint8_t>(info[0], op, "src");
  Napi::Float32Array dst = to_typed_array<float>(info[1], op, "dst");
  const int64_t offset = to_i64(info[2], op, "offset");
  if (offset < 0 || static_cast<uint64_t>(offset) + src.ElementLength() > dst.ElementLength())
    throw_arg(std::string(op) + ": " + std::to_string(src.ElementLength()) + " bytes at offset " + std::to_string(offset) +
              " do not fit a Float32Array of " + std::to_string(dst.ElementLength()));
  advprop::cpu::bytes_to_unit(src.Data(), src.ElementLength(), dst.Data() + offset);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

}  // namespace advprop_binding
