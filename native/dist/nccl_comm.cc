// Collectives on cuda tensors through NCCL (nccl_loader.h). Each is enqueued on the op stream of
// the tensors' device (advprop/cuda_info.h), so it runs after the kernels that made its inputs
// and before any kernel that reads its outputs, without a host synchronisation; an event behind
// it lets the device watchdog (device_watchdog.h) end the job when it does not complete in time. One
// communicator per process, made on first use: rank 0's ncclUniqueId reaches the others through
// MPI_Bcast. NCCL's ring and tree all-reduces end with every rank holding the same bits, and the
// algorithm is fixed for a fixed world size and message size, so the sums are deterministic
// there, as the MPI path's are.
#include <cstring>
#include <string>
#include <vector>

#include "advprop/cuda_info.h"
#include "advprop/dist.h"
#include "advprop/error.h"
#include "advprop/ops.h"
#include "device_collectives.h"
#include "device_watchdog.h"
#include "watchdog.h"
#include "nccl_loader.h"

namespace advprop::dist {
namespace {

struct NcclState {
  NcclComm comm = nullptr;
  int device = -1;
};
NcclState& nstate() {
  static NcclState s;
  return s;
}

#if ADVPROP_WITH_CUDA  // the only callers are the cuda paths below
// The watchdog's view of this process's communicator (device_watchdog.h).
std::string nccl_async_error() {
  NcclState& s = nstate();
  const Nccl& n = nccl_library();
  int rc = kNcclSuccess;
  if (!s.comm || !n.CommGetAsyncError || n.CommGetAsyncError(s.comm, &rc) != kNcclSuccess) return "";
  if (rc == kNcclSuccess || rc == kNcclInProgress) return "";
  return std::string(n.GetErrorString ? n.GetErrorString(rc) : "?") + " (NCCL error " + std::to_string(rc) + ")";
}
void nccl_abort() {
  NcclState& s = nstate();
  if (s.comm) nccl_library().CommAbort(s.comm);
}
const DeviceWatchHooks kNcclWatch{cuda::event_done, cuda::destroy_event, nccl_async_error, nccl_abort};

void check_nccl(int rc, const char* op, const char* what) {
  if (rc == kNcclSuccess || rc == kNcclInProgress) return;
  const Nccl& n = nccl_library();
  fail(ErrorCode::Dist, std::string(op) + ": " + what + " failed: " + (n.GetErrorString ? n.GetErrorString(rc) : "?") +
                            " (NCCL error " + std::to_string(rc) + ")");
}
#endif

int nccl_type(DType t, const char* op) {
  switch (t) {
    case DType::f32: return kNcclFloat32;
    case DType::f64: return kNcclFloat64;
    case DType::bf16: return kNcclBfloat16;
    case DType::f16: return kNcclFloat16;
    default: fail(ErrorCode::DType, std::string(op) + ": " + dtype_name(t) + " tensors cannot be reduced (float types only)");
  }
}

// Every tensor of a call: defined, contiguous, on tensor 0's device; returns that device.
Device check_device_tensors(const char* op, const std::vector<Tensor>& ts) {
  const Device d = ts[0].device();
  for (size_t i = 0; i < ts.size(); ++i) {
    const std::string name = std::string(op) + ": tensor " + std::to_string(i);
    if (!ts[i].defined()) fail(ErrorCode::Arg, name + " is undefined (disposed?)");
    if (!(ts[i].device() == d))
      fail(ErrorCode::Device, name + " is on " + device_str(ts[i].device()) + " but tensor 0 is on " + device_str(d) +
                                  ": one device per call");
    if (!ts[i].is_contiguous()) fail(ErrorCode::Arg, name + " is not contiguous");
  }
  return d;
}

#if ADVPROP_WITH_CUDA
NcclComm comm_for(int device, const char* op) {
  NcclState& s = nstate();
  if (s.comm) {
    if (s.device != device)
      fail(ErrorCode::Device, std::string(op) + ": this rank's collectives run on cuda:" + std::to_string(s.device) +
                                  ", got a tensor on cuda:" + std::to_string(device));
    return s.comm;
  }
  const Nccl& n = nccl_library();
  if (!n.loaded) fail(ErrorCode::Dist, std::string(op) + ": cuda tensors are reduced by NCCL, and " + n.reason);
  // The id travels as the bytes of a cpu f64 tensor through the MPI broadcast.
  NcclUniqueId id{};
  if (world().rank == 0) check_nccl(n.GetUniqueId(&id), op, "ncclGetUniqueId");
  Tensor bytes = Tensor::empty({static_cast<int64_t>(sizeof id / sizeof(double))}, DType::f64, Device{DeviceType::cpu, 0});
  std::memcpy(bytes.data(), &id, sizeof id);
  broadcast({bytes}, 0);
  std::memcpy(&id, bytes.data(), sizeof id);
  cuda::op_stream(device);  // NCCL binds the communicator to the current device
  NcclComm c = nullptr;
  check_nccl(n.CommInitRank(&c, world().size, id, world().rank), op, "ncclCommInitRank");
  s.comm = c;
  s.device = device;
  return c;
}

// call(nccl, comm, stream, i) for i < n inside one ncclGroupStart/End on device `index`'s op
// stream (or its communication stream, ordered after the op stream's work so far: the kernels
// that wrote the inputs), stopping at the first error; the group is always closed.
template <typename F>
void grouped(const char* op, const char* what, int index, size_t n, bool on_comm, F&& call) {
  NcclComm c = comm_for(index, op);
  void* stream = cuda::op_stream(index);
  if (on_comm) {
    void* comm = cuda::comm_stream(index);
    cuda::stream_after(comm, stream);
    stream = comm;
  }
  const Nccl& nccl = nccl_library();
  check_nccl(nccl.GroupStart(), op, "ncclGroupStart");
  int rc = kNcclSuccess;
  for (size_t i = 0; i < n && (rc == kNcclSuccess || rc == kNcclInProgress); ++i) rc = call(nccl, c, stream, i);
  const int end = nccl.GroupEnd();
  check_nccl(rc, op, what);
  check_nccl(end, op, "ncclGroupEnd");
  // A peer that dies or hangs now leaves these kernels spinning on the device, past the MPI
  // calls' deadline: the device watchdog ends the job instead (device_watchdog.h).
  track_device_collective(kNcclWatch, cuda::record_event(stream),
                          "rank " + std::to_string(world().rank) + " of " + std::to_string(world().size) + ": " + op +
                              " (" + what + " of " + std::to_string(n) + " tensors on cuda:" + std::to_string(index) + ")",
                          collective_timeout());
}
#endif

// Tensors on a device in a job launched without MPI (a world of one) are copied; cuda-sim has
// no NCCL; cuda goes through NCCL (also in a launched world of one, which is how a one-GPU
// machine tests this path).
bool need_nccl(const Device& d, const char* op) {
  if (!world().mpi) return false;
  if (d.type != DeviceType::cuda)
    fail(ErrorCode::Device, std::string(op) + ": " + device_str(d) +
                                " tensors cannot be reduced across ranks (the simulator has no NCCL): use cpu or cuda");
#if !ADVPROP_WITH_CUDA
  fail(ErrorCode::Device, std::string(op) + ": this build has no CUDA");
#endif
  return true;
}

}  // namespace

std::vector<Tensor> device_allreduce(const char* op, const std::vector<Tensor>& ts, bool average, bool comm_stream) {
  const Device d = check_device_tensors(op, ts);
  const bool nccl = need_nccl(d, op);
  std::vector<Tensor> out;
  out.reserve(ts.size());
  for (const Tensor& t : ts) {
    nccl_type(t.dtype(), op);
    out.push_back(nccl ? Tensor::empty(t.shape(), t.dtype(), t.device()) : ops::clone(t));
  }
  if (!nccl) return out;
#if ADVPROP_WITH_CUDA
  // The outputs come from the op stream's allocator; nothing on the op stream touches them before
  // device_comm_wait, and the caller holds the inputs until then.
  grouped(op, "ncclAllReduce", d.index, ts.size(), comm_stream, [&](const Nccl& n, NcclComm c, void* stream, size_t i) {
    if (!ts[i].numel()) return kNcclSuccess;
    return n.AllReduce(ts[i].data(), out[i].data(), static_cast<size_t>(ts[i].numel()), nccl_type(ts[i].dtype(), op),
                       average ? kNcclAvg : kNcclSum, c, stream);
  });
#endif
  return out;
}

void device_broadcast(const char* op, const std::vector<Tensor>& ts, int root) {
  const Device d = check_device_tensors(op, ts);
  if (!need_nccl(d, op)) return;
#if ADVPROP_WITH_CUDA
  // As bytes (ncclInt8 is 0), so any dtype travels.
  grouped(op, "ncclBroadcast", d.index, ts.size(), false, [&](const Nccl& n, NcclComm c, void* stream, size_t i) {
    return ts[i].nbytes() ? n.Broadcast(ts[i].data(), ts[i].data(), ts[i].nbytes(), 0, root, c, stream) : kNcclSuccess;
  });
#endif
}

void device_comm_wait(int index) {
#if ADVPROP_WITH_CUDA
  if (nstate().comm) cuda::stream_after(cuda::op_stream(index), cuda::comm_stream(index));
#else
  (void)index;
#endif
}

NcclProbe probe_nccl() {
  const Nccl& n = nccl_library();
  NcclProbe p;
  p.found = n.loaded;
  p.path = n.path;
  p.version = n.version;
  p.reason = n.reason;
  return p;
}

void device_shutdown(bool abort) {
  NcclState& s = nstate();
  if (!s.comm) return;
  const Nccl& n = nccl_library();
  // Abort also ends operations still queued (a peer that died); destroy waits for them.
  if (abort) n.CommAbort(s.comm);
  else n.CommDestroy(s.comm);
  s.comm = nullptr;
}

}  // namespace advprop::dist
