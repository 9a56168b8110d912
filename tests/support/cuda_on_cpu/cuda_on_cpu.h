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
// How many times its runtime has blocked the host on queued work so far (stream, event and device waits, copies
// into pageable memory), in every thread; throws when this build does not have it.
uint64_t cuda_on_cpu_host_waits();

}  // namespace tessera::testing
