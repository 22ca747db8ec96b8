// See watchdog.h.
#include "watchdog.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "advprop/error.h"

namespace advprop::dist {
namespace {

using Clock = std::chrono::steady_clock;

struct Dog {
  std::mutex mu;
  std::condition_variable cv;
  bool running = false;  // the thread exists
  bool armed = false;
  unsigned long long generation = 0;  // one per Watch, so a late wake-up never blames the next call
  std::string what;
  double timeout = 0;
  Clock::time_point deadline;
  ExpireFn handler = nullptr;
};

// Never destroyed: the detached thread may still wait on it while the process exits.
Dog& dog() {
  static Dog* d = new Dog;
  return *d;
}

void default_expire(const std::string& message) {
  const std::string line = message + "\n";
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  std::_Exit(1);
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

void run() {
  Dog& d = dog();
  std::unique_lock<std::mutex> lk(d.mu);
  for (;;) {
    d.cv.wait(lk, [&] { return d.armed; });
    const unsigned long long g = d.generation;
    if (d.cv.wait_until(lk, d.deadline, [&] { return !d.armed || d.generation != g; })) continue;
    const std::string message = "advprop: " + d.what + " has not completed after " + seconds(d.timeout) +
                                " s (ADVPROP_DIST_TIMEOUT): another rank is hung or dead; aborting the job";
    const ExpireFn h = d.handler ? d.handler : default_expire;
    d.armed = false;
    lk.unlock();
    h(message);
    lk.lock();
  }
}

}  // namespace

double collective_timeout() {
  const char* v = std::getenv("ADVPROP_DIST_TIMEOUT");
  if (!v || !*v) return kDefaultTimeout;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(s >= 0) || s > 1e9)
    fail(ErrorCode::Arg, std::string("ADVPROP_DIST_TIMEOUT must be a number of seconds >= 0 (0: no deadline), got '") + v + "'");
  return s;
}

void set_expire_handler(ExpireFn f) {
  std::lock_guard<std::mutex> lk(dog().mu);
  dog().handler = f;
}

void expire(const std::string& message) {
  ExpireFn h;
  {
    std::lock_guard<std::mutex> lk(dog().mu);
    h = dog().handler ? dog().handler : default_expire;
  }
  h(message);
}

Watch::Watch(std::string what, double timeout_s) {
  if (!(timeout_s > 0)) return;
  Dog& d = dog();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (!d.running) {
      std::thread(run).detach();
      d.running = true;
    }
    d.what = std::move(what);
    d.timeout = timeout_s;
    d.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    d.generation++;
    d.armed = true;
  }
  armed_ = true;
  d.cv.notify_all();
}

Watch::~Watch() {
  if (!armed_) return;
  Dog& d = dog();
  {
    std::lock_guard<std::mutex> lk(d.mu);
    d.armed = false;
  }
  d.cv.notify_all();
}

}  // namespace advprop::dist
