// The data-parallel runtime of advprop/dist.h on MPI (mpi_loader.h): the world, and collectives
// on cpu tensors. Tensors on a device go to device_collectives.h (NCCL for cuda).
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "advprop/dist.h"
#include "advprop/error.h"
#include "comm_queue.h"
#include "device_collectives.h"
#include "mpi_loader.h"
#include "watchdog.h"

namespace advprop::dist {
namespace {

// MPI_THREAD_SERIALIZED in OpenMPI and MPICH: the communication thread (comm_queue.h) makes the
// calls, one at a time; MPI_Init_thread and MPI_Finalize stay on Node's thread.
constexpr int kThreadSerialized = 2;

// An all-reduce started by allreduce_start: the inputs held until its wait, the outputs it fills.
struct Pending {
  CommQueue::Ticket ticket = 0;  // 0: nothing queued (a world of one, or NCCL's stream)
  std::vector<Tensor> inputs, outputs;
  bool device = false;  // on the cuda communication stream
  int device_index = 0;
};

struct State {
  World world;
  bool initialised = false;  // init() ran
  bool finalised = false;
  double timeout = 0;  // seconds one MPI call may wait (watchdog.h), read at init
  std::unique_ptr<CommQueue> queue;  // every MPI call after init, in one order
  std::unordered_map<int64_t, Pending> pending;  // by handle; touched by Node's thread only
  int64_t next_handle = 1;
};
// Never destroyed: the communication thread may still be blocked in MPI while the process exits.
State& state() {
  static State* s = new State;
  return *s;
}

void check_rc(int rc, const char* what) {
  if (rc != 0) fail(ErrorCode::Dist, std::string("dist: ") + what + " failed (MPI error code " + std::to_string(rc) + ")");
}

// The library of a world with MPI, after init; ERR_DIST once finalised.
const Mpi& live(const char* op) {
  if (state().finalised) fail(ErrorCode::Dist, std::string(op) + ": the distributed runtime was finalised");
  return mpi_library();
}

// The ordered queue; inline in a world of one (which never calls MPI) or before init.
CommQueue& queue() {
  State& s = state();
  if (!s.queue) s.queue = std::make_unique<CommQueue>(false);
  return *s.queue;
}

// Hang detection (watchdog.h): each blocking MPI call of a collective runs under a deadline.
// When it passes, the watchdog's thread names this rank and the call, then MPI_Abort ends every
// rank (from that thread: the blocked main thread cannot; OpenMPI's abort goes through its
// runtime, not the blocked communicator), and _Exit if the library returns.
void abort_on_expiry(const std::string& message) {
  const std::string line = message + "\n";
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  const Mpi& m = mpi_library();
  if (m.loaded) m.Abort(m.comm_world, 1);
  std::_Exit(1);
}

template <typename F>
int watched(const char* op, const char* call, double timeout, F&& f) {
  const World& w = state().world;
  Watch watch("rank " + std::to_string(w.rank) + " of " + std::to_string(w.size) + ": " + op + " (" + call + ")", timeout);
  return f();
}
template <typename F>
int watched(const char* op, const char* call, F&& f) {
  return watched(op, call, state().timeout, f);
}

int env_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* n : names)
    if (const char* v = std::getenv(n); v && *v) return std::atoi(v);
  return fallback;
}

// Checks every tensor of a collective: defined, contiguous, on the cpu; `floats`: all f32 or all
// f64. Returns the element size.
size_t check_tensors(const char* op, const std::vector<Tensor>& ts, bool floats) {
  size_t elem = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    const std::string name = std::string(op) + ": tensor " + std::to_string(i);
    if (!t.defined()) fail(ErrorCode::Arg, name + " is undefined (disposed?)");
    if (t.device().type != DeviceType::cpu)
      fail(ErrorCode::Device, name + " is on " + device_str(t.device()) + " but tensor 0 is on cpu: one device per call");
    if (!t.is_contiguous()) fail(ErrorCode::Arg, name + " is not contiguous");
    if (floats) {
      if (t.dtype() != DType::f32 && t.dtype() != DType::f64)
        fail(ErrorCode::DType, name + " is " + dtype_name(t.dtype()) + ": f32 or f64 only");
      if (i > 0 && t.dtype() != ts[0].dtype())
        fail(ErrorCode::DType, name + " is " + dtype_name(t.dtype()) + " but tensor 0 is " + dtype_name(ts[0].dtype()) +
                                   ": one dtype per call");
      elem = dtype_size(t.dtype());
    }
  }
  return elem;
}

