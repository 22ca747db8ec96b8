// The cuda-sim scheduler: blocks over the thread pool, and inside a block the simulated threads
// as cooperative fibers meeting at block and warp barriers (launch checks: launch_checks.cc).
//
// A block starts with one worker fiber that runs its threads one after another, in linear order.
// Only when a thread blocks at a barrier does its worker stay parked with it, and a fresh worker
// takes over the remaining threads; so a kernel without barriers costs one fiber switch per
// block, and one with barriers about one switch per thread and barrier. Threads that have
// returned count as arrived at every later barrier (as on Volta and later).
#define ADVPROP_SIM 1
#include "cuda_sim.h"

#include <cstdio>
#include <string>
#include <vector>

#include "advprop/error.h"
#include "advprop/parallel.h"
#include "fiber.h"

namespace advprop {
namespace sim {

namespace detail {
// launch_checks.cc: why the hardware would refuse a launch (empty when it would not), and "[x, y, z]".
std::string reject_reason(const LaunchSpec& s);
std::string dims_str(const rt::dim3& d);

namespace {

enum ThreadState : uint8_t { kUnstarted, kRunning, kReady, kWaitBlock, kWaitWarp, kDone };

// Thrown into a parked thread to unwind its fiber when its block is abandoned.
struct FiberAbort {};

struct Slot {
  Stack* stack = nullptr;  // the worker this thread runs on, once started
  uint8_t state = kUnstarted;
  uint8_t op = 0;
  int32_t src = 0;
  uint32_t mask = 0;
  uint64_t value = 0;
  uint64_t result = 0;
};

struct Warp {
  uint32_t exist = 0;    // lanes the block has in this warp
  uint32_t waiting = 0;  // lanes parked in a warp intrinsic
  uint32_t done = 0;     // lanes that have returned
};

// One per host thread; runs the blocks that parallel_for hands to this thread.
class Runner {
 public:
  Runner() : slots_(rt::kMaxThreadsPerBlock), words_(rt::kMaxThreadsPerBlock), ready_(rt::kMaxThreadsPerBlock) {}
  ~Runner() { free_smem(); }

  void begin_launch(const LaunchSpec& spec, void (*invoke)(void*), void* arg) {
    if (in_block_) throw Error(ErrorCode::Internal, "cuda-sim: kernel launched from inside a kernel");
    spec_ = &spec;
    invoke_ = invoke;
    arg_ = arg;
    n_ = static_cast<int>(spec.block.x * spec.block.y * spec.block.z);
    if (smem_bytes_ != spec.smem || !smem_) {
      free_smem();
      // Exactly the launch's size, so AddressSanitizer reports any access past it.
      smem_ = ::operator new(spec.smem, std::align_val_t(16));
      smem_bytes_ = spec.smem;
    }
    CurrentThread& cur = tl_current;
    cur.block_dim = spec.block;
    cur.grid_dim = spec.grid;
    cur.smem = smem_;
  }

  void run_block(int64_t linear_block) {
    const rt::dim3 g = spec_->grid;
    CurrentThread& cur = tl_current;
    cur.block_idx = rt::uint3{static_cast<unsigned>(linear_block % g.x),
                              static_cast<unsigned>((linear_block / g.x) % g.y),
                              static_cast<unsigned>(linear_block / (static_cast<int64_t>(g.x) * g.y))};
    if (smem_bytes_) std::memset(smem_, 0xFF, smem_bytes_);
    ++cur.block_serial;
    reset_block();
    Context* first = pick_next();
    in_block_ = true;
    context_switch(&main_, first);
    in_block_ = false;
    if (error_) rethrow_as_error();
  }

  // ---- called by the simulated threads ----

  int block_barrier(int pred, int mode) {
    const int tid = current_;
    if (aborting_) throw FiberAbort{};
    Slot& s = slots_[tid];
    s.state = kWaitBlock;
    ++n_wait_block_;
    block_pred_ += pred != 0;
    if (n_wait_block_ + n_done_ == n_) release_block();
    suspend(tid);
    const int count = static_cast<int>(s.result & 0xffffffffu);
    const int arrived = static_cast<int>(s.result >> 32);
    switch (mode) {
      case 1: return count;
      case 2: return count == arrived;
      case 3: return count != 0;
      default: return 0;
    }
  }

  uint64_t warp_exchange(int op, unsigned mask, uint64_t value, int src) {
    const int tid = current_;
    if (aborting_) throw FiberAbort{};
    const int lane = tid & 31;
    Warp& w = warps_[tid >> 5];
    if (!(mask & (1u << lane))) {
      abort_block(make_error("thread " + thread_str(tid) + " called a warp intrinsic with mask 0x" + hex(mask) +
                             ", which leaves out its own lane " + std::to_string(lane)));
      throw FiberAbort{};
    }
    Slot& s = slots_[tid];
    s.op = static_cast<uint8_t>(op);
    s.mask = mask & w.exist;
    s.value = value;
    s.src = src;
    s.state = kWaitWarp;
    w.waiting |= 1u << lane;
    if ((s.mask & ~(w.waiting | w.done)) == 0 && !release_warp(tid >> 5, s.mask & w.waiting)) throw FiberAbort{};
    suspend(tid);
    return s.result;
  }

