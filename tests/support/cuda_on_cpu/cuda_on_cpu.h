#pragma once
// The CUDA backend's own kernels and host logic, compiled for the CPU (README.md beside this file): the backend of
// the test device when TESSERA_TEST_DEVICE=cuda_on_cpu (tests/support/test_device.h).
#include <cstdint>
#include <map>
#include <string>

#include "kernels/backend.h"

namespace tessera::testing {

// The CUDA backend of a GPU that is the CPU: kernels/cuda's kernels run as CPU code, its runtime calls act on host
// memory, and the library entries (cuBLASLt GEMM, cuDNN convolution) run on `library_delegate`. Made once; throws
// when this build does not have it.
kernels::Backend& cuda_on_cpu_backend(kernels::Backend& library_delegate);
// What the backend has asked of the device so far, in every thread, counted when asked (a launch or call inside a
// stream capture counts once, as a node of the graph; a replay counts as a graph launch). Plain data: the library
// returns it by value across its C boundary.
struct DeviceWorkCounts {
  uint64_t kernels = 0;             // the backend's own kernel launches
  uint64_t library_calls = 0;       // cuBLASLt matmuls and cuDNN convolution calls (a backward: one per gradient)
  uint64_t copies = 0;              // cudaMemcpy(Async), in any direction
  uint64_t memsets = 0;             // cudaMemset(Async)
  uint64_t device_allocations = 0;  // cudaMalloc: the caching allocator going to the driver
  uint64_t graph_launches = 0;      // cudaGraphLaunch
  // Host waits (on a stream, an event or the device, or a copy into pageable memory) that found queued work: each
  // would stall a GPU's pipeline.
  uint64_t host_waits = 0;

  uint64_t launches() const { return kernels + library_calls + copies + memsets; }  // what the GPU's queue runs
  DeviceWorkCounts operator-(const DeviceWorkCounts& earlier) const;
};
// Throws when this build does not have the library.
DeviceWorkCounts cuda_on_cpu_work_counts();
// The backend's kernel launches so far, by kernel name as the launch writes it (template arguments included).
std::map<std::string, uint64_t> cuda_on_cpu_kernel_launches();
inline uint64_t cuda_on_cpu_host_waits() { return cuda_on_cpu_work_counts().host_waits; }

}  // namespace tessera::testing