// Sums `count` elements of `buf` across ranks in place, identically on every rank: padded to a
// multiple of the world size, each rank reduces one block (MPI_Reduce_scatter_block) and every
// rank gathers the blocks (MPI_Allgather), so all hold the same bits, added in an order fixed by
// the world size.
template <typename T>
void sum_block(const char* op, const Mpi& m, T* buf, int64_t count, std::vector<T>& pad, std::vector<T>& part) {
  const int size = state().world.size;
  const int64_t per = (count + size - 1) / size;
  pad.assign(static_cast<size_t>(per * size), T(0));
  std::copy(buf, buf + count, pad.begin());
  part.resize(static_cast<size_t>(per));
  const Handle type = sizeof(T) == 4 ? m.t_float : m.t_double;
  check_rc(watched(op, "MPI_Reduce_scatter_block", [&] {
             return m.Reduce_scatter_block(pad.data(), part.data(), static_cast<int>(per), type, m.op_sum, m.comm_world);
           }),
           "MPI_Reduce_scatter_block");
  check_rc(watched(op, "MPI_Allgather", [&] {
             return m.Allgather(part.data(), static_cast<int>(per), type, pad.data(), static_cast<int>(per), type, m.comm_world);
           }),
           "MPI_Allgather");
  std::copy(pad.begin(), pad.begin() + count, buf);
}

// Sums src[i][0, n[i]) over the ranks into dst[i] (divided by the world size with `average`):
// the spans' concatenation is cut into buckets of bucket_elems in order, each reduced by
// sum_block. Runs on the communication thread, so it touches raw memory only (no Tensor, whose
// storage the main thread owns).
template <typename T>
void reduce_spans(const char* op, const std::vector<const T*>& src, const std::vector<T*>& dst, const std::vector<int64_t>& n,
                  bool average, int64_t bucket_elems) {
  const Mpi& m = mpi_library();
  const T size = static_cast<T>(state().world.size);
  std::vector<T> bucket, pad, part;
  bucket.reserve(static_cast<size_t>(bucket_elems));
  // Where each element of the bucket goes back to: (tensor, offset) runs.
  struct Run { size_t t; int64_t off, len; };
  std::vector<Run> runs;
  auto flush = [&]() {
    if (bucket.empty()) return;
    sum_block<T>(op, m, bucket.data(), static_cast<int64_t>(bucket.size()), pad, part);
    int64_t at = 0;
    for (const Run& r : runs) {
      T* out = dst[r.t] + r.off;
      for (int64_t i = 0; i < r.len; ++i) out[i] = average ? bucket[at + i] / size : bucket[at + i];
      at += r.len;
    }
    bucket.clear();
    runs.clear();
  };
  for (size_t t = 0; t < src.size(); ++t) {
    for (int64_t off = 0, total = n[t]; off < total;) {
      const int64_t len = std::min<int64_t>(total - off, bucket_elems - static_cast<int64_t>(bucket.size()));
      bucket.insert(bucket.end(), src[t] + off, src[t] + off + len);
      runs.push_back({t, off, len});
      off += len;
      if (static_cast<int64_t>(bucket.size()) == bucket_elems) flush();
    }
  }
  flush();
}

// Queues the reduction of p.inputs into p.outputs; the spans stay valid while p is pending.
template <typename T>
CommQueue::Ticket queue_reduce(const char* op, const Pending& p, bool average, int64_t bucket_elems) {
  std::vector<const T*> src;
  std::vector<T*> dst;
  std::vector<int64_t> n;
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    src.push_back(p.inputs[i].template data_as<const T>());
    dst.push_back(p.outputs[i].template data_as<T>());
    n.push_back(p.inputs[i].numel());
  }
  return queue().submit([op, src = std::move(src), dst = std::move(dst), n = std::move(n), average, bucket_elems] {
    reduce_spans<T>(op, src, dst, n, average, bucket_elems);
  });
}

}  // namespace

