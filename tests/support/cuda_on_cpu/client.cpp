// The test programs' side of the CPU build of the CUDA backend: its factory, when this build has the library.
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"

#include "core/check.h"

#if TESSERA_CUDA_ON_CPU
extern "C" tessera::kernels::Backend* tessera_cuda_on_cpu_backend(tessera::kernels::Backend* library_delegate);
extern "C" uint64_t tessera_cuda_on_cpu_host_waits();
#endif

namespace tessera::testing {

namespace {
[[maybe_unused]] [[noreturn]] void no_library() {
  TESSERA_THROW("cuda_on_cpu: this build has no CPU build of the CUDA backend (it needs a CUDA build's headers)");
}
}  // namespace

kernels::Backend& cuda_on_cpu_backend(kernels::Backend& library_delegate) {
#if TESSERA_CUDA_ON_CPU
  static kernels::Backend* backend = tessera_cuda_on_cpu_backend(&library_delegate);
  return *backend;
#else
  (void)library_delegate;
  no_library();
#endif
}

uint64_t cuda_on_cpu_host_waits() {
#if TESSERA_CUDA_ON_CPU
  return tessera_cuda_on_cpu_host_waits();
#else
  no_library();
#endif
}

}  // namespace tessera::testing
