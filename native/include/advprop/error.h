// Errors thrown by native code. The binding turns each into a JS AdvpropError whose `code` is
// error_code_name(code); the codes are part of the public API, so never renumber or rename them.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace advprop {

enum class ErrorCode : int {
  Shape = 1,     // ERR_SHAPE
  DType = 2,     // ERR_DTYPE
  Device = 3,    // ERR_DEVICE
  Disposed = 4,  // ERR_DISPOSED
  OOM = 5,       // ERR_OOM
  Cuda = 6,      // ERR_CUDA
  IO = 7,        // ERR_IO
  Format = 8,    // ERR_FORMAT
  Arg = 9,       // ERR_ARG
  Internal = 10, // ERR_INTERNAL: a bug in advprop, not in the caller's input
  Dist = 11,     // ERR_DIST: the multi-process runtime (MPI loading, a collective, a peer) failed
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] void fail(ErrorCode code, const std::string& message);

// "[2, 3, 4]": shapes appear in almost every message, always written this way.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace advprop

#define ADVPROP_CHECK(cond, code, msg) \
  do {                                 \
    if (!(cond)) ::advprop::fail((code), (msg)); \
  } while (0)

// A backend entry's own invariant. The front-end (native/ops) is the one gate for the caller's
// input, so a backend takes checked arguments; a failure here is a bug in advprop, reported as
// ERR_INTERNAL instead of a read past a buffer. Keep the condition O(1): it runs on every call.
#define ADVPROP_ASSERT(cond)                                                                          \
  do {                                                                                                \
    if (!(cond))                                                                                      \
      ::advprop::fail(::advprop::ErrorCode::Internal,                                                 \
                      std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": assertion failed: " #cond); \
  } while (0)
