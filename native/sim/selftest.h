// Self tests of the cuda-sim simulator: kernels in CUDA dialect whose results prove that block
// barriers, shared memory, warp intrinsics, atomics, launch checks, deadlock detection and the
// runtime calls behave as on a GPU. Run by native/tests and exposed to the JS tests.
#pragma once
#include <string>
#include <vector>

namespace advprop {
namespace sim {

struct SelfTestResult {
  std::string name;
  bool passed = false;
  std::string detail;  // why it failed, or a short note
};

// Runs every self test (well under a second without sanitizers). Never throws.
std::vector<SelfTestResult> run_self_tests();

}  // namespace sim
}  // namespace advprop
