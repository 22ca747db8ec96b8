// Enumerated options (unary ops, batch-norm activations, ...) are each one X-macro list, and
// everything that has to know every entry is generated from it: the enum, the names the binding
// and TypeScript use, parsing, and the run-time -> compile-time dispatch the kernels switch on.
// Adding an entry is one line; a kernel family that has no code for it fails to compile (the
// per-entry templates end in a static_assert) instead of falling into a `default:`.
//
// A list is written  #define ADVPROP_FOO_LIST(X) X(id, "name", more columns...) ...  and
// ADVPROP_ENUM(Foo, "foo", ADVPROP_FOO_LIST) ("foo": what messages call a value) defines
// `enum class Foo : int` with the values 0, 1, ... in list order (the C API casts some of them
// across, so an entry is only ever appended).
#pragma once
#include <array>
#include <string>
#include <type_traits>
#include <utility>

#include "advprop/error.h"

namespace advprop {

// Specialised by ADVPROP_ENUM: names[i] is the name of the value i.
template <typename E>
struct EnumTable;

#define ADVPROP_ENUM_ID_(id, ...) id,
#define ADVPROP_ENUM_NAME_(id, name, ...) name,
#define ADVPROP_ENUM(Enum, noun, LIST) ADVPROP_ENUM_AS(Enum, int, noun, LIST)
#define ADVPROP_ENUM_AS(Enum, Underlying, noun, LIST)                                 \
  enum class Enum : Underlying { LIST(ADVPROP_ENUM_ID_) };                            \
  template <>                                                                         \
  struct EnumTable<Enum> {                                                            \
    static constexpr const char* kind = noun;                                         \
    static constexpr const char* names[] = {LIST(ADVPROP_ENUM_NAME_)};                \
    static constexpr int size = static_cast<int>(sizeof(names) / sizeof(names[0]));   \
  }

template <typename E>
constexpr int enum_count() {
  return EnumTable<E>::size;
}

// Every value in list order, for tests and tables that must cover the whole list.
template <typename E>
constexpr std::array<E, EnumTable<E>::size> enum_values() {
  std::array<E, EnumTable<E>::size> v{};
  for (int i = 0; i < EnumTable<E>::size; ++i) v[static_cast<size_t>(i)] = static_cast<E>(i);
  return v;
}

template <typename E>
constexpr bool enum_valid(E e) {
  return static_cast<int>(e) >= 0 && static_cast<int>(e) < EnumTable<E>::size;
}

// Each X-macro column after the name becomes a constexpr lookup (Type{} outside the list), so an
// entry that leaves one out fails to compile:
// ADVPROP_ENUM_COLUMN(UnaryOp, ADVPROP_UNARY_OPS, bool, unary_op_costly, COL3).
#define ADVPROP_ENUM_COL3_(id, name, c3, ...) c3,
#define ADVPROP_ENUM_COLUMN(Enum, LIST, Type, fn, COL)                                  \
  constexpr Type fn(Enum e) {                                                           \
    constexpr Type values[] = {LIST(ADVPROP_ENUM_##COL##_)};                            \
    static_assert(sizeof(values) / sizeof(values[0]) == EnumTable<Enum>::size, #fn);  \
    return enum_valid(e) ? values[static_cast<int>(e)] : Type{};                        \
  }

template <typename E>
const char* enum_name(E e) {
  return enum_valid(e) ? EnumTable<E>::names[static_cast<int>(e)] : "?";
}

// "add, sub, mul, div": the accepted names, for messages.
template <typename E>
std::string enum_names_joined(const char* sep = ", ") {
  std::string s;
  for (int i = 0; i < EnumTable<E>::size; ++i) s += (i ? sep : "") + std::string(EnumTable<E>::names[i]);
  return s;
}

// The value named `name`; false when there is none.
template <typename E>
bool enum_from_name(const std::string& name, E* out) {
  for (int i = 0; i < EnumTable<E>::size; ++i)
    if (name == EnumTable<E>::names[i]) {
      *out = static_cast<E>(i);
      return true;
    }
  return false;
}

// Throws ERR_ARG "op: unknown <noun> <value> (<names>)" for a value outside the list (one cast
// from an int by the C API, say).
template <typename E>
void check_enum(E e, const char* op) {
  if (!enum_valid(e))
    fail(ErrorCode::Arg, std::string(op) + ": unknown " + EnumTable<E>::kind + " " + std::to_string(static_cast<int>(e)) +
                             " (" + enum_names_joined<E>() + ")");
}

template <typename E, E V>
using EnumTag = std::integral_constant<E, V>;

namespace detail {
template <typename E, typename F, int... I>
void with_enum(E e, F& f, std::integer_sequence<int, I...>) {
  (void)((static_cast<int>(e) == I ? (f(EnumTag<E, static_cast<E>(I)>{}), true) : false) || ...);
}
}  // namespace detail

// Calls f(EnumTag<E, e>{}), so that e becomes a template argument: f is instantiated for every
// entry of the list. A value outside the list is ERR_ARG naming `op`.
template <typename E, typename F>
void with_enum(E e, const char* op, F&& f) {
  check_enum(e, op);
  detail::with_enum(e, f, std::make_integer_sequence<int, EnumTable<E>::size>{});
}

// For static_assert in the last `else` of an `if constexpr` chain over an enum's values.
template <auto V>
inline constexpr bool kNoCaseFor = false;

}  // namespace advprop
