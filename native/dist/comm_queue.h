// The one ordered queue every MPI call of a rank goes through. Ranks must issue the same
// collectives in the same order; with gradient buckets reduced on a communication thread while the
// main thread runs the backward (and sync-BN's reductions inside it), a single FIFO worker is what
// keeps that order: a call's place is fixed when it is submitted, and the MPI calls never overlap
// (MPI_THREAD_SERIALIZED discipline). When the library grants less than SERIALIZED the queue runs
// each task at submission, on the calling thread: the same order, without overlap.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace advprop::dist {

class CommQueue {
 public:
  using Ticket = uint64_t;
  // threaded: run tasks on a worker thread started on first use; else inline at submit().
  explicit CommQueue(bool threaded) : threaded_(threaded) {}
  ~CommQueue();
  CommQueue(const CommQueue&) = delete;
  CommQueue& operator=(const CommQueue&) = delete;

  // Queues `task` after every task submitted before it; returns its ticket.
  Ticket submit(std::function<void()> task);
  // Blocks until the ticket's task ran; rethrows what it threw. Each ticket is waited once.
  void wait(Ticket t);
  // submit + wait: a blocking collective in its place in the order.
  void run(std::function<void()> task) { wait(submit(std::move(task))); }
  // Waits for every queued task and joins the worker (before MPI_Finalize, on the main thread).
  void stop();
  bool threaded() const { return threaded_; }

 private:
  void loop();
  bool threaded_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Ticket, std::function<void()>>> todo_;
  std::unordered_map<Ticket, std::exception_ptr> done_;  // finished, not yet waited
  Ticket next_ = 1;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace advprop::dist
