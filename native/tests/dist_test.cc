// advprop/dist.h in a process started alone: a world of one, whose collectives copy their input
// and still check it, and MPI's probe (which loads the library without initialising it). The
// multi-rank paths run under mpirun in test/distributed/mpi.test.ts.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../dist/device_watchdog.h"
#include "../dist/watchdog.h"
#include "advprop/dist.h"
#include "advprop/ops.h"
#include "harness.h"

namespace advprop {
namespace {

const Device kCpu{};
#if ADVPROP_WITH_SIM
const Device kSim{DeviceType::cuda_sim, 0};
#endif

ADVPROP_NATIVE_TEST(dist_world_of_one) {
  if (!dist::launcher_env().empty()) return;  // run by mpirun/srun: the world is theirs
  const dist::World& w = dist::init();
  EXPECT_EQ(w.size, 1);
  EXPECT_EQ(w.rank, 0);
  EXPECT(!w.mpi);
  Tensor a = ops::full({2, 3}, DType::f32, kCpu, 1.5), b = ops::full({5}, DType::f32, kCpu, -2);
  std::vector<Tensor> out = dist::allreduce({a, b}, true, 64);
  REQUIRE(out.size() == 2);
  EXPECT(out[0].shape() == a.shape());
  EXPECT(out[0].data() != a.data());
  EXPECT_EQ(out[0].data_as<float>()[5], 1.5f);
  EXPECT_EQ(out[1].data_as<float>()[4], -2.0f);
  double host[2] = {1, 2};
  dist::allreduce_host(host, 2);
  EXPECT_EQ(host[1], 2.0);
  dist::broadcast({a}, 0);
  dist::barrier();
}

ADVPROP_NATIVE_TEST(dist_checks) {
  Tensor f = ops::full({2}, DType::f32, kCpu, 0), d = ops::full({2}, DType::f64, kCpu, 0);
  Tensor i = ops::full({2}, DType::i32, kCpu, 0);
  EXPECT_THROWS(dist::allreduce({i}, false, 64), ErrorCode::DType);
  EXPECT_THROWS(dist::allreduce({f, d}, false, 64), ErrorCode::DType);
#if ADVPROP_WITH_SIM
  // A world of one copies device tensors; one call takes one device.
  Tensor s = ops::full({2}, DType::f32, kSim, 3);
  const std::vector<Tensor> copy = dist::allreduce({s}, true, 64);
  EXPECT(copy[0].device() == s.device() && copy[0].data() != s.data());
  EXPECT_EQ(ops::to_device(copy[0], kCpu).data_as<float>()[1], 3.0f);
  EXPECT_THROWS(dist::allreduce({s, f}, false, 64), ErrorCode::Device);
  EXPECT_THROWS(dist::allreduce({f, s}, false, 64), ErrorCode::Device);
  EXPECT_THROWS(dist::allreduce({ops::full({2}, DType::i32, kSim, 0)}, false, 64), ErrorCode::DType);
#endif
  EXPECT_THROWS(dist::allreduce({f}, false, 8), ErrorCode::Arg);
  EXPECT_THROWS(dist::allreduce({Tensor()}, false, 64), ErrorCode::Arg);
  EXPECT_THROWS(dist::broadcast({f}, 1), ErrorCode::Arg);
  EXPECT_THROWS(dist::broadcast({f}, -1), ErrorCode::Arg);
}

ADVPROP_NATIVE_TEST(dist_probe_says_what_or_why) {
  const dist::MpiProbe p = dist::probe_mpi();
  if (p.found) {
    EXPECT_MSG(p.flavor == "openmpi" || p.flavor == "mpich", p.flavor);
    EXPECT(!p.path.empty());
  } else {
    EXPECT_MSG(p.reason.find("ADVPROP_MPI_LIB") != std::string::npos, p.reason);
  }
}

ADVPROP_NATIVE_TEST(dist_nccl_probe_says_what_or_why) {
  const dist::NcclProbe p = dist::probe_nccl();
  if (p.found) EXPECT_MSG(p.version.rfind("2.", 0) == 0 && !p.path.empty(), p.version);
  else EXPECT_MSG(p.reason.find("ADVPROP_NCCL_LIB") != std::string::npos, p.reason);
}

// The deadline of a blocking MPI call (native/dist/watchdog.h), with the expiry recorded
// instead of ending the process; the job-level behaviour is test/distributed/faults.test.ts's.
std::mutex g_expired_mu;
std::vector<std::string> g_expired;
void record_expiry(const std::string& message) {
  std::lock_guard<std::mutex> lk(g_expired_mu);
  g_expired.push_back(message);
}
size_t expiries() {
  std::lock_guard<std::mutex> lk(g_expired_mu);
  return g_expired.size();
}

ADVPROP_NATIVE_TEST(dist_watchdog_reports_a_call_past_its_deadline) {
  using namespace std::chrono_literals;
  dist::set_expire_handler(record_expiry);
  {
    dist::Watch w("rank 1 of 2: distAllreduce (MPI_Allgather)", 0.05);
    std::this_thread::sleep_for(400ms);
  }
  REQUIRE(expiries() == 1);
  {
    std::lock_guard<std::mutex> lk(g_expired_mu);
    EXPECT_MSG(g_expired[0] == "advprop: rank 1 of 2: distAllreduce (MPI_Allgather) has not completed after 0.1 s "
                               "(ADVPROP_DIST_TIMEOUT): another rank is hung or dead; aborting the job",
               g_expired[0]);
  }
  // A call that returns in time, one after another, and a deadline of 0 (none) report nothing.
  for (int i = 0; i < 100; ++i) dist::Watch quick("quick", 0.2);
  {
    dist::Watch none("none", 0);
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(expiries(), size_t(1));
  dist::set_expire_handler(nullptr);
}

ADVPROP_NATIVE_TEST(dist_timeout_from_the_environment) {
  const char* saved = std::getenv("ADVPROP_DIST_TIMEOUT");
  const std::string keep = saved ? saved : "";
  unsetenv("ADVPROP_DIST_TIMEOUT");
  EXPECT_EQ(dist::collective_timeout(), dist::kDefaultTimeout);
  setenv("ADVPROP_DIST_TIMEOUT", "2.5", 1);
  EXPECT_EQ(dist::collective_timeout(), 2.5);
  setenv("ADVPROP_DIST_TIMEOUT", "0", 1);
  EXPECT_EQ(dist::collective_timeout(), 0.0);
  for (const char* bad : {"abc", "-1", "5s", "nan"}) {
    setenv("ADVPROP_DIST_TIMEOUT", bad, 1);
    EXPECT_THROWS(dist::collective_timeout(), ErrorCode::Arg);
  }
  if (saved) setenv("ADVPROP_DIST_TIMEOUT", keep.c_str(), 1);
  else unsetenv("ADVPROP_DIST_TIMEOUT");
}


// The device collectives' deadline (native/dist/device_watchdog.h) on a fake device: events are
// indices into g_done, and the communicator's asynchronous error is g_async.
namespace device_watch {
std::mutex mu;
bool done[8];
int released = 0, aborted = 0;
std::string async;
bool is_done(void* e) {
  std::lock_guard<std::mutex> lk(mu);
  return done[reinterpret_cast<uintptr_t>(e)];
}
void release(void*) {
  std::lock_guard<std::mutex> lk(mu);
  released++;
}
std::string async_error() {
  std::lock_guard<std::mutex> lk(mu);
  return async;
}
void abort_comm() {
  std::lock_guard<std::mutex> lk(mu);
  aborted++;
}
void* event(uintptr_t i) { return reinterpret_cast<void*>(i); }
void set(bool* flag, bool v) {
  std::lock_guard<std::mutex> lk(mu);
  *flag = v;
}
}  // namespace device_watch

ADVPROP_NATIVE_TEST(dist_device_watchdog_ends_the_job_for_a_collective_past_its_deadline) {
  using namespace std::chrono_literals;
  namespace dw = device_watch;
  const dist::DeviceWatchHooks hooks{dw::is_done, dw::release, dw::async_error, dw::abort_comm};
  dist::set_expire_handler(record_expiry);
  const size_t before = expiries();
  // Two collectives that complete: released in order, nothing reported.
  dist::track_device_collective(hooks, dw::event(0), "rank 0 of 2: allreduce A", 0.3);
  dist::track_device_collective(hooks, dw::event(1), "rank 0 of 2: allreduce B", 0.3);
  dw::set(&dw::done[0], true);
  dw::set(&dw::done[1], true);
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(dist::pending_device_collectives(), size_t(0));
  // One that never completes: the communicator is aborted and the job ended, naming it.
  dist::track_device_collective(hooks, dw::event(2), "rank 1 of 2: NCCL all-reduce of 3 tensors on cuda:1", 0.1);
  for (int i = 0; i < 100 && expiries() == before; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(expiries() == before + 1);
  {
    std::lock_guard<std::mutex> lk(g_expired_mu);
    const std::string& m = g_expired.back();
    EXPECT_MSG(m.rfind("advprop: rank 1 of 2: NCCL all-reduce of 3 tensors on cuda:1 has not completed on the device after ", 0) == 0 &&
                   m.find("(ADVPROP_DIST_TIMEOUT 0.1 s): another rank is hung or dead") != std::string::npos,
               m);
  }
  {
    std::lock_guard<std::mutex> lk(dw::mu);
    EXPECT_EQ(dw::aborted, 1);
    EXPECT_EQ(dw::released, 3);
  }
  // An asynchronous error (a peer's connection failed) ends it at once, without a deadline.
  dist::track_device_collective(hooks, dw::event(3), "rank 1 of 2: NCCL broadcast", 0);
  dw::set(&dw::done[3], false);
  {
    std::lock_guard<std::mutex> lk(dw::mu);
    dw::async = "remote process exited or there was a network error";
  }
  for (int i = 0; i < 100 && expiries() == before + 1; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(expiries() == before + 2);
  {
    std::lock_guard<std::mutex> lk(g_expired_mu);
    EXPECT_MSG(g_expired.back() == "advprop: rank 1 of 2: NCCL broadcast failed on the device: remote process exited or "
                                   "there was a network error; aborting the job",
               g_expired.back());
  }
  {
    std::lock_guard<std::mutex> lk(dw::mu);
    dw::async.clear();
    EXPECT_EQ(dw::aborted, 2);
  }
  EXPECT_EQ(dist::pending_device_collectives(), size_t(0));
  dist::set_expire_handler(nullptr);
}

}  // namespace
}  // namespace advprop
