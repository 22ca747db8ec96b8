// The data-parallel runtime (advprop/dist.h): the world, MPI's probe, the collectives.
#include "advprop/dist.h"
#include "convert.h"
#include "entries.h"

namespace advprop_binding {

namespace {
Napi::Object world_to_js(Napi::Env env, const advprop::dist::World& w) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", Napi::Number::New(env, w.rank));
  o.Set("size", Napi::Number::New(env, w.size));
  o.Set("localRank", Napi::Number::New(env, w.local_rank));
  o.Set("localSize", Napi::Number::New(env, w.local_size));
  o.Set("mpi", Napi::Boolean::New(env, w.mpi));
  o.Set("commThread", Napi::Boolean::New(env, w.comm_thread));
  o.Set("launcher", w.launcher);
  return o;
}
}  // namespace

// distProbe() -> {found, path, flavor, version, reason, launcher}: loads MPI, never initialises it.
ADVPROP_ENTRY(DistProbe)
  Napi::Env env = info.Env();
  check_arg_count(info, 0, "distProbe");
  const advprop::dist::MpiProbe p = advprop::dist::probe_mpi();
  Napi::Object o = Napi::Object::New(env);
  o.Set("found", Napi::Boolean::New(env, p.found));
  o.Set("path", p.path);
  o.Set("flavor", p.flavor);
  o.Set("version", p.version);
  o.Set("reason", p.reason);
  o.Set("launcher", advprop::dist::launcher_env());
  return o;
ADVPROP_ENTRY_END

// distProbeNccl() -> {found, path, version, reason}: loads NCCL, makes no communicator.
ADVPROP_ENTRY(DistProbeNccl)
  Napi::Env env = info.Env();
  check_arg_count(info, 0, "distProbeNccl");
  const advprop::dist::NcclProbe p = advprop::dist::probe_nccl();
  Napi::Object o = Napi::Object::New(env);
  o.Set("found", Napi::Boolean::New(env, p.found));
  o.Set("path", p.path);
  o.Set("version", p.version);
  o.Set("reason", p.reason);
  return o;
ADVPROP_ENTRY_END

ADVPROP_ENTRY(DistInit)
  check_arg_count(info, 0, "distInit");
  return world_to_js(info.Env(), advprop::dist::init());
ADVPROP_ENTRY_END

ADVPROP_ENTRY(DistWorld)
  check_arg_count(info, 0, "distWorld");
  return world_to_js(info.Env(), advprop::dist::world());
ADVPROP_ENTRY_END

// distAllreduce(tensors, average, bucketBytes) -> new tensors, summed (or averaged) over ranks.
ADVPROP_ENTRY(DistAllreduce)
  const char* op = "distAllreduce";
  check_arg_count(info, 3, op);
  const bool average = to_bool(info[1], op, "average");
  const int64_t bucket = to_i64(info[2], op, "bucketBytes");
  std::vector<advprop::Tensor> out = advprop::dist::allreduce(to_tensors(info[0], op, "tensors"), average, bucket);
  Napi::Array a = Napi::Array::New(info.Env(), out.size());
  for (size_t i = 0; i < out.size(); ++i) a.Set(static_cast<uint32_t>(i), wrap(info, std::move(out[i])));
  return a;
ADVPROP_ENTRY_END

// distAllreduceStart(tensors, average, bucketBytes) -> handle: queued, not waited for.
ADVPROP_ENTRY(DistAllreduceStart)
  const char* op = "distAllreduceStart";
  check_arg_count(info, 3, op);
  const bool average = to_bool(info[1], op, "average");
  const int64_t bucket = to_i64(info[2], op, "bucketBytes");
  const int64_t h = advprop::dist::allreduce_start(to_tensors(info[0], op, "tensors"), average, bucket, op);
  return Napi::Number::New(info.Env(), static_cast<double>(h));
ADVPROP_ENTRY_END

// distAllreduceWait(handle) -> the started all-reduce's new tensors.
ADVPROP_ENTRY(DistAllreduceWait)
  const char* op = "distAllreduceWait";
  check_arg_count(info, 1, op);
  std::vector<advprop::Tensor> out = advprop::dist::allreduce_wait(to_i64(info[0], op, "handle"));
  Napi::Array a = Napi::Array::New(info.Env(), out.size());
  for (size_t i = 0; i < out.size(); ++i) a.Set(static_cast<uint32_t>(i), wrap(info, std::move(out[i])));
  return a;
ADVPROP_ENTRY_END

// distAllreduceHost(Float64Array): summed over ranks in place.
ADVPROP_ENTRY(DistAllreduceHost)
  const char* op = "distAllreduceHost";
  check_arg_count(info, 1, op);
  Napi::Float64Array a = to_typed_array<double>(info[0], op, "values");
  advprop::dist::allreduce_host(a.Data(), static_cast<int64_t>(a.ElementLength()));
  return info.Env().Undefined();
ADVPROP_ENTRY_END

// distBroadcast(tensors, root): root's contents copied into every rank's tensors, in place.
ADVPROP_ENTRY(DistBroadcast)
  const char* op = "distBroadcast";
  check_arg_count(info, 2, op);
  const int root = static_cast<int>(to_int(info[1], op, "root", 0, INT32_MAX));
  advprop::dist::broadcast(to_tensors(info[0], op, "tensors"), root);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

// distBarrier(timeoutSeconds?): < 0 or absent, the collectives' deadline; 0, none.
ADVPROP_ENTRY(DistBarrier)
  const char* op = "distBarrier";
  const bool given = info.Length() >= 1 && !info[0].IsUndefined();
  advprop::dist::barrier(given ? to_number(info[0], op, "timeoutSeconds") : -1.0);
  return info.Env().Undefined();
ADVPROP_ENTRY_END

// distAbort(code): ends every rank of the job; does not return.
ADVPROP_ENTRY(DistAbort)
  const char* op = "distAbort";
  check_arg_count(info, 1, op);
  advprop::dist::abort_job(static_cast<int>(to_int(info[0], op, "code", 0, 255)));
ADVPROP_ENTRY_END

ADVPROP_ENTRY(DistFinalize)
  check_arg_count(info, 0, "distFinalize");
  advprop::dist::finalize();
  return info.Env().Undefined();
ADVPROP_ENTRY_END

}  // namespace advprop_binding
