// Helpers of the bf16/f16 kernel tests: tensors of any float dtype built from doubles (each value
// rounded once to the dtype), read back widened, and the check every test uses against an f64
// reference computed from the rounded inputs.
//
// expect_rounded: element i of `got` (dtype T) must lie between T's rounding of ref[i] - err[i]
// and of ref[i] + err[i]. err is the error of the arithmetic before the store (f32 sums and
// libm calls); with err = 0 the result must be ref correctly rounded. Rounding is monotonic, so
// this admits exactly "one rounding of a value within err of the truth", and overflow (f16
// saturating to infinity), signed results and subnormals need no special cases. A NaN reference
// wants a NaN.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/tensor.h"

namespace advprop {
namespace test {

using Values = std::vector<double>;

// Whether this build has the cuda-sim device (its comparisons are skipped otherwise).
constexpr bool kWithSim = ADVPROP_WITH_SIM;
// A copy on cuda-sim / on the cpu.
Tensor sim_copy(const Tensor& t);
Tensor cpu_copy(const Tensor& t);

// v rounded to dt (f32, f64, bf16 or f16) and widened back to double.
double round_to(DType dt, double v);
// The 16-bit (or f32/f64) values of v as a tensor of `shape` on `dev`, each rounded once.
Tensor tensor_of(const Values& v, const Shape& shape, DType dt, Device dev);
// Every element widened to double (copied to the host first when needed).
Values values_of(const Tensor& t);
// n seeded values uniform in [lo, hi), already rounded to dt (so they are the exact inputs).
Values uniform_values(int64_t n, uint64_t seed, double lo, double hi, DType dt);

void expect_rounded_at(const char* file, int line, const std::string& what, const Tensor& got, const Values& ref,
                       const Values& err);
// Byte equality of two tensors of one dtype (cuda-sim against cpu), naming the first differences.
void expect_same_bits_at(const char* file, int line, const std::string& what, const Tensor& got, const Tensor& want);
// At most one unit in the last place of their dtype apart (reductions summed in other orders).
void expect_within_ulp_at(const char* file, int line, const std::string& what, const Tensor& got, const Tensor& want);

// The unit roundoff of a dtype: 2^-8 for bf16, 2^-11 for f16, 2^-24 for f32, 2^-53 for f64.
double unit_roundoff(DType dt);

}  // namespace test
}  // namespace advprop

#define EXPECT_ROUNDED(what, got, ref, err) ::advprop::test::expect_rounded_at(__FILE__, __LINE__, what, got, ref, err)
#define EXPECT_SAME_BITS(what, got, want) ::advprop::test::expect_same_bits_at(__FILE__, __LINE__, what, got, want)
#define EXPECT_WITHIN_ULP(what, got, want) ::advprop::test::expect_within_ulp_at(__FILE__, __LINE__, what, got, want)
