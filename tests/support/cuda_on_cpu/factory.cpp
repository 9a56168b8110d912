// The factory of the CPU build of the CUDA backend, one of the few symbols it exports (exports.map).
#include "kernels/cuda/cuda_backend.h"
#include "kernels/device_info.h"

namespace tessera::kernels {

Backend*& cuda_on_cpu_library_delegate();  // library_entries.cpp

// cuda_backend.cpp's registry asks it; this build's device is the one the runtime (runtime.cpp) pretends to be.
int cuda_device_count() { return 1; }

}  // namespace tessera::kernels

extern "C" __attribute__((visibility("default"))) tessera::kernels::Backend* tessera_cuda_on_cpu_backend(
    tessera::kernels::Backend* library_delegate) {
  tessera::kernels::cuda_on_cpu_library_delegate() = library_delegate;
  return &tessera::kernels::cuda_backend(0);
}
