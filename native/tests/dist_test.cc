// advprop/dist.h in a process started alone: a world of one, whose collectives copy their input
// and still check it, and MPI's probe (which loads the library without initialising it). The
// multi-rank paths run under mpirun in test/distributed/mpi.test.ts.
#include <string>
#include <vector>

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

}  // namespace
}  // namespace advprop
