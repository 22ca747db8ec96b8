#include "advprop/dtype.h"

#include "advprop/dtype_dispatch.h"
#include "advprop/error.h"

namespace advprop {

// Every listed name parses (a tensor may be of any dtype); the message names the ones that have
// kernels.
DType dtype_from_name(const std::string& name) {
  DType t{};
  if (!enum_from_name(name, &t))
    fail(ErrorCode::DType, "unknown dtype '" + name + "' (expected " + dtype_names(StorageTypes{}) + ")");
  return t;
}

}  // namespace advprop
