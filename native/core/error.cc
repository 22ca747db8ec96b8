#include "advprop/error.h"

#include <sstream>

namespace advprop {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::Shape: return "ERR_SHAPE";
    case ErrorCode::DType: return "ERR_DTYPE";
    case ErrorCode::Device: return "ERR_DEVICE";
    case ErrorCode::Disposed: return "ERR_DISPOSED";
    case ErrorCode::OOM: return "ERR_OOM";
    case ErrorCode::Cuda: return "ERR_CUDA";
    case ErrorCode::IO: return "ERR_IO";
    case ErrorCode::Format: return "ERR_FORMAT";
    case ErrorCode::Arg: return "ERR_ARG";
    case ErrorCode::Internal: return "ERR_INTERNAL";
    case ErrorCode::Dist: return "ERR_DIST";
  }
  return "ERR_INTERNAL";
}

void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

}  // namespace advprop
