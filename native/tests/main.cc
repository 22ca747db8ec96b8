// The native test binary: the cuda-sim self tests, then every ADVPROP_NATIVE_TEST.
// Usage: advprop_native_tests [substring]   runs only the tests whose name contains substring.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "registry.h"
#if ADVPROP_WITH_SIM
#include "sim/selftest.h"
#endif

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  auto selected = [&](const std::string& name) { return !filter || name.find(filter) != std::string::npos; };
  int passed = 0, failed = 0;

#if ADVPROP_WITH_SIM
  for (const auto& r : advprop::sim::run_self_tests()) {
    const std::string name = "sim/" + r.name;
    if (!selected(name)) continue;
    std::printf("%s %s: %s\n", r.passed ? "ok  " : "FAIL", name.c_str(), r.detail.c_str());
    (r.passed ? passed : failed)++;
  }
#endif

  for (const auto& t : advprop::test::registry()) {
    if (!selected(t.name)) continue;
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<std::string> failures = advprop::test::run_test(t);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s %s (%.1f ms)\n", failures.empty() ? "ok  " : "FAIL", t.name, ms);
    for (const auto& f : failures) std::printf("       %s\n", f.c_str());
    (failures.empty() ? passed : failed)++;
  }

  if (passed + failed == 0) std::printf("no test matches '%s'\n", filter ? filter : "");
  std::printf("native: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
