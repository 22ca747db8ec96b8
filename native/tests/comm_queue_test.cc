// The ordered queue of native/dist/comm_queue.h (every MPI call of a rank, in submission order),
// and allreduce_start/wait in a world of one. The multi-rank overlap runs under mpirun in
// test/distributed/overlap.test.ts.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../dist/comm_queue.h"
#include "advprop/dist.h"
#include "advprop/error.h"
#include "advprop/ops.h"
#include "harness.h"

namespace advprop {
namespace {

ADVPROP_NATIVE_TEST(comm_queue_runs_in_submission_order_off_the_caller) {
  for (const bool threaded : {true, false}) {
    dist::CommQueue q(threaded);
    std::vector<int> order;  // written by the worker only, read after the waits
    std::atomic<bool> gate{false};
    const std::thread::id caller = std::this_thread::get_id();
    std::thread::id ran_on;
    std::vector<dist::CommQueue::Ticket> tickets;
    // The first task holds the worker until every other is queued: order is submission order.
    tickets.push_back(q.submit([&] {
      ran_on = std::this_thread::get_id();
      while (threaded && !gate.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      order.push_back(0);
    }));
    for (int i = 1; i < 50; ++i) tickets.push_back(q.submit([&order, i] { order.push_back(i); }));
    gate = true;
    // Waited out of order: each ticket once, whichever finished first.
    for (size_t i = tickets.size(); i-- > 0;) q.wait(tickets[i]);
    REQUIRE(order.size() == 50);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
    EXPECT(threaded ? ran_on != caller : ran_on == caller);
    q.stop();
  }
}

ADVPROP_NATIVE_TEST(comm_queue_rethrows_at_the_wait) {
  dist::CommQueue q(true);
  const auto bad = q.submit([] { fail(ErrorCode::Dist, "dist: MPI_Allgather failed"); });
  int after = 0;
  const auto good = q.submit([&] { after = 7; });  // a failed task does not stop the queue
  EXPECT_THROWS(q.wait(bad), ErrorCode::Dist);
  q.wait(good);
  EXPECT_EQ(after, 7);
  q.run([&] { after = 8; });
  EXPECT_EQ(after, 8);
  q.stop();
}

ADVPROP_NATIVE_TEST(dist_allreduce_start_world_of_one) {
  if (!dist::launcher_env().empty()) return;  // run by mpirun/srun: the world is theirs
  dist::init();
  const Device cpu{};
  Tensor a = ops::full({3}, DType::f32, cpu, 2.5), b = ops::full({2, 2}, DType::f32, cpu, -1);
  const int64_t h = dist::allreduce_start({a, b}, true, 64);
  std::vector<Tensor> out = dist::allreduce_wait(h);
  REQUIRE(out.size() == 2);
  EXPECT(out[0].data() != a.data());
  EXPECT_EQ(out[0].data_as<float>()[2], 2.5f);
  EXPECT_EQ(out[1].data_as<float>()[3], -1.0f);
  EXPECT_THROWS(dist::allreduce_wait(h), ErrorCode::Arg);  // waited already
  EXPECT_THROWS(dist::allreduce_start({a}, true, 8), ErrorCode::Arg);
  EXPECT_THROWS(dist::allreduce_start({ops::full({2}, DType::i32, cpu, 0)}, true, 64), ErrorCode::DType);
}

}  // namespace
}  // namespace advprop
