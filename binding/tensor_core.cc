// tensorCoreCheck: the tensor-core checks (advprop/tensor_core_check.h) on one device, for
// test/tensor_core_check.test.ts, which compares cuda-sim and cuda with the cpu twins. A raw
// testing entry: no tensors, typed arrays in and out; lib/index.ts does not export it.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/tensor_core_check.h"
#include "convert.h"
#include "entries.h"

namespace advprop {
// What tensorCoreCheck's second argument names.
#define ADVPROP_TC_CHECKS(X) \
  X(usable, "usable") X(mma, "mma") X(ldmatrix, "ldmatrix") X(ldmatrix_mma, "ldmatrixMma") X(cp_async, "cpAsync") X(conversions, "conversions")
ADVPROP_ENUM(TcCheck, "tensor-core check", ADVPROP_TC_CHECKS);
}  // namespace advprop

namespace advprop_binding {
namespace {

using advprop::DeviceType;
using advprop::TcCheck;
using advprop::TcMma;

constexpr const char* kOp = "tensorCoreCheck";

using TcChecks = advprop::TensorCoreChecks;

// The checks of a device type this build has; nullptr for one it lacks.
const TcChecks* checks_for(DeviceType t) {
  static const TcChecks cpu = ADVPROP_TENSOR_CORE_CHECKS_OF(advprop::cpu);
#if ADVPROP_WITH_CUDA
  static const TcChecks cuda = ADVPROP_TENSOR_CORE_CHECKS_OF(advprop::cuda);
#endif
#if ADVPROP_WITH_SIM
  static const TcChecks sim = ADVPROP_TENSOR_CORE_CHECKS_OF(advprop::cudasim);
#endif
  switch (t) {
    case DeviceType::cpu: return &cpu;
    case DeviceType::cuda:
#if ADVPROP_WITH_CUDA
      return &cuda;
#else
      return nullptr;
#endif
    case DeviceType::cuda_sim:
#if ADVPROP_WITH_SIM
      return &sim;
#else
      return nullptr;
#endif
  }
  return nullptr;
}

template <typename T>
std::vector<T> from_js(Napi::Value v, const char* arg) {
  const Napi::TypedArrayOf<T> a = to_typed_array<T>(v, kOp, arg);
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

template <typename T>
Napi::Value to_js(Napi::Env env, const std::vector<T>& v) {
  Napi::TypedArrayOf<T> a = Napi::TypedArrayOf<T>::New(env, v.size(), TypedArrayOf<T>::type);
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

}  // namespace

ADVPROP_ENTRY(TensorCoreCheck)
  check_arg_count(info, 2, kOp);
  const advprop::Device dev = to_device(info[0], kOp, "device");
  const TcCheck check = to_enum<TcCheck>(info[1], kOp, "check");
  const TcChecks* be = checks_for(dev.type);
  Napi::Env env = info.Env();
  if (check == TcCheck::usable)
    return Napi::Boolean::New(env, be && advprop::backend(dev.type).available() && be->usable(dev.index));
  advprop::require_device(dev, kOp);
  const int d = dev.index;
  switch (check) {
    case TcCheck::usable: break;
    case TcCheck::mma:
      check_arg_count(info, 6, kOp);
      return to_js(env, be->mma(d, to_enum<TcMma>(info[2], kOp, "shape"), from_js<uint32_t>(info[3], "a"),
                                from_js<uint32_t>(info[4], "b"), from_js<float>(info[5], "c")));
    case TcCheck::ldmatrix:
      check_arg_count(info, 6, kOp);
      return to_js(env, be->ldmatrix(d, static_cast<int>(to_int(info[2], kOp, "num", 0, 64)), to_bool(info[3], kOp, "trans"),
                                     from_js<uint16_t>(info[4], "image"), from_js<int>(info[5], "rowOffsets")));
    case TcCheck::ldmatrix_mma:
      check_arg_count(info, 5, kOp);
      return to_js(env, be->ldmatrix_mma(d, from_js<uint16_t>(info[2], "a"), from_js<uint16_t>(info[3], "b"),
                                         from_js<float>(info[4], "c")));
    case TcCheck::cp_async:
      check_arg_count(info, 3, kOp);
      return to_js(env, be->cp_async(d, from_js<uint32_t>(info[2], "src")));
    case TcCheck::conversions:
      check_arg_count(info, 3, kOp);
      return to_js(env, be->conversions(d, from_js<float>(info[2], "x")));
  }
  advprop::fail(advprop::ErrorCode::Internal, std::string(kOp) + ": unhandled check");
ADVPROP_ENTRY_END

}  // namespace advprop_binding
