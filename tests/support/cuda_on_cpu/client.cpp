// The test programs' side of the CPU build of the CUDA backend: its factory, when this build has the library.
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"

#include "core/check.h"

#if TESSERA_CUDA_ON_CPU
extern "C" tessera::kernels::Backend* tessera_cuda_on_cpu_backend(tessera::kernels::Backend* library_delegate);
extern "C" tessera::testing::DeviceWorkCounts tessera_cuda_on_cpu_work_counts();
extern "C" void tessera_cuda_on_cpu_kernel_launches(void (*each)(const char*, uint64_t, void*), void* user);
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

DeviceWorkCounts cuda_on_cpu_work_counts() {
#if TESSERA_CUDA_ON_CPU
  return tessera_cuda_on_cpu_work_counts();
#else
  no_library();
#endif
}

std::map<std::string, uint64_t> cuda_on_cpu_kernel_launches() {
#if TESSERA_CUDA_ON_CPU
  std::map<std::string, uint64_t> launches;
  tessera_cuda_on_cpu_kernel_launches(
      [](const char* name, uint64_t n, void* map) { (*static_cast<std::map<std::string, uint64_t>*>(map))[name] = n; },
      &launches);
  return launches;
#else
  no_library();
#endif
}

DeviceWorkCounts DeviceWorkCounts::operator-(const DeviceWorkCounts& earlier) const {
  DeviceWorkCounts difference;
#define TESSERA_SUBTRACT_COUNT(name) difference.name = name - earlier.name;
  TESSERA_DEVICE_WORK_COUNTS(TESSERA_SUBTRACT_COUNT)
#undef TESSERA_SUBTRACT_COUNT
  return difference;
}

}  // namespace tessera::testing