  void warp_collective(const WarpCollective& op, const uint32_t* in, int n_in, uint32_t* out, int n_out) {
    LaneWords& w = words_[current_];
    std::memcpy(w.in, in, sizeof(uint32_t) * static_cast<size_t>(n_in));
    warp_exchange(kWarpCollective, 0xffffffffu, reinterpret_cast<uintptr_t>(&op), 0);
    std::memcpy(out, w.out, sizeof(uint32_t) * static_cast<size_t>(n_out));
  }

  bool in_block() const { return in_block_; }

  unsigned live_mask() const {
    const Warp& w = warps_[current_ >> 5];
    return w.exist & ~w.done;
  }

  // ---- fibers ----

  // Body of every worker fiber: start threads until none is left or the block is abandoned.
  [[noreturn]] void worker() {
    Stack* self = spawning_;
    context_started();
    while (!aborting_ && next_unstarted_ < n_) {
      const int tid = next_unstarted_++;
      Slot& s = slots_[tid];
      s.stack = self;
      s.state = kRunning;
      ++n_live_;
      enter(tid);
      try {
        invoke_(arg_);
      } catch (const FiberAbort&) {
      } catch (...) {
        abort_block(std::current_exception());
      }
      finish(tid);
    }
    // Released only after choosing the next context, so that choice can never reuse this stack.
    Context* next = pick_next();
    stack_release(self);
    context_switch(&self->ctx, next, /*exiting=*/true);
    __builtin_unreachable();
  }

 private:
  void free_smem() {
    if (smem_) ::operator delete(smem_, std::align_val_t(16));
    smem_ = nullptr;
    smem_bytes_ = 0;
  }

  void reset_block() {
    for (int i = 0; i < n_; ++i) slots_[i].state = kUnstarted;
    const int nwarps = (n_ + 31) / 32;
    for (int w = 0; w < nwarps; ++w) {
      const int lanes = std::min(32, n_ - 32 * w);
      warps_[w] = Warp{lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u, 0, 0};
    }
    next_unstarted_ = 0;
    n_live_ = n_done_ = n_wait_block_ = block_pred_ = 0;
    ready_head_ = ready_count_ = 0;
    aborting_ = false;
    error_ = nullptr;
  }

  void enter(int tid) {
    current_ = tid;
    CurrentThread& cur = tl_current;
    const unsigned bx = cur.block_dim.x, by = cur.block_dim.y;
    const unsigned t = static_cast<unsigned>(tid);
    cur.thread_idx = rt::uint3{t % bx, (t / bx) % by, t / (bx * by)};
    cur.linear_tid = t;
  }

  void push_ready(int tid) {
    slots_[tid].state = kReady;
    ready_[(ready_head_ + ready_count_) % n_] = tid;
    ++ready_count_;
  }

  // Where the calling fiber (which has just parked or finished) hands control.
  Context* pick_next() {
    for (;;) {
      if (ready_count_) {
        const int tid = ready_[ready_head_];
        ready_head_ = (ready_head_ + 1) % n_;
        --ready_count_;
        // A thread woken by an abort may have returned before its turn came.
        if (slots_[tid].state != kReady) continue;
        slots_[tid].state = kRunning;
        enter(tid);
        return &slots_[tid].stack->ctx;
      }
      if (!aborting_ && next_unstarted_ < n_) {
        spawning_ = stack_acquire();
        context_init(spawning_, &worker_entry);
        return &spawning_->ctx;
      }
      // While aborting every live thread is queued above, so this ends the block, never spins.
      if (n_live_ == 0 || aborting_) return &main_;
      // Every live thread is parked and nothing can release it.
      abort_block(make_error(deadlock_report()));
    }
  }

  void suspend(int tid) {
    Context* self = &slots_[tid].stack->ctx;
    Context* next = pick_next();
    if (next != self) context_switch(self, next);
    if (aborting_) throw FiberAbort{};
  }

  void finish(int tid) {
    slots_[tid].state = kDone;
    --n_live_;
    ++n_done_;
    if (aborting_) return;
    const int wi = tid >> 5;
    Warp& w = warps_[wi];
    w.done |= 1u << (tid & 31);
    // Lanes parked in a warp intrinsic may have been waiting only for this one.
    uint32_t pending = w.waiting;
    while (pending) {
      const int lane = __builtin_ctz(pending);
      pending &= pending - 1;
      const Slot& s = slots_[wi * 32 + lane];
      if ((s.mask & ~(w.waiting | w.done)) == 0) {
        const uint32_t group = s.mask & w.waiting;
        if (!release_warp(wi, group)) return;
        pending &= ~group;
      }
    }
    if (n_wait_block_ && n_wait_block_ + n_done_ == n_) release_block();
  }

