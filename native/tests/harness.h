// A minimal test registry for the native test binary (no external framework). In any
// native/tests/*.cc file:
//
//   #include "harness.h"
//   ADVPROP_NATIVE_TEST(reduce_sum_matches_cpu) {
//     EXPECT(a == b);                       // records a failure and goes on
//     EXPECT_EQ(got, want);                 // ... printing both values
//     EXPECT_MSG(ok, "context " + detail);
//     EXPECT_NEAR(x, 1.0, 1e-6);
//     EXPECT_THROWS(f(), advprop::ErrorCode::Shape);
//     REQUIRE(ptr != nullptr);              // records a failure and ends this test
//   }
//
// A test passes when it records no failure and throws nothing.
#pragma once
#include <string>
#include <type_traits>

#include "advprop/error.h"

namespace advprop {
namespace test {

using TestFn = void (*)();

struct Registrar {
  Registrar(const char* name, const char* file, TestFn fn);
};

// Record a failed check of the test that is running.
void record_failure(const char* file, int line, const std::string& what);

// Thrown by REQUIRE to end the running test.
struct RequireFailed {};

std::string describe_signed(long long v);
std::string describe_unsigned(unsigned long long v);
std::string describe_double(double v);

// Formats a value for failure messages.
template <typename T>
std::string describe(const T& v) {
  if constexpr (std::is_same<T, bool>::value) return v ? "true" : "false";
  else if constexpr (std::is_floating_point<T>::value) return describe_double(static_cast<double>(v));
  else if constexpr (std::is_integral<T>::value && std::is_signed<T>::value) return describe_signed(v);
  else if constexpr (std::is_integral<T>::value) return describe_unsigned(v);
  else if constexpr (std::is_enum<T>::value) return describe_signed(static_cast<long long>(v));
  else if constexpr (std::is_convertible<const T&, std::string>::value) return "\"" + std::string(v) + "\"";
  else return "(value)";
}

}  // namespace test
}  // namespace advprop

#define ADVPROP_TEST_CAT2(a, b) a##b
#define ADVPROP_TEST_CAT(a, b) ADVPROP_TEST_CAT2(a, b)

#define ADVPROP_NATIVE_TEST(name)                                                          \
  static void ADVPROP_TEST_CAT(advprop_test_fn_, name)();                                  \
  static const ::advprop::test::Registrar ADVPROP_TEST_CAT(advprop_test_reg_, name)(      \
      #name, __FILE__, &ADVPROP_TEST_CAT(advprop_test_fn_, name));                         \
  static void ADVPROP_TEST_CAT(advprop_test_fn_, name)()

#define EXPECT(cond)                                                          \
  do {                                                                        \
    if (!(cond)) ::advprop::test::record_failure(__FILE__, __LINE__, #cond);  \
  } while (0)

#define EXPECT_MSG(cond, msg)                                                                      \
  do {                                                                                             \
    if (!(cond)) ::advprop::test::record_failure(__FILE__, __LINE__, std::string(#cond) + ": " + (msg)); \
  } while (0)

#define EXPECT_EQ(a, b)                                                                        \
  do {                                                                                         \
    const auto& advprop_a_ = (a);                                                              \
    const auto& advprop_b_ = (b);                                                              \
    if (!(advprop_a_ == advprop_b_))                                                           \
      ::advprop::test::record_failure(__FILE__, __LINE__,                                      \
                                      std::string(#a " == " #b ": ") +                         \
                                          ::advprop::test::describe(advprop_a_) + " vs " +     \
                                          ::advprop::test::describe(advprop_b_));              \
  } while (0)

#define EXPECT_NEAR(a, b, tol)                                                                      \
  do {                                                                                              \
    const double advprop_a_ = static_cast<double>(a), advprop_b_ = static_cast<double>(b);          \
    if (!(advprop_a_ - advprop_b_ <= (tol) && advprop_b_ - advprop_a_ <= (tol)))                    \
      ::advprop::test::record_failure(__FILE__, __LINE__,                                           \
                                      std::string(#a " ~= " #b ": ") +                              \
                                          ::advprop::test::describe(advprop_a_) + " vs " +          \
                                          ::advprop::test::describe(advprop_b_));                   \
  } while (0)

// Expects `stmt` to throw advprop::Error with the given ErrorCode.
#define EXPECT_THROWS(stmt, expected_code)                                                                   \
  do {                                                                                              \
    bool advprop_threw_ = false;                                                                    \
    try {                                                                                           \
      stmt;                                                                                         \
    } catch (const ::advprop::Error& advprop_e_) {                                                  \
      advprop_threw_ = true;                                                                        \
      if (advprop_e_.code() != (expected_code))                                                              \
        ::advprop::test::record_failure(__FILE__, __LINE__,                                         \
                                        std::string(#stmt " threw the wrong code: ") + advprop_e_.what()); \
    }                                                                                               \
    if (!advprop_threw_) ::advprop::test::record_failure(__FILE__, __LINE__, #stmt " did not throw"); \
  } while (0)

#define REQUIRE(cond)                                                         \
  do {                                                                        \
    if (!(cond)) {                                                            \
      ::advprop::test::record_failure(__FILE__, __LINE__, #cond);             \
      throw ::advprop::test::RequireFailed{};                                 \
    }                                                                         \
  } while (0)
