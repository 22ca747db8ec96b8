// The device backends' constructors, one per device type; native/core/device.cc picks one.
#pragma once
#include "advprop/device.h"

namespace advprop {
namespace cpu { DeviceBackend& device_backend(); }
#if ADVPROP_WITH_CUDA
namespace cuda { DeviceBackend& device_backend(); }
#endif
#if ADVPROP_WITH_SIM
namespace cudasim { DeviceBackend& device_backend(); }
#endif
}  // namespace advprop
