// See device_watchdog.h.
#include "device_watchdog.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "watchdog.h"

namespace advprop::dist {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(20);

struct Entry {
  void* event;
  std::string what;
  double timeout;
  Clock::time_point start;
};

struct Dog {
  std::mutex mu;
  std::condition_variable cv;
  bool running = false;
  std::deque<Entry> queue;  // in the order queued on the stream, so they complete in that order
  DeviceWatchHooks hooks;
};

// Never destroyed: the detached thread may still use it while the process exits.
Dog& dog() {
  static Dog* d = new Dog;
  return *d;
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

// Aborts the communicator, then hands the message to the job's expire handler, outside the lock.
// The handler ends the process; a test's returns, and the watchdog then starts afresh.
void end_job(std::unique_lock<std::mutex>& lk, const std::string& message) {
  Dog& d = dog();
  const DeviceWatchHooks h = d.hooks;
  std::deque<Entry> dropped;
  dropped.swap(d.queue);
  lk.unlock();
  if (h.abort) h.abort();
  expire(message);
  if (h.release)
    for (const Entry& e : dropped) h.release(e.event);
  lk.lock();
}

void run() {
  Dog& d = dog();
  std::unique_lock<std::mutex> lk(d.mu);
  for (;;) {
    d.cv.wait(lk, [&] { return !d.queue.empty(); });
    // Completed collectives leave the front; the first pending one decides.
    while (!d.queue.empty() && d.hooks.done(d.queue.front().event)) {
      if (d.hooks.release) d.hooks.release(d.queue.front().event);
      d.queue.pop_front();
    }
    const std::string err = d.hooks.async_error ? d.hooks.async_error() : std::string();
    if (!err.empty()) {
      const std::string what = d.queue.empty() ? std::string("a collective") : d.queue.front().what;
      end_job(lk, "advprop: " + what + " failed on the device: " + err + "; aborting the job");
      continue;
    }
    if (!d.queue.empty()) {
      const Entry& e = d.queue.front();
      const double waited = std::chrono::duration<double>(Clock::now() - e.start).count();
      if (e.timeout > 0 && waited > e.timeout) {
        end_job(lk, "advprop: " + e.what + " has not completed on the device after " + seconds(waited) +
                        " s (ADVPROP_DIST_TIMEOUT " + seconds(e.timeout) +
                        " s): another rank is hung or dead; aborting the communicator and the job");
        continue;
      }
    }
    d.cv.wait_for(lk, kPoll);
  }
}

}  // namespace

void track_device_collective(const DeviceWatchHooks& hooks, void* event, std::string what, double timeout_s) {
  Dog& d = dog();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (!d.running) {
      std::thread(run).detach();
      d.running = true;
    }
    d.hooks = hooks;
    d.queue.push_back(Entry{event, std::move(what), timeout_s, Clock::now()});
  }
  d.cv.notify_all();
}

size_t pending_device_collectives() {
  std::lock_guard<std::mutex> lk(dog().mu);
  return dog().queue.size();
}

}  // namespace advprop::dist
