// The one way a kernel turns a tensor's run-time dtype into its C++ element type. A family names
// the types it implements as a TypeList; dispatch_dtype calls f(T{}) for the matching one, so the
// typed body is written once, or throws ERR_DTYPE naming the op and the types the family has.
//
// The 16-bit storage types (bf16, f16; advprop/half.h) are appended to the lists of the families
// that implement them; arithmetic stays f32 (DESIGN.md, Precision), so a family's body picks its
// accumulation type from the storage type it is given (Accum<T>).
#pragma once
#include <cstdint>
#include <string>

#include "advprop/dtype.h"
#include "advprop/error.h"
#include "advprop/half.h"

namespace advprop {

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::i32;
};

template <>
struct DTypeOf<bf16> {
  static constexpr DType value = DType::bf16;
};
template <>
struct DTypeOf<f16> {
  static constexpr DType value = DType::f16;
};

template <typename... Ts>
struct TypeList {};

// What most families implement: f64 exists for the cpu's gradient checks and cuda-sim's twins.
using FloatTypes = TypeList<float, double>;
// fill and cast also move integer tensors (labels, argmax).
using NumericTypes = TypeList<float, double, int32_t>;
// The 16-bit storage types: f32 arithmetic, one rounding on each store (advprop/half.h, Accum).
using HalfTypes = TypeList<bf16, f16>;
// A family that reads and writes the 16-bit types as well.
using MixedFloatTypes = TypeList<float, double, bf16, f16>;
// Every dtype a tensor can hold data in today (creation, cast, toArray, safetensors).
using StorageTypes = TypeList<float, double, int32_t, bf16, f16>;

template <typename... Ts>
std::string dtype_names(TypeList<Ts...>) {
  std::string s;
  ((s += (s.empty() ? "" : ", ") + std::string(dtype_name(DTypeOf<Ts>::value))), ...);
  return s;
}

namespace detail {
template <typename... Ts>
bool dtype_in(DType t, TypeList<Ts...>) {
  return ((t == DTypeOf<Ts>::value) || ...);
}
template <typename F, typename... Ts>
bool dispatch_dtype(DType t, F& f, TypeList<Ts...>) {
  return ((t == DTypeOf<Ts>::value ? (f(Ts{}), true) : false) || ...);
}
}  // namespace detail

template <typename Types = FloatTypes>
bool dtype_in(DType t) {
  return detail::dtype_in(t, Types{});
}

// The dtypes of the float kernels, which front-ends require of float inputs.
inline bool is_float(DType t) { return dtype_in<FloatTypes>(t); }

// "f32 or f64", "f32, f64, bf16 or f16": the list for a message saying what an argument must be.
template <typename... Ts>
std::string dtype_alternatives(TypeList<Ts...>) {
  const char* names[] = {dtype_name(DTypeOf<Ts>::value)...};
  const size_t n = sizeof...(Ts);
  std::string s;
  for (size_t i = 0; i < n; ++i) s += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + names[i];
  return s;
}

// The dtype of Accum<T> for tensors of dtype t (advprop/half.h): f32 for bf16 and f16, t itself
// otherwise. Statistics and losses of a 16-bit family are kept in it.
inline DType accum_dtype(DType t) { return t == DType::bf16 || t == DType::f16 ? DType::f32 : t; }

template <typename Types = FloatTypes>
[[noreturn]] void fail_dtype(DType t, const char* op) {
  fail(ErrorCode::DType, std::string(op) + ": dtype " + dtype_name(t) + " is not supported (" + dtype_names(Types{}) + ")");
}

// ERR_DTYPE unless t is one of `Types`, for entries that check before they dispatch.
template <typename Types = FloatTypes>
void require_dtype(DType t, const char* op) {
  if (!dtype_in<Types>(t)) fail_dtype<Types>(t, op);
}

// Calls f(T{}) for the T of `Types` whose dtype is t.
template <typename Types = FloatTypes, typename F>
void dispatch_dtype(DType t, const char* op, F&& f) {
  if (!detail::dispatch_dtype(t, f, Types{})) fail_dtype<Types>(t, op);
}

}  // namespace advprop
