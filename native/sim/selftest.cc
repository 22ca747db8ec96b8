// The cuda-sim self-test runner and the harness's checks; the tests are in selftest_*.cc.
#include "selftest_harness.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace advprop {
namespace sim {
namespace selftest {

void require(bool ok, const std::string& why) {
  if (!ok) throw Failed{why};
}

void expect_error(const std::function<void()>& fn, ErrorCode code, const std::string& needle) {
  try {
    fn();
  } catch (const Error& e) {
    require(e.code() == code, std::string("wrong error code for: ") + e.what());
    require(std::string(e.what()).find(needle) != std::string::npos,
            std::string("message lacks '") + needle + "': " + e.what());
    return;
  }
  throw Failed{"no error thrown (expected '" + needle + "')"};
}

}  // namespace selftest

std::vector<SelfTestResult> run_self_tests() {
  using namespace selftest;
  const std::pair<const char*, std::string (*)()> tests[] = {
      {"block reduction with __syncthreads", test_reduction},
      {"reduction without barriers goes wrong", test_missing_barrier},
      {"tiled transpose through __shared__", test_transpose},
      {"warp shuffles", test_warp_shuffle},
      {"warp votes", test_votes},
      {"warp-wide exchange (mma, ldmatrix)", test_warp_collective},
      {"cp.async groups", test_cp_async_model},
      {"__half and __nv_bfloat16", test_half_types},
      {"exited threads count as arrived", test_early_exit},
      {"dynamic shared memory", test_dynamic_smem},
      {"atomics from many blocks", test_atomics},
      {"launch limits are enforced", test_launch_rejections},
      {"deadlock raises an error", test_deadlock},
      {"kernel exception propagates", test_exception},
      {"built-in indices", test_indexing},
      {"runtime calls", test_runtime},
      {"a million threads", test_many_threads},
      {"stream capture replays as eager", test_graph_replay},
      {"synchronising during capture fails", test_capture_sync},
  };
  std::vector<SelfTestResult> results;
  for (const auto& t : tests) {
    SelfTestResult r;
    r.name = t.first;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      r.detail = t.second();
      r.passed = true;
    } catch (const Failed& f) {
      r.detail = f.why;
    } catch (const std::exception& e) {
      r.detail = std::string("unexpected exception: ") + e.what();
    } catch (...) {
      r.detail = "unexpected non-standard exception";
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.1f ms)", ms);
    r.detail += buf;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace sim
}  // namespace advprop
