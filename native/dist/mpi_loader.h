// MPI loaded with dlopen (never linked), so the addon and libadvprop.so run without MPI and a
// process started alone never touches it. Our own declarations of the few functions a training
// step needs: the handle types differ between implementations (OpenMPI's MPI_Comm, MPI_Datatype
// and MPI_Op are pointers to its ompi_mpi_* globals, MPICH's are 32-bit integer constants), so
// every handle here is a uintptr_t holding either; on x86-64 and aarch64 an int argument and a
// pointer argument travel in the same register, and MPICH's functions read its low 32 bits.
#pragma once
#include <cstdint>
#include <string>

namespace advprop::dist {

using Handle = uintptr_t;

struct Mpi {
  bool loaded = false;
  std::string path, flavor, version, reason;
  // Handles of this implementation.
  Handle comm_world = 0, t_float = 0, t_double = 0, t_byte = 0, op_sum = 0, info_null = 0;
  int comm_type_shared = 0;
  // Functions (C ABI); null when the library lacks them (only the optional ones may be).
  int (*Initialized)(int*) = nullptr;
  int (*Finalized)(int*) = nullptr;
  int (*Init_thread)(int*, char***, int, int*) = nullptr;
  int (*Comm_rank)(Handle, int*) = nullptr;
  int (*Comm_size)(Handle, int*) = nullptr;
  int (*Comm_split_type)(Handle, int, int, Handle, Handle*) = nullptr;  // optional
  int (*Reduce_scatter_block)(const void*, void*, int, Handle, Handle, Handle) = nullptr;
  int (*Allgather)(const void*, int, Handle, void*, int, Handle, Handle) = nullptr;
  int (*Bcast)(void*, int, Handle, int, Handle) = nullptr;
  int (*Barrier)(Handle) = nullptr;
  int (*Abort)(Handle, int) = nullptr;
  int (*Finalize)() = nullptr;
  int (*Get_library_version)(char*, int*) = nullptr;  // optional (MPI-3)
};

// The library, loaded once (ADVPROP_MPI_LIB, else libmpi.so.40, libmpi.so.12, libmpi.so).
// Never throws: `loaded` false with `reason` when none can be used.
const Mpi& mpi_library();

}  // namespace advprop::dist
