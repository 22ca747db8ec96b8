// A fixed pool of worker threads. parallel_for splits a range into chunks whose boundaries depend
// only on the range and the grain, hands them out through an atomic counter, and waits.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <sched.h>
#include <mutex>
#include <thread>
#include <vector>

#include "advprop/parallel.h"

namespace advprop {
namespace {

struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t begin = 0, end = 0, chunk = 1, chunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex err_mu;
  std::exception_ptr error;

  void run_chunks() {
    for (;;) {
      int64_t c = next.fetch_add(1);
      if (c >= chunks) return;
      int64_t lo = begin + c * chunk, hi = std::min(end, lo + chunk);
      try {
        (*fn)(lo, hi);
      } catch (...) {
        std::lock_guard<std::mutex> g(err_mu);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1);
    }
  }
};

thread_local bool in_parallel_region = false;

class ThreadPool {
 public:
  explicit ThreadPool(int n) : size_(n) {
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }

  // One job at a time: callers from several JS worker threads are serialised.
  void run(Job& job) {
    std::lock_guard<std::mutex> serial(run_mu_);
    {
      std::lock_guard<std::mutex> g(mu_);
      job_ = &job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    in_parallel_region = true;
    job.run_chunks();
    in_parallel_region = false;
    // The workers usually finish within microseconds of this thread: wait for them spinning for
    // a while before sleeping on the condition variable (a futex sleep and wake-up per call).
    spin_while([&] { return !(job.done.load() == job.chunks && active_.load() == 0); });
    std::unique_lock<std::mutex> g(mu_);
    done_cv_.wait(g, [&] { return job.done.load() == job.chunks && active_.load() == 0; });
    job_ = nullptr;
  }

 private:
  // How long a thread spins before it sleeps on a condition variable: longer than the gaps
  // between the parallel regions of a forward (JavaScript between two kernels, a small kernel
  // run by the calling thread alone), so back-to-back regions find the workers awake; short
  // enough that an idle pool leaves the cores to anything else within a millisecond. A clock,
  // not a count of pause instructions, whose length differs several times between CPUs (18 ns
  // on Zen 5). At 2,000 pauses (37 us there) the workers fell asleep inside a B0 batch-8 forward
  // (about 240 futex calls a forward under strace), which took 1-4 % longer than with 300 us
  // (bench/infer_ab.ts, bench/RESULTS.md).
  static constexpr std::chrono::microseconds kSpin{300};
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  // Spins while busy() holds, for at most kSpin; reads the clock every 64 pauses.
  template <typename Busy>
  static void spin_while(Busy&& busy) {
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int i = 1; busy(); ++i) {
      cpu_relax();
      if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) return;
    }
  }

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      // A new job within the spin is taken without a futex sleep and wake-up.
      spin_while([&] { return generation_.load(std::memory_order_acquire) == seen && !stop_.load(); });
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return stop_.load() || (job_ && generation_.load() != seen); });
      if (stop_.load()) return;
      seen = generation_.load();
      Job* job = job_;
      active_.fetch_add(1);
      g.unlock();
      in_parallel_region = true;
      job->run_chunks();
      in_parallel_region = false;
      g.lock();
      active_.fetch_sub(1);
      g.unlock();
      done_cv_.notify_all();
    }
  }

  int size_;
  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  Job* job_ = nullptr;                     // guarded by mu_
  std::atomic<uint64_t> generation_{0};    // written under mu_, read by spinning workers
  std::atomic<int> active_{0};             // workers inside a job; changed under mu_
  std::atomic<bool> stop_{false};
};

int configured_threads() {
  if (const char* env = std::getenv("ADVPROP_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1 && n <= 1024) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  int n = hw ? static_cast<int>(hw) : 1;
  // A rank of an mpirun/srun job shares the node with its local peers: each takes its share of
  // the cores it may run on (the launcher may have bound it to a few), so the ranks' spinning
  // workers do not fight over the same cores. A process started alone keeps every core.
  int local = 0;
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (const char* e = std::getenv(v)) {
      local = std::atoi(e);
      break;
    }
  if (local >= 1) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const int allowed = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : n;
    n = std::max(1, std::min(allowed, n / local));
  }
  return n;
}

ThreadPool& pool() {
  // Leaked on purpose: joining threads during static destruction at process exit can deadlock.
  static ThreadPool* p = new ThreadPool(configured_threads());
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  if (grain < 1) grain = 1;
  int64_t n = end - begin;
  if (n <= grain || in_parallel_region || pool().size() == 1) {
    // Same chunking as the parallel path, so per-chunk partials combine identically.
    for (int64_t lo = begin; lo < end; lo += grain) fn(lo, std::min(end, lo + grain));
    return;
  }
  Job job;
  job.fn = &fn;
  job.begin = begin;
  job.end = end;
  job.chunk = grain;
  job.chunks = (n + grain - 1) / grain;
  pool().run(job);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace advprop
