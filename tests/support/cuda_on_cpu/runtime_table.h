#pragma once
// The runtime calls of the CPU build of the CUDA backend, as a table of function pointers that the library exports
// (tessera_cuda_on_cpu_runtime, exports.map): for host code outside the library that must act on the same streams,
// events and memory as its CudaBackend, such as the nccl backend built over it (tests/support/nccl_on_cpu). Every
// other runtime symbol stays local to the library, so the real libcudart the test programs link is never replaced.
#include <cuda_runtime.h>

#include <functional>

// X(name) for each call in the table that cuda_runtime.h does not overload; each member has the runtime's own
// signature. cudaMalloc and cudaEventCreate, which it overloads with templates, follow them.
#define TESSERA_CUDA_ON_CPU_RUNTIME_CALLS(X)                                                                \
  X(cudaGetLastError) X(cudaGetErrorName) X(cudaGetErrorString) X(cudaSetDevice) X(cudaFree)                \
  X(cudaMemsetAsync) X(cudaPointerGetAttributes) X(cudaStreamCreateWithFlags) X(cudaStreamDestroy)          \
  X(cudaStreamQuery) X(cudaStreamSynchronize) X(cudaStreamWaitEvent) X(cudaEventCreateWithFlags)           \
  X(cudaEventDestroy) X(cudaEventRecord) X(cudaEventQuery)

namespace tessera::cuda_on_cpu {

struct RuntimeTable {
#define TESSERA_CUDA_ON_CPU_MEMBER(name) decltype(&::name) name;
  TESSERA_CUDA_ON_CPU_RUNTIME_CALLS(TESSERA_CUDA_ON_CPU_MEMBER)
#undef TESSERA_CUDA_ON_CPU_MEMBER
  cudaError_t (*cudaMalloc)(void** ptr, size_t size);
  cudaError_t (*cudaEventCreate)(cudaEvent_t* event);
  // kernels::cuda::current_stream of the library's CudaBackend: the calling thread's current (compute) stream.
  cudaStream_t (*current_stream)(int device);
  // Lasting work on a stream (stream_queue.h): `start` runs when the stream reaches it, and the stream's later work
  // waits until `finished` returns true. How the nccl backend over this runtime queues its collectives.
  cudaError_t (*enqueue_lasting)(cudaStream_t stream, std::function<void()> start, std::function<bool()> finished);
};

}  // namespace tessera::cuda_on_cpu

extern "C" const tessera::cuda_on_cpu::RuntimeTable* tessera_cuda_on_cpu_runtime();
