// `tessera --version`: what this binary is and what it runs with, for bug reports and cluster logs (as
// `python -c "import torch; print(torch.__config__.show())"`). The commit is the source tree's at configure time.
#include <cstdio>

#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "io/hdf5/file.h"
#include "kernels/device_info.h"
#include "launch/cli/commands.h"
#include "launch/cli/onnx_export.h"

#ifndef TESSERA_VERSION
#define TESSERA_VERSION "unknown"
#endif
#ifndef TESSERA_GIT_COMMIT
#define TESSERA_GIT_COMMIT "unknown"
#endif

namespace tessera::cli {

int print_version() {
#ifdef __clang__
  const char* compiler = "clang";
#else
  const char* compiler = "g++";
#endif
  std::printf("tessera %s (commit %s; %s; %s %s)\n", TESSERA_VERSION, TESSERA_GIT_COMMIT,
              kernels::cuda_compiled() ? "CUDA path built" : "CPU-only build", compiler, __VERSION__);
  std::printf("CPU: %s; instruction sets: %s\n", kernels::cpu_library_versions().c_str(),
              kernels::cpu_features().c_str());
  std::printf("GPU: %s; %s\n", kernels::cuda_library_versions().c_str(), dist::nccl_version().c_str());
  std::printf("MPI: %s\n", dist::mpi_library_version().c_str());
  std::printf("HDF5: %s\n", io::h5::library_version().c_str());
  std::printf("export: %s\n", onnx_export_version().c_str());
  return 0;
}

}  // namespace tessera::cli
