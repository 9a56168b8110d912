#pragma once
// What the CPU build of the CUDA backend adds to the runtime calls it makes (runtime.cpp).
#include <cuda_runtime.h>

#include <functional>

namespace tessera::cuda_on_cpu {

// Queues host work on a stream as a kernel would be: run when something needs it, or recorded while the stream is
// captured (so a replayed graph runs it again). For the entries the CPU build hands to the CPU backend
// (library_entries.cpp); `calls` is how many library calls the GPU makes for it (DeviceWorkCounts::library_calls).
void enqueue_library_calls(cudaStream_t stream, int calls, std::function<void()> work);

}  // namespace tessera::cuda_on_cpu
