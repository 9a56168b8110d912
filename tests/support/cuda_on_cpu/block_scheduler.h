#pragma once
// The grid runner behind cuda_on_cpu's kernel launches (block_scheduler.cpp); device_builtins.h declares what
// kernels call while it runs them (place, syncthreads, shuffle, dynamic_shared_bytes).
#include "tests/support/cuda_on_cpu/device_builtins.h"

namespace tessera::cuda_on_cpu {

// Runs body once per thread of grid x block on the calling thread, with shared_bytes of dynamic shared memory.
// Rethrows the first exception a thread threw; throws std::logic_error for a kernel that would hang on a GPU.
void run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body);

}  // namespace tessera::cuda_on_cpu