std::string launcher_env() {
  if (const char* off = std::getenv("ADVPROP_DIST"); off && std::string(off) == "off") return "";
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"})
    if (const char* e = std::getenv(v); e && *e) return v;
  return "";
}

MpiProbe probe_mpi() {
  const Mpi& m = mpi_library();
  MpiProbe p;
  p.found = m.loaded;
  p.path = m.path;
  p.flavor = m.loaded ? m.flavor : "";
  p.version = m.version;
  p.reason = m.reason;
  return p;
}

const World& init() {
  State& s = state();
  if (s.initialised) return s.world;
  World w;
  w.launcher = launcher_env();
  if (!w.launcher.empty()) {
    const double timeout = collective_timeout();  // a malformed value fails before MPI starts
    const Mpi& m = mpi_library();
    if (!m.loaded)
      fail(ErrorCode::Dist, "dist: launched by a job launcher (" + w.launcher + " is set) but " + m.reason);
    int already = 0;
    check_rc(m.Initialized(&already), "MPI_Initialized");
    // OpenMPI's blocking calls poll without yielding: a communication thread waiting for a peer
    // would take a core from this rank's kernels (measured 1.6x slower steps, 2 ranks on 2 cores).
    // Read at MPI_Init; a value the user set wins.
    if (!already && m.flavor == "openmpi") setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    int provided = 0;  // a library initialised by someone else: its level is unknown, so no thread
    if (!already) check_rc(m.Init_thread(nullptr, nullptr, kThreadSerialized, &provided), "MPI_Init_thread");
    check_rc(m.Comm_rank(m.comm_world, &w.rank), "MPI_Comm_rank");
    check_rc(m.Comm_size(m.comm_world, &w.size), "MPI_Comm_size");
    w.local_rank = env_int({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}, -1);
    w.local_size = env_int({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"}, -1);
    if ((w.local_rank < 0 || w.local_size < 1) && m.Comm_split_type) {
      // The ranks that share this node (MPI_COMM_TYPE_SHARED); the handle is widened for OpenMPI's pointer.
      Handle node = 0;
      check_rc(m.Comm_split_type(m.comm_world, m.comm_type_shared, w.rank, m.info_null, &node), "MPI_Comm_split_type");
      check_rc(m.Comm_rank(node, &w.local_rank), "MPI_Comm_rank");
      check_rc(m.Comm_size(node, &w.local_size), "MPI_Comm_size");
    }
    if (w.local_rank < 0) w.local_rank = 0;
    if (w.local_size < 1) w.local_size = 1;
    w.mpi = true;
    w.comm_thread = provided >= kThreadSerialized;
    s.queue = std::make_unique<CommQueue>(w.comm_thread);
    s.timeout = timeout;
    set_expire_handler(abort_on_expiry);
  }
  s.world = w;
  s.initialised = true;
  return s.world;
}

const World& world() { return state().world; }

int64_t allreduce_start(const std::vector<Tensor>& tensors, bool average, int64_t bucket_bytes, const char* op) {
  if (bucket_bytes < 64)
    fail(ErrorCode::Arg, std::string(op) + ": bucketBytes must be at least 64, got " + std::to_string(bucket_bytes));
  Pending p;
  if (!tensors.empty() && tensors[0].defined() && tensors[0].device().type != DeviceType::cpu) {
    p.outputs = device_allreduce(op, tensors, average, true);
    p.device = true;
    p.device_index = tensors[0].device().index;
    p.inputs = tensors;  // read by the communication stream until the wait orders it before the op stream
  } else {
    const size_t elem = check_tensors(op, tensors, true);
    const bool alone = state().world.size <= 1 || tensors.empty();
    for (const Tensor& t : tensors) {
      Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
      // A world of one: the sum is the input.
      if (alone && t.nbytes()) std::memcpy(c.data(), t.data(), t.nbytes());
      p.outputs.push_back(std::move(c));
    }
    if (!alone) {
      live(op);
      p.inputs = tensors;
      const int64_t bucket_elems = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(elem));
      p.ticket = tensors[0].dtype() == DType::f32 ? queue_reduce<float>(op, p, average, bucket_elems)
                                                 : queue_reduce<double>(op, p, average, bucket_elems);
    }
  }
  const int64_t handle = state().next_handle++;
  state().pending.emplace(handle, std::move(p));
  return handle;
}

std::vector<Tensor> allreduce_wait(int64_t handle) {
  State& s = state();
  auto it = s.pending.find(handle);
  if (it == s.pending.end())
    fail(ErrorCode::Arg, "distAllreduceWait: " + std::to_string(handle) + " is not a pending all-reduce (waited already?)");
  Pending p = std::move(it->second);
  s.pending.erase(it);
  if (p.ticket) queue().wait(p.ticket);
  if (p.device) device_comm_wait(p.device_index);
  return std::move(p.outputs);
}

std::vector<Tensor> allreduce(const std::vector<Tensor>& tensors, bool average, int64_t bucket_bytes) {
  const char* op = "distAllreduce";
  if (!tensors.empty() && tensors[0].defined() && tensors[0].device().type != DeviceType::cpu) {
    if (bucket_bytes < 64)
      fail(ErrorCode::Arg, std::string(op) + ": bucketBytes must be at least 64, got " + std::to_string(bucket_bytes));
    return device_allreduce(op, tensors, average, false);
  }
  return allreduce_wait(allreduce_start(tensors, average, bucket_bytes, op));
}

void allreduce_host(double* data, int64_t n) {
  const char* op = "distAllreduceHost";
  if (n < 0) fail(ErrorCode::Arg, std::string(op) + ": negative length " + std::to_string(n));
  if (state().world.size <= 1 || n == 0) return;
  const Mpi& m = live(op);
  queue().run([&] {
    std::vector<double> pad, part;
    sum_block<double>(op, m, data, n, pad, part);
  });
}

void broadcast(const std::vector<Tensor>& tensors, int root) {
  const char* op = "distBroadcast";
  const int size = state().world.size;
  if (root < 0 || root >= size)
    fail(ErrorCode::Arg, std::string(op) + ": root " + std::to_string(root) + " is not a rank of a world of " + std::to_string(size));
  mark_written(tensors);
  if (!tensors.empty() && tensors[0].defined() && tensors[0].device().type != DeviceType::cpu)
    return device_broadcast(op, tensors, root);
  check_tensors(op, tensors, false);
  if (size <= 1) return;
  const Mpi& m = live(op);
  std::vector<std::pair<char*, size_t>> spans;
  for (const Tensor& t : tensors) spans.emplace_back(static_cast<char*>(t.data()), t.nbytes());
  queue().run([&] {
    constexpr size_t kChunk = size_t(1) << 30;  // MPI counts are int
    for (const auto& [data, bytes] : spans)
      for (size_t off = 0; off < bytes; off += kChunk) {
        const size_t len = std::min(kChunk, bytes - off);
        check_rc(watched(op, "MPI_Bcast", [&] { return m.Bcast(data + off, static_cast<int>(len), m.t_byte, root, m.comm_world); }),
                 "MPI_Bcast");
      }
  });
}

void barrier(double timeout_s) {
  if (timeout_s < 0) timeout_s = state().timeout;
  if (state().world.size <= 1) return;
  const Mpi& m = live("distBarrier");
  queue().run([&] {
    check_rc(watched("distBarrier", "MPI_Barrier", timeout_s, [&] { return m.Barrier(m.comm_world); }), "MPI_Barrier");
  });
}

void abort_job(int code) {
  const State& s = state();
  device_shutdown(true);
  if (s.world.mpi && !s.finalised) mpi_library().Abort(mpi_library().comm_world, code);
  std::_Exit(code);
}

void finalize() {
  State& s = state();
  if (!s.world.mpi) return;  // a world of one never initialised MPI
  if (s.finalised) return;
  device_shutdown(false);
  // What is still queued runs first (it is in every rank's order); MPI_Finalize on this thread.
  queue().stop();
  s.pending.clear();
  const Mpi& m = mpi_library();
  int done = 0;
  if (m.Finalized(&done) == 0 && !done) check_rc(m.Finalize(), "MPI_Finalize");
  s.finalised = true;
}

}  // namespace advprop::dist
