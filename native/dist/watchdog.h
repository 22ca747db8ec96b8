// A deadline on blocking MPI calls. A blocked MPI call cannot be interrupted, and a rank that
// hangs (stopped, deadlocked, stuck in I/O) leaves every other rank inside its next collective for
// ever; so each call is armed here, and a background thread that sees one outlive its deadline
// reports it (this rank, the call, the time waited) and ends the job. The blocking calls, and so
// the reduction order that test/distributed pins, stay as they were.
#pragma once
#include <string>

namespace advprop::dist {

// Seconds one MPI call may wait: ADVPROP_DIST_TIMEOUT (default kDefaultTimeout; 0 turns the
// watchdog off). ERR_ARG naming the variable when it is not a number >= 0.
constexpr double kDefaultTimeout = 45;
double collective_timeout();

// What runs, on the watchdog's thread, when a call outlives its deadline; it is given the whole
// message. The default writes it to stderr and ends this process (comm.cc installs MPI_Abort).
using ExpireFn = void (*)(const std::string& message);
void set_expire_handler(ExpireFn f);  // nullptr: the default
// Runs the installed handler (or the default) on `message`, from any thread: how the device
// collectives' watchdog (device_watchdog.h) ends the job the same way.
void expire(const std::string& message);

// Arms the deadline for the lifetime of the object (one call at a time); timeout_s <= 0: none.
// `what` names the rank and the call in the message.
class Watch {
 public:
  Watch(std::string what, double timeout_s);
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

 private:
  bool armed_ = false;
};

}  // namespace advprop::dist
