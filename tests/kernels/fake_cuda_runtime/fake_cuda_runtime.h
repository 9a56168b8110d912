#pragma once
// A stand-in for the few CUDA runtime calls the CUDA backend's caches make (cudaMalloc/cudaFree, cudaHostAlloc/
// cudaFreeHost, events, cudaDeviceSynchronize, cudaMemGetInfo, errors), defined over host memory, so the caches'
// bookkeeping (kernels/cuda/caching_allocator.h, pinned_host_cache.h) runs in CI without a GPU. Linked into its own
// test executable instead of libcudart.
//
// What it models: a device of a set size (cudaMalloc fails past it, with cudaErrorMemoryAllocation as the last
// error); streams whose queued work passes only when the test says so (complete) or the device synchronises, so an
// event recorded on a stream stays pending until then (cudaEventQuery returns cudaErrorNotReady and leaves it as the
// thread's last error, as the real runtime does). It counts the calls a test asserts on.
#include <cuda_runtime.h>

#include <cstddef>

namespace tessera::testing::fake_cuda {

void reset(size_t device_bytes);  // forgets every allocation, stream and counter; the device holds device_bytes
cudaStream_t make_stream();       // a distinct stream (the default stream is nullptr)
void complete(cudaStream_t stream);  // everything queued on it so far has run

struct Counts {
  int mallocs = 0, frees = 0, host_allocs = 0, host_frees = 0, device_syncs = 0, live_events = 0;
  size_t device_bytes_in_use = 0;
};
Counts counts();

}  // namespace tessera::testing::fake_cuda