  // Released threads resume in thread order, the one that completed the barrier included, so
  // that after every barrier the block proceeds as a converged GPU block would.
  void release_block() {
    const uint64_t result = static_cast<uint64_t>(block_pred_) | (static_cast<uint64_t>(n_wait_block_) << 32);
    for (int i = 0; i < n_; ++i) {
      Slot& s = slots_[i];
      if (s.state != kWaitBlock) continue;
      s.result = result;
      push_ready(i);
    }
    n_wait_block_ = 0;
    block_pred_ = 0;
  }

  // Completes the warp intrinsic of the lanes in `group` (all parked, all of one call). Returns
  // false, after abandoning the block, when the lanes called different intrinsics.
  bool release_warp(int wi, uint32_t group) {
    Warp& w = warps_[wi];
    const int base = wi * 32;
    const int op = slots_[base + __builtin_ctz(group)].op;
    uint32_t ballot = 0;
    for (uint32_t g = group; g; g &= g - 1) {
      const Slot& s = slots_[base + __builtin_ctz(g)];
      if (s.op != op) {
        abort_block(make_error("lanes " + hex(group) + " of warp " + std::to_string(wi) +
                               " met at different warp intrinsics"));
        return false;
      }
      if (s.value) ballot |= 1u << __builtin_ctz(g);
    }
    if (op == kWarpCollective && !run_collective(wi, group)) return false;
    for (uint32_t g = group; g; g &= g - 1) {
      const int lane = __builtin_ctz(g);
      Slot& s = slots_[base + lane];
      switch (op) {
        case kWarpShfl:
          s.result = (group >> s.src) & 1u ? slots_[base + s.src].value : s.value;
          break;
        case kWarpVote:
          s.result = ballot | (static_cast<uint64_t>(group) << 32);
          break;
        case kWarpMatch: {
          uint32_t same = 0;
          for (uint32_t h = group; h; h &= h - 1)
            if (slots_[base + __builtin_ctz(h)].value == s.value) same |= 1u << __builtin_ctz(h);
          s.result = same;
          break;
        }
        default:
          s.result = 0;
      }
    }
    w.waiting &= ~group;
    for (uint32_t g = group; g; g &= g - 1) push_ready(base + __builtin_ctz(g));
    return true;
  }

  // Runs the collective the lanes of `group` (all parked at kWarpCollective) have met at.
  bool run_collective(int wi, uint32_t group) {
    const int base = wi * 32;
    const uint64_t id = slots_[base + __builtin_ctz(group)].value;
    const auto* op = reinterpret_cast<const WarpCollective*>(static_cast<uintptr_t>(id));
    std::string why;
    for (uint32_t g = group; g; g &= g - 1)
      if (slots_[base + __builtin_ctz(g)].value != id)
        why = "lanes " + hex(group) + " of warp " + std::to_string(wi) + " met at different warp-wide instructions";
    if (why.empty() && group != 0xffffffffu)
      why = std::string(op->name) + " needs all 32 lanes of warp " + std::to_string(wi) + ", but lanes 0x" +
            hex(~group) + " have exited or are not in the block";
    if (!why.empty()) {
      abort_block(make_error(why));
      return false;
    }
    try {
      op->run(&words_[base]);
      return true;
    } catch (...) {
      abort_block(std::current_exception());
      return false;
    }
  }

  // Stops the block: no new threads start and every parked one is resumed to unwind.
  void abort_block(std::exception_ptr e) {
    if (!error_) error_ = e;
    if (aborting_) return;
    aborting_ = true;
    for (int i = 0; i < n_; ++i)
      if (slots_[i].state == kWaitBlock || slots_[i].state == kWaitWarp) push_ready(i);
  }

  std::string block_str() const {
    const rt::uint3 b = tl_current.block_idx;
    return "[" + std::to_string(b.x) + ", " + std::to_string(b.y) + ", " + std::to_string(b.z) + "]";
  }
  std::string thread_str(int tid) const {
    const rt::dim3 d = spec_->block;
    const unsigned t = static_cast<unsigned>(tid);
    return "[" + std::to_string(t % d.x) + ", " + std::to_string((t / d.x) % d.y) + ", " +
           std::to_string(t / (d.x * d.y)) + "]";
  }
  static std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
  }

  std::exception_ptr make_error(const std::string& what) const {
    return std::make_exception_ptr(
        Error(ErrorCode::Cuda, std::string("cuda-sim: kernel ") + spec_->name + " in block " + block_str() + ": " + what));
  }

