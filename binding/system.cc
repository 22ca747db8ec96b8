// Build, device and memory introspection.
#include <string>

#include "advprop/attack.h"
#include "advprop/batchnorm.h"
#include "advprop/cuda_info.h"
#include "advprop/device.h"
#include "advprop/elementwise.h"
#include "advprop/gemm.h"
#include "advprop/parallel.h"
#include "convert.h"
#include "entries.h"
#include "handle.h"
#if ADVPROP_WITH_SIM
#include "../native/sim/selftest.h"
#endif
#ifndef ADVPROP_CUDA_FLAGS_STR
#define ADVPROP_CUDA_FLAGS_STR ""
#endif
#ifndef ADVPROP_CUDA_COMPILER_STR
#define ADVPROP_CUDA_COMPILER_STR ""
#endif

namespace advprop_binding {

using advprop::DeviceType;

ADVPROP_ENTRY(BuildInfo)
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", ADVPROP_VERSION);
  o.Set("cuda", Napi::Boolean::New(env, ADVPROP_WITH_CUDA));
  o.Set("cudaArchs", ADVPROP_WITH_CUDA ? ADVPROP_CUDA_ARCHS_STR : "");
  o.Set("sim", Napi::Boolean::New(env, ADVPROP_WITH_SIM));
  o.Set("compiler", "g++ " __VERSION__);
  o.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  o.Set("threads", Napi::Number::New(env, advprop::num_threads()));
  // The CUDA side: compiler and flags fixed at build time; driver and runtime versions asked now
  // (driver 0 = no driver installed). All empty / 0 in a build without CUDA.
  o.Set("cudaCompiler", ADVPROP_WITH_CUDA ? ADVPROP_CUDA_COMPILER_STR : "");
  o.Set("cudaFlags", ADVPROP_WITH_CUDA ? ADVPROP_CUDA_FLAGS_STR : "");
  advprop::CudaVersions v;
#if ADVPROP_WITH_CUDA
  v = advprop::cuda::versions();
#endif
  o.Set("cudaRuntimeBuilt", Napi::Number::New(env, v.built));
  o.Set("driverVersion", Napi::Number::New(env, v.driver));
  o.Set("runtimeVersion", Napi::Number::New(env, v.runtime));
  return o;
ADVPROP_ENTRY_END

namespace {
template <typename E>
Napi::Array names_of(Napi::Env env) {
  Napi::Array a = Napi::Array::New(env, advprop::enum_count<E>());
  for (int i = 0; i < advprop::enum_count<E>(); ++i) a.Set(i, advprop::EnumTable<E>::names[i]);
  return a;
}
}  // namespace

// The names every enumerated argument accepts, straight from the native lists, so that the
// TypeScript lists can be checked against them (test/native.test.ts).
ADVPROP_ENTRY(OpNames)
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("binary", names_of<advprop::BinaryOp>(env));
  o.Set("unary", names_of<advprop::UnaryOp>(env));
  o.Set("batchNormMode", names_of<advprop::BnMode>(env));
  o.Set("batchNormAct", names_of<advprop::BnAct>(env));
  o.Set("attackNorm", names_of<advprop::AttackNorm>(env));
  return o;
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Devices)
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (int ti = 0; ti < advprop::enum_count<DeviceType>(); ++ti) {
    const auto t = static_cast<DeviceType>(ti);
    advprop::DeviceBackend& b = advprop::backend(t);
    bool avail = b.available();
    int count = avail ? b.device_count() : 1;
    for (int i = 0; i < count; ++i) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("device", advprop::device_str(advprop::Device{t, i}));
      d.Set("type", advprop::device_type_name(t));
      d.Set("index", Napi::Number::New(env, i));
      d.Set("available", Napi::Boolean::New(env, avail));
      d.Set("reason", avail ? std::string() : b.unavailable_reason());
      if (avail) {
        advprop::DeviceInfo di = b.info(i);
        d.Set("name", di.name);
        d.Set("totalMemory", Napi::Number::New(env, static_cast<double>(di.total_memory)));
        if (t != DeviceType::cpu) {
          d.Set("computeCapability", std::to_string(di.compute_major) + "." + std::to_string(di.compute_minor));
          d.Set("maxThreadsPerBlock", Napi::Number::New(env, di.max_threads_per_block));
          d.Set("sharedMemPerBlock", Napi::Number::New(env, static_cast<double>(di.shared_mem_per_block)));
          d.Set("warpSize", Napi::Number::New(env, di.warp_size));
          d.Set("driverVersion", Napi::Number::New(env, di.driver_version));
          d.Set("runtimeVersion", Napi::Number::New(env, di.runtime_version));
        }
        d.Set("multiprocessors", Napi::Number::New(env, di.multiprocessors));
      }
      out.Set(k++, d);
    }
  }
  return out;
