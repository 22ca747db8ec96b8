// The argument checks of the tensor-core check entries (advprop/tensor_core_check.h), shared by
// the cpu twins and the cuda / cuda-sim kernels so that every backend refuses alike.
#include <string>
#include <vector>

#include "advprop/error.h"
#include "advprop/tensor_core_check.h"

namespace advprop {
namespace {

void require_size(size_t got, size_t want, const char* what, const char* arg) {
  if (got != want)
    fail(ErrorCode::Shape, std::string(what) + ": '" + arg + "' has " + std::to_string(got) + " elements, expected " +
                               std::to_string(want));
}

}  // namespace

void require_tc_usable(bool usable, int device, const char* what) {
  if (!usable)
    fail(ErrorCode::Device, std::string(what) + ": device " + std::to_string(device) +
                                " has no sm_80 tensor-core instructions (compute capability 8.0 or newer)");
}

void check_tc_mma_args(TcMma shape, size_t a, size_t b, size_t c) {
  const char* what = "check_mma";
  if (!enum_valid(shape)) fail(ErrorCode::Arg, "check_mma: unknown mma shape " + std::to_string(static_cast<int>(shape)));
  const size_t k = static_cast<size_t>(tc_mma_k(shape));
  require_size(a, 16 * k, what, "a");
  require_size(b, k * 8, what, "b");
  require_size(c, 16 * 8, what, "c");
}

void check_tc_ldmatrix_args(int num, size_t image, const std::vector<int>& row_offsets) {
  if (num != 1 && num != 2 && num != 4) fail(ErrorCode::Arg, "check_ldmatrix: num must be 1, 2 or 4");
  require_size(row_offsets.size(), 32, "check_ldmatrix", "row_offsets");
  for (int o : row_offsets)
    if (o < 0 || o % 8 != 0 || static_cast<size_t>(o) + 8 > image)
      fail(ErrorCode::Arg, "check_ldmatrix: row offset " + std::to_string(o) + " is not a multiple of 8 inside the image");
}

void check_tc_ldmatrix_mma_args(size_t a, size_t b, size_t c) {
  const char* what = "check_ldmatrix_mma";
  require_size(a, 16 * 16, what, "a");
  require_size(b, 16 * 8, what, "b");
  require_size(c, 16 * 8, what, "c");
}

void check_tc_cp_async_args(size_t src) { require_size(src, kCpAsyncSrcWords, "check_cp_async", "src"); }

void check_tc_conversions_args(size_t x) {
  if (x == 0 || x % 2) fail(ErrorCode::Shape, "check_conversions: 'x' must hold a positive, even count");
}

}  // namespace advprop