  std::string deadlock_report() const {
    int at_block = 0, at_warp = 0, example = -1;
    for (int i = 0; i < n_; ++i) {
      if (slots_[i].state == kWaitBlock) ++at_block;
      if (slots_[i].state == kWaitWarp) {
        ++at_warp;
        if (example < 0) example = i;
      }
    }
    std::string r = "deadlock: " + std::to_string(at_block) + " threads wait at __syncthreads and " +
                    std::to_string(at_warp) + " at warp intrinsics";
    if (example >= 0) {
      const Warp& w = warps_[example >> 5];
      const uint32_t missing = slots_[example].mask & ~(w.waiting | w.done);
      r += " (thread " + thread_str(example) + " waits for lanes 0x" + hex(missing) + " of warp " +
           std::to_string(example >> 5) + ")";
    }
    return r;
  }

  [[noreturn]] void rethrow_as_error() {
    std::exception_ptr e = error_;
    error_ = nullptr;
    try {
      std::rethrow_exception(e);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& ex) {
      throw Error(ErrorCode::Cuda, std::string("cuda-sim: kernel ") + spec_->name + " threw: " + ex.what());
    } catch (...) {
      throw Error(ErrorCode::Cuda, std::string("cuda-sim: kernel ") + spec_->name + " threw a non-standard exception");
    }
  }

  static void worker_entry();

  const LaunchSpec* spec_ = nullptr;
  void (*invoke_)(void*) = nullptr;
  void* arg_ = nullptr;
  void* smem_ = nullptr;
  size_t smem_bytes_ = 0;

  int n_ = 0;
  int current_ = 0;
  int next_unstarted_ = 0;
  int n_live_ = 0;  // started and not returned
  int n_done_ = 0;
  int n_wait_block_ = 0;
  int block_pred_ = 0;
  bool aborting_ = false;
  bool in_block_ = false;
  std::exception_ptr error_;

  std::vector<Slot> slots_;
  std::vector<LaneWords> words_;  // per thread, for warp_collective
  Warp warps_[rt::kMaxThreadsPerBlock / 32];
  std::vector<int> ready_;  // ring buffer; a thread is queued at most once
  int ready_head_ = 0;
  int ready_count_ = 0;

  Context main_;
  Stack* spawning_ = nullptr;
};

thread_local std::unique_ptr<Runner> tl_runner;

Runner& runner() {
  if (!tl_runner) tl_runner.reset(new Runner());
  return *tl_runner;
}

void Runner::worker_entry() { tl_runner->worker(); }

// The intrinsics' way in: only a simulated thread may call them.
Runner& in_kernel(const char* what) {
  Runner* r = tl_runner.get();
  if (!r || !r->in_block())
    throw Error(ErrorCode::Internal, std::string("cuda-sim: ") + what + " called outside a kernel");
  return *r;
}

}  // namespace

uint64_t warp_exchange(int op, unsigned mask, uint64_t value, int src_lane) {
  return in_kernel("a warp intrinsic").warp_exchange(op, mask, value, src_lane);
}
unsigned warp_live_mask() { return in_kernel("__activemask").live_mask(); }
void warp_collective(const WarpCollective& op, const uint32_t* in, int n_in, uint32_t* out, int n_out) {
  in_kernel(op.name).warp_collective(op, in, n_in, out, n_out);
}
int block_barrier(int pred, int mode) { return in_kernel("__syncthreads").block_barrier(pred, mode); }

}  // namespace detail

void run_kernel(const LaunchSpec& spec, void (*invoke)(void*), void* arg) {
  const std::string reason = detail::reject_reason(spec);
  if (!reason.empty())
    throw Error(ErrorCode::Cuda, std::string("cuda-sim: launch of ") + spec.name + " rejected: " + reason +
                                     " (grid " + detail::dims_str(spec.grid) + ", block " +
                                     detail::dims_str(spec.block) + ", smem " + std::to_string(spec.smem) + ")");
  const int64_t blocks = static_cast<int64_t>(spec.grid.x) * spec.grid.y * spec.grid.z;
  const int64_t threads = static_cast<int64_t>(spec.block.x) * spec.block.y * spec.block.z;
  // Chunks of a few thousand simulated threads amortise the pool's hand-off.
  const int64_t grain = std::max<int64_t>(1, 4096 / threads);
  std::atomic<bool> failed{false};
  parallel_for(0, blocks, grain, [&](int64_t lo, int64_t hi) {
    detail::Runner& r = detail::runner();
    r.begin_launch(spec, invoke, arg);
    for (int64_t b = lo; b < hi && !failed.load(std::memory_order_relaxed); ++b) {
      try {
        r.run_block(b);
      } catch (...) {
        failed.store(true, std::memory_order_relaxed);
        throw;
      }
    }
  });
}

}  // namespace sim
}  // namespace advprop
