// Element types. Only f32, f64 (cpu) and i32 have kernels today; the others reserve their
// numbers so that mixed precision later is an addition, not a redesign.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace advprop {

enum class DType : uint8_t { f32 = 0, f64 = 1, i32 = 2, f16 = 3, bf16 = 4, u8 = 5 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::f16: return 2;
    case DType::bf16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t);
// Throws ERR_DTYPE for an unknown name.
DType dtype_from_name(const std::string& name);
inline bool is_float(DType t) { return t == DType::f32 || t == DType::f64; }

}  // namespace advprop
