// What main.cc needs from harness.cc: the registered tests and a way to run one.
#pragma once
#include <string>
#include <vector>

#include "harness.h"

namespace advprop {
namespace test {

struct TestCase {
  const char* name;
  const char* file;
  TestFn fn;
};

std::vector<TestCase>& registry();
// Runs one test and returns its failure messages (empty when it passed).
std::vector<std::string> run_test(const TestCase& t);

}  // namespace test
}  // namespace advprop
