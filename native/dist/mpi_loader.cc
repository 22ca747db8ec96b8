// See mpi_loader.h.
#include "mpi_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

#include "advprop/dl_bind.h"

namespace advprop::dist {
namespace {

Mpi load() {
  Mpi m;
  std::vector<std::string> tried;
  // ADVPROP_MPI_LIB, when set, is the only library tried: a wrong path is an error, not a fallback.
  if (const char* env = std::getenv("ADVPROP_MPI_LIB"); env && *env) tried.push_back(env);
  else
    for (const char* so : {"libmpi.so.40", "libmpi.so.12", "libmpi.so"}) tried.push_back(so);
  std::string errors;
  void* lib = nullptr;
  for (const std::string& name : tried) {
    // RTLD_GLOBAL: OpenMPI's own plugins (mca components) resolve symbols of libmpi.
    lib = dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (lib) {
      m.path = name;
      break;
    }
    const char* e = dlerror();
    errors += (errors.empty() ? "" : "; ") + name + ": " + (e ? e : "not found");
  }
  if (!lib) {
    m.reason = "no usable MPI library (" + errors + "); set ADVPROP_MPI_LIB to the library's path";
    return m;
  }
  std::string missing;
  dl_bind(lib, "MPI_Initialized", m.Initialized, missing);
  dl_bind(lib, "MPI_Finalized", m.Finalized, missing);
  dl_bind(lib, "MPI_Init_thread", m.Init_thread, missing);
  dl_bind(lib, "MPI_Comm_rank", m.Comm_rank, missing);
  dl_bind(lib, "MPI_Comm_size", m.Comm_size, missing);
  dl_bind(lib, "MPI_Reduce_scatter_block", m.Reduce_scatter_block, missing);
  dl_bind(lib, "MPI_Allgather", m.Allgather, missing);
  dl_bind(lib, "MPI_Bcast", m.Bcast, missing);
  dl_bind(lib, "MPI_Barrier", m.Barrier, missing);
  dl_bind(lib, "MPI_Abort", m.Abort, missing);
  dl_bind(lib, "MPI_Finalize", m.Finalize, missing);
  std::string optional;
  dl_bind(lib, "MPI_Comm_split_type", m.Comm_split_type, optional);
  dl_bind(lib, "MPI_Get_library_version", m.Get_library_version, optional);
  if (!missing.empty()) {
    m.reason = m.path + " lacks " + missing;
    return m;
  }
  if (m.Get_library_version) {
    // MPI_MAX_LIBRARY_VERSION_STRING is 256 in OpenMPI and 8192 in MPICH.
    std::vector<char> buf(8192, '\0');
    int len = 0;
    if (m.Get_library_version(buf.data(), &len) == 0) {
      std::string v(buf.data());
      m.version = v.substr(0, v.find('\n'));
    }
  }
  if (void* world = dlsym(lib, "ompi_mpi_comm_world")) {
    // OpenMPI: handles are the addresses of its predefined objects.
    m.flavor = "openmpi";
    m.comm_world = reinterpret_cast<Handle>(world);
    m.t_float = reinterpret_cast<Handle>(dlsym(lib, "ompi_mpi_float"));
    m.t_double = reinterpret_cast<Handle>(dlsym(lib, "ompi_mpi_double"));
    m.t_byte = reinterpret_cast<Handle>(dlsym(lib, "ompi_mpi_byte"));
    m.op_sum = reinterpret_cast<Handle>(dlsym(lib, "ompi_mpi_op_sum"));
    m.info_null = reinterpret_cast<Handle>(dlsym(lib, "ompi_mpi_info_null"));
    m.comm_type_shared = 0;  // OMPI_COMM_TYPE_SHARED... = MPI_COMM_TYPE_SHARED, the first of its enum
    if (!m.t_float || !m.t_double || !m.t_byte || !m.op_sum || !m.info_null) {
      m.reason = m.path + " looks like OpenMPI but lacks its predefined handles";
      return m;
    }
  } else {
    // MPICH and its derivatives (Intel MPI, MVAPICH, Cray): integer handles fixed by its mpi.h.
    // Untested here (CI has OpenMPI).
    m.flavor = "mpich";
    m.comm_world = 0x44000000;
    m.t_float = 0x4c00040a;
    m.t_double = 0x4c00080b;
    m.t_byte = 0x4c00010d;
    m.op_sum = 0x58000003;
    m.info_null = 0x1c000000;
    m.comm_type_shared = 1;
  }
  m.loaded = true;
  return m;
}

}  // namespace

const Mpi& mpi_library() {
  static const Mpi m = load();
  return m;
}

}  // namespace advprop::dist
