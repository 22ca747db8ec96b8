// Finds and binds NCCL at run time (see nccl_loader.h).
#include "nccl_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "advprop/dl_bind.h"

namespace advprop::dist {
namespace {

Nccl load() {
  Nccl n;
  std::vector<std::string> tried;
  if (const char* env = std::getenv("ADVPROP_NCCL_LIB"); env && *env) tried.push_back(env);
  else tried = {"libnccl.so.2", "libnccl.so"};
  std::string why;
  for (const std::string& name : tried) {
    void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      why += (why.empty() ? "" : "; ") + name + ": " + dlerror();
      continue;
    }
    std::string missing;
    dl_bind(lib, "ncclGetVersion", n.GetVersion, missing);
    dl_bind(lib, "ncclGetUniqueId", n.GetUniqueId, missing);
    dl_bind(lib, "ncclCommInitRank", n.CommInitRank, missing);
    dl_bind(lib, "ncclCommDestroy", n.CommDestroy, missing);
    dl_bind(lib, "ncclCommAbort", n.CommAbort, missing);
    dl_bind(lib, "ncclCommGetAsyncError", n.CommGetAsyncError, missing);
    dl_bind(lib, "ncclGetErrorString", n.GetErrorString, missing);
    dl_bind(lib, "ncclGroupStart", n.GroupStart, missing);
    dl_bind(lib, "ncclGroupEnd", n.GroupEnd, missing);
    dl_bind(lib, "ncclAllReduce", n.AllReduce, missing);
    dl_bind(lib, "ncclBroadcast", n.Broadcast, missing);
    if (!missing.empty()) {
      // The first missing function is enough to say a library is not NCCL.
      why += (why.empty() ? "" : "; ") + name + " lacks " + missing.substr(0, missing.find(',')) + " (not NCCL?)";
      dlclose(lib);
      continue;
    }
    int code = 0;
    n.GetVersion(&code);
    // NCCL_VERSION(X,Y,Z): X*1000+Y*100+Z up to 2.8, X*10000+Y*100+Z after.
    const int major = code >= 10000 ? code / 10000 : code / 1000;
    const int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
    n.version = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
    n.version_code = code;
    if (code < 21000) {
      why += (why.empty() ? "" : "; ") + name + " is NCCL " + n.version + ": 2.10 or newer is needed (ncclAvg)";
      dlclose(lib);
      continue;
    }
    n.loaded = true;
    n.path = name;
    return n;
  }
  n.reason = "no usable NCCL library (" + why + "); set ADVPROP_NCCL_LIB to libnccl.so's path";
  return n;
}

}  // namespace

const Nccl& nccl_library() {
  static const Nccl n = load();
  return n;
}

}  // namespace advprop::dist
