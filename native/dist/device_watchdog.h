// A deadline on collectives queued on a device stream (NCCL). Such a collective is queued by a call
// that returns at once; when another rank dies or hangs, its kernels spin on the device, and the
// next host wait on that stream (reading any result) never returns, beyond the reach of the MPI
// calls' deadline (watchdog.h). So the call that queued it records an event behind it, and a
// background thread polls the events in order: one still pending past its deadline
// (ADVPROP_DIST_TIMEOUT), or an asynchronous error the communicator reports, aborts the
// communicator (which ends its spinning kernels) and then the job, with a message naming this
// rank, the collective and the time waited, through the same handler as the MPI watchdog.
#pragma once
#include <cstddef>
#include <string>

namespace advprop::dist {

// How the watchdog sees the device (plain functions, so the tests can fake a device): whether an
// event has completed, freeing one, the communicator's asynchronous error ("" for none), and
// aborting the communicator.
struct DeviceWatchHooks {
  bool (*done)(void* event) = nullptr;
  void (*release)(void* event) = nullptr;
  std::string (*async_error)() = nullptr;
  void (*abort)() = nullptr;
};

// Tracks `event` (recorded right after the collective `what` was queued; owned from now on and
// released once it has completed) with a deadline of timeout_s from now; timeout_s <= 0: no
// deadline, asynchronous errors are still watched.
void track_device_collective(const DeviceWatchHooks& hooks, void* event, std::string what, double timeout_s);

// Collectives tracked and not yet seen complete.
size_t pending_device_collectives();

}  // namespace advprop::dist
