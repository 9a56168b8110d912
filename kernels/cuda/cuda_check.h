#pragma once
// Error checks for the CUDA runtime, cuBLASLt and cuDNN: a failed call throws tessera::Error naming the call, the
// library's own error text and the source line, like every other error in the library.
#include <cuda_runtime.h>

#include "kernels/common/check.h"

#define TESSERA_CUDA_CHECK(expr)                                                                       \
  do {                                                                                                 \
    const cudaError_t tessera_cuda_status = (expr);                                                    \
    if (__builtin_expect(tessera_cuda_status != cudaSuccess, 0)) {                                     \
      cudaGetLastError(); /* clear a sticky-free error so the next call does not report it again */    \
      TESSERA_THROW(#expr, " failed: ", cudaGetErrorName(tessera_cuda_status), " (",                   \
                    cudaGetErrorString(tessera_cuda_status), ")");                                     \
    }                                                                                                  \
  } while (0)

// After a kernel launch: a bad configuration (too many threads, too much shared memory) shows up here.
#define TESSERA_CUDA_CHECK_LAUNCH(kernel_name) TESSERA_CUDA_CHECK(cudaGetLastError())

// For cudaEventQuery and cudaStreamQuery: true while the work is pending. A pending query also leaves
// cudaErrorNotReady as the calling thread's last error, which the next TESSERA_CUDA_CHECK_LAUNCH would report as a
// failed launch; it is cleared here (PyTorch's caching allocator does the same, pytorch#18584).
// For calls whose failure changes nothing for the caller (freeing, a sync before freeing): a failure would otherwise
// linger as the thread's last error and be reported by the next TESSERA_CUDA_CHECK_LAUNCH, blaming another kernel.
inline void discard_cuda_error(cudaError_t status) {
  if (status != cudaSuccess) (void)cudaGetLastError();
}

inline bool cuda_still_pending(cudaError_t status) {
  if (status != cudaErrorNotReady) return false;
  (void)cudaGetLastError();
  return true;
}