ADVPROP_ENTRY_END

ADVPROP_ENTRY(MemoryStats)
  check_arg_count(info, 1, "memoryStats");
  const advprop::Device dev = to_usable_device(info[0], "memoryStats", "device");
  advprop::MemoryStats s = advprop::backend(dev.type).stats(dev.index);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("liveTensors", Napi::Number::New(env, static_cast<double>(s.live_tensors)));
  o.Set("bytesInUse", Napi::Number::New(env, static_cast<double>(s.bytes_in_use)));
  o.Set("peakBytesInUse", Napi::Number::New(env, static_cast<double>(s.peak_bytes_in_use)));
  o.Set("bytesCached", Napi::Number::New(env, static_cast<double>(s.bytes_cached)));
  o.Set("bytesReserved", Napi::Number::New(env, static_cast<double>(s.bytes_reserved)));
  o.Set("allocCalls", Napi::Number::New(env, static_cast<double>(s.alloc_calls)));
  o.Set("systemAllocs", Napi::Number::New(env, static_cast<double>(s.system_allocs)));
  return o;
ADVPROP_ENTRY_END

ADVPROP_ENTRY(ResetPeakMemory)
  check_arg_count(info, 1, "resetPeakMemory");
  const advprop::Device dev = to_usable_device(info[0], "resetPeakMemory", "device");
  advprop::backend(dev.type).reset_peak(dev.index);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

// Returns the previous setting, so the lib can restore it.
ADVPROP_ENTRY(SetGemmTf32)
  check_arg_count(info, 1, "setGemmTf32");
  const bool allowed = to_bool(info[0], "setGemmTf32", "allowed");
  const bool before = advprop::gemm_tf32();
  advprop::set_gemm_tf32(allowed);
  return Napi::Boolean::New(info.Env(), before);
ADVPROP_ENTRY_END

ADVPROP_ENTRY(HandleStatsEntry)
  const HandleStats st = TensorHandle::Stats(info.Env());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("live", Napi::Number::New(info.Env(), static_cast<double>(st.live)));
  o.Set("slots", Napi::Number::New(info.Env(), static_cast<double>(st.slots)));
  return o;
ADVPROP_ENTRY_END

ADVPROP_ENTRY(EmptyCache)
  check_arg_count(info, 1, "emptyCache");
  const advprop::Device dev = to_usable_device(info[0], "emptyCache", "device");
  advprop::backend(dev.type).empty_cache();
  TensorHandle::ReportReserved(info.Env(), dev);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

ADVPROP_ENTRY(Synchronize)
  check_arg_count(info, 1, "synchronize");
  const advprop::Device dev = to_usable_device(info[0], "synchronize", "device");
  advprop::backend(dev.type).synchronize(dev.index);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

ADVPROP_ENTRY(SimSelfTest)
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
#if ADVPROP_WITH_SIM
  uint32_t k = 0;
  for (const auto& r : advprop::sim::run_self_tests()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", r.name);
    o.Set("passed", Napi::Boolean::New(env, r.passed));
    o.Set("detail", r.detail);
    out.Set(k++, o);
  }
#endif
  return out;
ADVPROP_ENTRY_END

}  // namespace advprop_binding
