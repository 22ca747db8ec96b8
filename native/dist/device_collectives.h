// The collectives of advprop/dist.h on device tensors (nccl_comm.cc), called by comm.cc when a
// call's tensors are not on the cpu.
#pragma once
#include <string>
#include <vector>

#include "advprop/tensor.h"

namespace advprop::dist {

// New tensors summed (or averaged) over the ranks: NCCL for cuda in a launched job, copies in a
// world of one, ERR_DEVICE for cuda-sim across ranks (no NCCL on the simulator). comm_stream:
// NCCL runs on the device's communication stream after the op stream's work so far
// (device_comm_wait orders the op stream after it), else on the op stream.
std::vector<Tensor> device_allreduce(const char* op, const std::vector<Tensor>& tensors, bool average, bool comm_stream);
// The op stream of cuda:index waits (on the device) for everything queued on its communication
// stream; nothing when NCCL was never used.
void device_comm_wait(int index);
// Root's bytes into every rank's tensors, in place.
void device_broadcast(const char* op, const std::vector<Tensor>& tensors, int root);
// Ends the NCCL communicator, if one was made: ncclCommAbort (abort) or ncclCommDestroy.
void device_shutdown(bool abort);

}  // namespace advprop::dist
