#include "advprop/dtype.h"

#include "advprop/error.h"

namespace advprop {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::u8: return "u8";
  }
  return "unknown";
}

DType dtype_from_name(const std::string& name) {
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::f16, DType::bf16, DType::u8})
    if (name == dtype_name(t)) return t;
  fail(ErrorCode::DType, "unknown dtype '" + name + "' (expected f32, f64 or i32)");
}

}  // namespace advprop
