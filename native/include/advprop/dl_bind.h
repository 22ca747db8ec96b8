// Binding a function of a library loaded with dlopen (MPI, NCCL, libjpeg: loaded at run time, never
// linked, so the one prebuilt binary loads everywhere).
#pragma once
#include <dlfcn.h>

#include <string>

namespace advprop {

// f = the symbol `name` of `lib`; a missing one is appended to `missing` (", "-separated).
template <typename F>
bool dl_bind(void* lib, const char* name, F& f, std::string& missing) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  if (!f) missing += std::string(missing.empty() ? "" : ", ") + name;
  return f != nullptr;
}

}  // namespace advprop
