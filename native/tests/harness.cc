#include "harness.h"

#include <cstdio>
#include <string>
#include <vector>

#include "registry.h"

namespace advprop {
namespace test {

std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

namespace {
std::vector<std::string>* g_failures = nullptr;
}

Registrar::Registrar(const char* name, const char* file, TestFn fn) { registry().push_back({name, file, fn}); }

void record_failure(const char* file, int line, const std::string& what) {
  std::string where = file;
  const size_t slash = where.find_last_of('/');
  if (slash != std::string::npos) where = where.substr(slash + 1);
  std::string msg = where + ":" + std::to_string(line) + ": " + what;
  if (g_failures)
    g_failures->push_back(msg);
  else
    std::fprintf(stderr, "check failed outside a test: %s\n", msg.c_str());
}

std::vector<std::string> run_test(const TestCase& t) {
  std::vector<std::string> failures;
  g_failures = &failures;
  try {
    t.fn();
  } catch (const RequireFailed&) {
  } catch (const std::exception& e) {
    failures.push_back(std::string("uncaught exception: ") + e.what());
  } catch (...) {
    failures.push_back("uncaught non-standard exception");
  }
  g_failures = nullptr;
  return failures;
}

std::string describe_signed(long long v) { return std::to_string(v); }
std::string describe_unsigned(unsigned long long v) { return std::to_string(v); }
std::string describe_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace test
}  // namespace advprop
