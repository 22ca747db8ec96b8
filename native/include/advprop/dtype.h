// Element types. f32, f64, i32, bf16 and f16 hold data (StorageTypes: creation, cast, copies);
// which compute kernels take each is the family's type list. u8 holds image batches: made from a
// Uint8Array, copied between devices, read back, and read by normalize_image (advprop/image.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "advprop/enum_table.h"

namespace advprop {

// X(id, name, bytes per element). Values in list order: the C API's ADVPROP_F32 / ADVPROP_F64 and
// stored tensors rely on them, so an entry is only ever appended. Which kernels take a dtype is
// the kernel family's TypeList (advprop/dtype_dispatch.h).
#define ADVPROP_DTYPES(X) \
  X(f32, "f32", 4)        \
  X(f64, "f64", 8)        \
  X(i32, "i32", 4)        \
  X(f16, "f16", 2)        \
  X(bf16, "bf16", 2)      \
  X(u8, "u8", 1)
ADVPROP_ENUM_AS(DType, uint8_t, "dtype", ADVPROP_DTYPES);
ADVPROP_ENUM_COLUMN(DType, ADVPROP_DTYPES, size_t, dtype_size, COL3)
inline const char* dtype_name(DType t) { return enum_name(t); }
// Throws ERR_DTYPE for an unknown name.
DType dtype_from_name(const std::string& name);

}  // namespace advprop
