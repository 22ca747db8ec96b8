// See comm_queue.h.
#include "comm_queue.h"

namespace advprop::dist {

CommQueue::~CommQueue() {
  // comm.cc's queue is never destroyed (its worker may be blocked in MPI at exit); others are
  // stopped first, and a worker left running here is stopped and joined.
  if (worker_.joinable()) stop();
}

namespace {
// Runs a task and returns what it threw (null if nothing), for its waiter to rethrow.
std::exception_ptr run_caught(const std::function<void()>& task) {
  try {
    task();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}
}  // namespace

CommQueue::Ticket CommQueue::submit(std::function<void()> task) {
  std::unique_lock<std::mutex> lk(mu_);
  const Ticket t = next_++;
  if (!threaded_ || stopping_) {
    lk.unlock();
    const std::exception_ptr err = run_caught(task);
    lk.lock();
    done_[t] = err;
    return t;
  }
  if (!worker_.joinable()) worker_ = std::thread([this] { loop(); });
  todo_.emplace_back(t, std::move(task));
  cv_.notify_all();
  return t;
}

void CommQueue::wait(Ticket t) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return done_.count(t) != 0; });
  const std::exception_ptr err = done_[t];
  done_.erase(t);
  lk.unlock();
  if (err) std::rethrow_exception(err);
}

void CommQueue::loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !todo_.empty(); });
    if (todo_.empty()) return;  // stopping, and nothing left
    auto [t, task] = std::move(todo_.front());
    todo_.pop_front();
    lk.unlock();
    const std::exception_ptr err = run_caught(task);
    task = nullptr;  // whatever it captured is released off the lock
    lk.lock();
    done_[t] = err;
    cv_.notify_all();
  }
}

void CommQueue::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

}  // namespace advprop::dist
