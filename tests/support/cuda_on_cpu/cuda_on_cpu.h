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
// stream capture counts once, as a node of the graph; a replay counts as a graph launch). Each count, listed once
// here for the struct, the library's counters and the benchmark's report:
//   kernels             the backend's own kernel launches
//   library_calls       cuBLASLt matmuls and cuDNN convolution calls (a backward: one per gradient)
//   copies              cudaMemcpy(Async), in any direction
//   memsets             cudaMemset(Async)
//   device_allocations  cudaMalloc: the caching allocator going to the driver
//   graph_launches      cudaGraphLaunch
//   events_created      cudaEventCreate(WithFlags): a driver call on the host, which a warm step should not need
//   host_waits          host waits (on a stream, an event or the device, or a copy into pageable memory) that found
//                       queued work: each would stall a GPU's pipeline
//   pageable_uploads    cudaMemcpyAsync from pageable host memory into device memory: the runtime "might" make the
//                       host wait for the stream while it stages the bytes, so a warm step should make none
#define TESSERA_DEVICE_WORK_COUNTS(X) \
  X(kernels) X(library_calls) X(copies) X(memsets) X(device_allocations) X(graph_launches) \
    X(events_created) X(host_waits) X(pageable_uploads)

// Plain data: the library returns it by value across its C boundary.
struct DeviceWorkCounts {
#define TESSERA_DEVICE_WORK_COUNT(name) uint64_t name = 0;
  TESSERA_DEVICE_WORK_COUNTS(TESSERA_DEVICE_WORK_COUNT)
#undef TESSERA_DEVICE_WORK_COUNT

  uint64_t launches() const { return kernels + library_calls + copies + memsets; }  // what the GPU's queue runs
  DeviceWorkCounts operator-(const DeviceWorkCounts& earlier) const;
};
// Throws when this build does not have the library.
DeviceWorkCounts cuda_on_cpu_work_counts();
// The backend's kernel launches so far, by kernel name as the launch writes it (template arguments included).
std::map<std::string, uint64_t> cuda_on_cpu_kernel_launches();
inline uint64_t cuda_on_cpu_host_waits() { return cuda_on_cpu_work_counts().host_waits; }

}  // namespace tessera::testing
