// Data-parallel runtime: the ranks of a job started by mpirun or srun, and the collectives a
// training step needs. MPI is loaded with dlopen at run time (native/dist/mpi_loader.cc), so the
// addon and libadvprop.so gain no link dependency and a process started without a launcher never
// touches MPI: it is a world of one, and every collective is the identity.
//
// Collectives work on cpu tensors through MPI and on cuda tensors through NCCL, also loaded with
// dlopen (native/dist/nccl_loader.cc) on the first collective of a cuda tensor, on the device's op
// stream. cuda-sim tensors are refused across ranks (the simulator has no NCCL).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "advprop/tensor.h"

namespace advprop::dist {

// What `advprop info` reports: whether an MPI library loads, which, and why not.
struct MpiProbe {
  bool found = false;
  std::string path;     // the soname or path that loaded
  std::string flavor;   // "openmpi" or "mpich" (the handle ABI), "" when not found
  std::string version;  // MPI_Get_library_version's first line, when the library has it
  std::string reason;   // why not found, or why a found library cannot be used
};

// What `advprop info` reports about NCCL: whether it loads, which version, and why not.
struct NcclProbe {
  bool found = false;
  std::string path, version, reason;
};

struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  bool mpi = false;      // false: a world of one that never loaded MPI
  bool comm_thread = false;  // MPI granted MPI_THREAD_SERIALIZED: collectives run on a communication thread
  std::string launcher;  // the environment variable that said we were launched ("" for none)
};

// The launcher variable found in the environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK,
// SLURM_STEP_NUM_TASKS), or "" when this process was started alone. ADVPROP_DIST=off forces "".
std::string launcher_env();

// Loads the MPI library (ADVPROP_MPI_LIB, else libmpi.so.40, libmpi.so.12, libmpi.so) without
// initialising it. Never throws.
MpiProbe probe_mpi();
// Loads NCCL (ADVPROP_NCCL_LIB, else libnccl.so.2, libnccl.so) without making a communicator.
NcclProbe probe_nccl();

// Joins the job: MPI_Init_thread when launched, else a world of one. Idempotent. ERR_DIST when the
// launcher says there are ranks but MPI cannot be loaded or initialised; ERR_ARG for a malformed
// ADVPROP_DIST_TIMEOUT.
//
// Faults: every blocking MPI call of a collective runs under a deadline of ADVPROP_DIST_TIMEOUT
// seconds (default 45, 0 for none; native/dist/watchdog.h). A rank that waits longer prints
// "advprop: rank R of N: <collective> (<MPI call>) has not completed after T s ..." and calls
// MPI_Abort, which ends every rank of the job. A rank that dies is mpirun's to notice: it ends
// the others and names the dead rank.
const World& init();
// The world after init() (a world of one before it).
const World& world();

// Sums (average: then divides by the world size) each tensor across ranks; returns new tensors of
// the same shapes. cpu: tensors go in fixed-size buckets in the order given, each reduced by
// MPI_Reduce_scatter_block + MPI_Allgather, so every rank gets the same bits and a fixed world
// size always adds in the same order; all f32 or all f64. cuda: one grouped ncclAllReduce per
// tensor (f32, f64, bf16, f16; ncclAvg to average), enqueued on the device's stream. Contiguous,
// all on one device.
std::vector<Tensor> allreduce(const std::vector<Tensor>& tensors, bool average, int64_t bucket_bytes);

// allreduce, started without waiting for it (gradient buckets launched during the backward):
// returns a handle for allreduce_wait, which returns the new tensors. cpu: queued on the
// communication thread (comm_queue.h) in submission order, behind and before every other MPI call
// of this rank, with the same buckets and so the same bits as allreduce; each MPI call under the
// deadline of init(). cuda: ncclAllReduce on the device's communication stream, after the op
// stream's work so far; the wait orders the op stream after it. The inputs are held, and must not
// be written, until the wait. `op` names the caller in errors.
int64_t allreduce_start(const std::vector<Tensor>& tensors, bool average, int64_t bucket_bytes,
                        const char* op = "distAllreduceStart");
// ERR_ARG for a handle that is not pending; rethrows the reduction's error.
std::vector<Tensor> allreduce_wait(int64_t handle);

// The same for a host array of doubles, in place (small per-layer statistics).
void allreduce_host(double* data, int64_t n);

// Copies root's tensors into every rank's, in place (weights at start).
void broadcast(const std::vector<Tensor>& tensors, int root);

// timeout_s: how long to wait for the other ranks before aborting the job; < 0: the collectives'
// deadline (ADVPROP_DIST_TIMEOUT), 0: none (a wait for rank 0's evaluation or checkpoint).
void barrier(double timeout_s = -1);
// Ends every rank of the job (MPI_Abort), or this process alone in a world of one.
[[noreturn]] void abort_job(int code);
// MPI_Finalize once, if MPI was initialised; later collectives are ERR_DIST.
void finalize();

}  // namespace advprop::dist
