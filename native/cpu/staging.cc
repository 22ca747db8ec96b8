// The cpu twin of native/cuda/staging.cu (advprop/staging.h): host memory is the device's, so an
// upload is one memcpy that is done when it returns, and a release has nothing to order.
#include <cstring>

#include "advprop/staging.h"

namespace advprop {
namespace cpu {
namespace {
struct State {
  int slots;
};
}  // namespace

void* stager_create(int, int slots) { return new State{slots}; }
void stager_destroy(void* state) { delete static_cast<State*>(state); }
void stager_upload(void*, int, const void* host, size_t bytes, void* dst) { std::memcpy(dst, host, bytes); }
void stager_release(void*, int) {}

}  // namespace cpu
}  // namespace advprop
