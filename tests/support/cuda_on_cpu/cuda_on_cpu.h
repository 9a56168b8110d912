#pragma once
// The CUDA backend's own kernels and host logic, compiled for the CPU (README.md beside this file): the backend of
// the test device when TESSERA_TEST_DEVICE=cuda_on_cpu (tests/support/test_device.h).
#include <cstdint>

#include "kernels/backend.h"

namespace tessera::testing {

// The CUDA backend of a GPU that is the CPU: kernels/cuda's kernels run as CPU code, its runtime calls act on host
// memory, and the library entries (cuBLASLt GEMM, cuDNN convolution) run on `library_delegate`. Made once; throws
// when this build does not have it.
kernels::Backend& cuda_on_cpu_backend(kernels::Backend& library_delegate);
// How many host waits (on a stream, an event or the device, or a copy into pageable memory) have found queued work
// so far, in every thread: each would stall a GPU's pipeline. Throws when this build does not have it.
uint64_t cuda_on_cpu_host_waits();

}  // namespace tessera::testing
